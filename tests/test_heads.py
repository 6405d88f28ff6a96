"""Output conventions and builder-argument validation (issue 2, items 4 and 6)."""

import numpy as np
import pytest

import kerascnn
from kerascnn.heads import head_spec, make_optimizer

pytestmark = pytest.mark.every_runtime


def last_layer(model):
    return model.get_layer("predictions")


def fit_one_batch(model, labels):
    """One step of ``fit`` with the compiled loss and metrics, run eagerly: what is checked is the
    head's compilation; tracing a training step (seconds, for one batch) is the training tests' part."""
    images = np.random.default_rng(0).normal(size=(len(labels), 32, 32, 1)).astype("float32")
    model.run_eagerly = True
    history = model.fit(images, labels, epochs=1, batch_size=len(labels), verbose=0)
    return history.history


@pytest.mark.parametrize(
    "kwargs, activation, units, loss, metric",
    [
        ({}, "softmax", 10, "SparseCategoricalCrossentropy", "accuracy"),
        ({"num_classes": 1}, "sigmoid", 1, "BinaryCrossentropy", "accuracy"),
        ({"label_mode": "categorical"}, "softmax", 10, "CategoricalCrossentropy", "accuracy"),
        ({"task": "regression"}, "linear", 1, "MeanSquaredError", "mae"),
        ({"num_classes": 5, "classifier_activation": None}, "linear", 5, "SparseCategoricalCrossentropy",
         "accuracy"),
    ],
)
def test_heads_pick_activation_loss_and_metrics(kwargs, activation, units, loss, metric):
    model = kerascnn.lenet5(**kwargs)
    assert last_layer(model).get_config()["activation"] == activation
    assert last_layer(model).units == units
    assert type(model.loss).__name__ == loss
    if kwargs.get("classifier_activation", "auto") is None:
        assert model.loss.get_config()["from_logits"] is True
    n = 4
    if kwargs.get("label_mode") == "categorical":
        labels = np.eye(10, dtype="float32")[[0, 1, 2, 3]]
    elif kwargs.get("task") == "regression":
        labels = np.linspace(0, 1, n).astype("float32")
    else:
        labels = np.arange(n) % units
    history = fit_one_batch(model, labels)
    assert np.isfinite(history["loss"][0])
    assert metric in history


def test_compile_options_are_honoured():
    model = kerascnn.lenet5(optimizer="sgd", learning_rate=0.05)
    assert type(model.optimizer).__name__ == "SGD"
    assert float(np.asarray(model.optimizer.learning_rate)) == pytest.approx(0.05)
    assert getattr(kerascnn.lenet5(compile=False), "optimizer", None) is None


def test_features_only_models_have_no_head():
    features = kerascnn.lenet5(include_top=False)
    assert tuple(features.output.shape) == (None, 1, 1, 120)
    pooled = kerascnn.lenet5(num_classes=0, pooling="avg")
    assert tuple(pooled.output.shape) == (None, 120)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"input_shape": (28, 28, 1)}, "minimum is 32x32"),
        ({"input_shape": (32, 32)}, "input_shape"),
        ({"input_shape": (32, 0, 1)}, "width must be a positive integer"),
        ({"num_classes": -3}, "num_classes must be an integer >= 0, got -3"),
        ({"num_classes": 2.5}, "num_classes must be an integer"),
        ({"pooling": "mean"}, "pooling='mean' is not accepted; use one of None, 'avg', 'max'"),
        ({"classifier_activation": "softmaxx"}, "classifier_activation='softmaxx'"),
        ({"task": "segmentation"}, "task='segmentation' is not accepted"),
        ({"label_mode": "onehot"}, "label_mode='onehot'"),
        ({"dropout": 1.5}, "dropout must be in"),
        ({"optimizer": "adamm"}, "optimizer='adamm'"),
        ({"learning_rate": -1}, "learning_rate must be a positive number"),
        ({"weights": "imagenet"}, "weights='imagenet' is not available for lenet5"),
        ({"weights": "/nonexistent/file.weights.h5"}, "no such file"),
        ({"dropuot": 0.1}, "unexpected keyword argument(s) dropuot (did you mean dropout?)"),
        ({"num_class": 10}, "num_class (did you mean num_classes?)"),
        ({"classes": 10}, "classes (keras.applications' name; here num_classes)"),
        ({"pretrained": True}, "pretrained (timm's name; here weights='imagenet')"),
    ],
)
def test_bad_builder_arguments_name_argument_value_and_accepted(kwargs, fragment):
    with pytest.raises((ValueError, TypeError)) as error:
        kerascnn.lenet5(**kwargs)
    assert fragment in str(error.value)


def test_head_spec_refuses_categorical_binary():
    with pytest.raises(ValueError, match="label_mode='categorical' needs num_classes >= 2"):
        head_spec(1, label_mode="categorical")


def test_make_optimizer_instance_and_learning_rate_conflict():
    from kerascnn.runtime import keras

    with pytest.raises(ValueError, match="learning_rate can only be combined"):
        make_optimizer(keras.optimizers.SGD(), 0.1)


@pytest.mark.parametrize("name, cls", [("adam", "Adam"), ("sgd", "SGD"), ("adamw", "AdamW")])
def test_make_optimizer_gives_the_runtimes_own_optimizer_class(name, cls):
    """What keras.optimizers.Adam() is: tf-keras turned a name with a learning rate into its legacy
    optimizer, which lr_mult (its update_step) could not scale."""
    from kerascnn.runtime import keras

    optimizer = make_optimizer(name, 0.01)
    assert type(optimizer) is getattr(keras.optimizers, cls)
    assert float(np.asarray(optimizer.learning_rate)) == pytest.approx(0.01)
