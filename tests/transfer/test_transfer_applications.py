"""keras.applications and zoo backbones: counts, BatchNorm, weights, fine-tuning.

keras.applications models are built in the TensorFlow runtimes (Keras 3 and Keras 2); the
tests marked ``builders`` (zoo backbones, fine-tuning, discriminative rates) also run on JAX.
"""

import csv
import os

import numpy as np
import pytest

from kerascnn import transfer
from kerascnn.runtime import keras
from kerascnn.transfer.weights import WeightsError

# also in the Keras 2 run: fine-tuning and preprocessing have Keras 2 paths
pytestmark = pytest.mark.keras2

SHAPE = (64, 64, 3)


@pytest.fixture(scope="module")
def mobile():
    return transfer.backbone("MobileNetV3Small", input_shape=SHAPE, weights=None)


def _is_bn(layer):
    return isinstance(layer, keras.layers.BatchNormalization)


def test_binary_head_arithmetic(mobile):
    assert mobile.output_shape == (None, 2, 2, 576)   # 64 / 32 = 2; MobileNetV3-Small's last conv: 576
    assert mobile.preprocessing.mode == "none"        # MobileNetV3 rescales inside (include_preprocessing)
    model = transfer.build(mobile, num_classes=1)
    assert model.count_params() == mobile.count_params() + 576 + 1
    five = transfer.build(mobile, num_classes=5, head=(32,), dropout=0.2, compile=False)
    assert five.count_params() == mobile.count_params() + (576 * 32 + 32) + (32 * 5 + 5)
    assert five.layers[-1].activation.__name__ == "softmax"


def test_batchnorm_stays_frozen_unless_asked(mobile):
    model = transfer.build(mobile, num_classes=1, freeze="none", compile=False)
    layers = mobile.layers
    bn = [layer for layer in layers if _is_bn(layer)]
    assert bn
    # every weight of a non-BatchNorm layer trains (kernels, biases); BatchNorm: nothing
    expected = sum(len(layer.weights) for layer in layers if not _is_bn(layer)) + 2
    assert len(model.trainable_variables) == expected
    transfer.unfreeze(model, all=True, batchnorm=True)   # gamma and beta of each BatchNorm too
    assert len(model.trainable_variables) == expected + 2 * len(bn)
    transfer.freeze(model, first=len(layers) - 10)
    top = layers[-10:]
    assert len(model.trainable_variables) == sum(len(l.weights) for l in top if not _is_bn(l)) + 2
    report = transfer.trainable_report(model)
    assert report.frozen_layers == len(layers) - 10 + sum(1 for l in top if _is_bn(l))
    assert report.trainable_params + report.non_trainable_params == model.count_params()


def test_imagenet_offline_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(WeightsError) as error:
        transfer.backbone("MobileNetV3Small", input_shape=(224, 224, 3), weights="imagenet")
    assert ".h5" in str(error.value) and "weights='/path/to/" in str(error.value)


def test_local_weights_identical(mobile, tmp_path):
    path = str(tmp_path / "mobile.weights.h5")
    mobile.save_weights(path)
    copy = transfer.backbone("MobileNetV3Small", input_shape=SHAPE, weights=path)
    for a, b in zip(mobile.get_weights(), copy.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_weights_of_another_shape_raise(tmp_path):
    grey = transfer.backbone("lenet5", input_shape=(32, 32, 1), weights=None)
    path = str(tmp_path / "lenet_grey.weights.h5")
    grey.save_weights(path)
    with pytest.raises(WeightsError, match="do not fit"):
        transfer.backbone("lenet5", input_shape=(32, 32, 3), weights=path)
    with pytest.raises(WeightsError, match="no such file"):
        transfer.backbone("lenet5", input_shape=(32, 32, 1), weights=str(tmp_path / "absent.h5"))


@pytest.mark.every_runtime
def test_two_phase_fine_tune_with_both_callbacks(image_arrays, tmp_path):
    x, y = image_arrays
    # the mechanics do not depend on the backbone: a small zoo one keeps the test cheap
    base = transfer.backbone("lenet5", input_shape=SHAPE, weights=None)   # C5: (9, 9, 120) at 64x64
    model = transfer.build(base, num_classes=1, dropout=0.1)
    csv_path, best = str(tmp_path / "history.csv"), str(tmp_path / "best.keras")
    callbacks = transfer.callbacks(csv_path=csv_path, checkpoint_path=best)
    assert [type(c).__name__ for c in callbacks] == [
        "HistoryCSV", "BestModelCheckpoint", "EarlyStopping", "ReduceLROnPlateau"]
    history = transfer.fine_tune(model, (x, y), (x[::3], y[::3]), head_epochs=1, epochs=1,
                                 freeze="last:2", lr=1e-3, callbacks=callbacks, batch_size=4, verbose=0)
    assert history.epoch == [0, 1]
    assert [p["phase"] for p in history.phases] == ["head", "fine_tune"]
    assert history.phases[1]["learning_rate"] == pytest.approx(1e-4)   # lr / 10
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        assert len(history.history[key]) == 2 and all(np.isfinite(history.history[key]))
    assert history.phases[0]["trainable"].trainable_variables == 2
    assert history.phases[1]["trainable"].trainable_variables > 2
    with open(csv_path, newline="") as handle:
        assert [int(row["epoch"]) for row in csv.DictReader(handle)] == [0, 1]
    assert os.path.isfile(best)
    assert float(np.asarray(model.optimizer.learning_rate)) == pytest.approx(1e-4)
    assert len(model.trainable_variables) == 2 + 2   # c5_conv (kernel, bias) + the head


def tiny_backbone_and_head():
    inputs = keras.Input((4,))
    base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="b")], name="base")
    outputs = keras.layers.Dense(1, name="head")(base(inputs))
    return keras.Model(inputs, outputs), base


@pytest.mark.every_runtime
def test_discriminative_rates_scale_the_backbone_step():
    tiny = tiny_backbone_and_head
    x, y = np.ones((8, 4), "float32"), np.ones((8, 1), "float32")
    steps = {}
    for mult in (1.0, 0.5):
        keras.utils.set_random_seed(1)
        model, base = tiny()
        start = [w.copy() for w in model.get_weights()]
        optimizer = transfer.discriminative_optimizer(keras.optimizers.SGD(0.1), base.trainable_weights, mult)
        model.compile(optimizer=optimizer, loss="mse")
        model.train_on_batch(x, y)
        steps[mult] = [w - s for w, s in zip(model.get_weights(), start)]
    for full, half in zip(steps[1.0][:2], steps[0.5][:2]):        # the backbone: half the step
        np.testing.assert_allclose(half, 0.5 * full, rtol=1e-5, atol=1e-7)
    for full, half in zip(steps[1.0][2:], steps[0.5][2:]):        # the head: unchanged
        np.testing.assert_allclose(half, full, rtol=1e-5, atol=1e-7)


@pytest.mark.every_runtime
def test_a_model_saved_while_fine_tuning_with_lr_mult_loads(tmp_path):
    """`kerascnn predict`, `explain` and `keras.models.load_model` could not read such a run's
    model.keras: "Could not locate class 'DiscriminativeAdam'"."""
    from kerascnn.saving import load_model

    keras.utils.set_random_seed(1)
    model, base = tiny_backbone_and_head()
    x, y = np.ones((8, 4), "float32"), np.ones((8, 1), "float32")
    model.compile(optimizer=transfer.discriminative_optimizer(keras.optimizers.Adam(0.01), base.trainable_weights,
                                                              0.5), loss="mse")
    model.train_on_batch(x, y)
    model.save(tmp_path / "model.keras")
    loaded = load_model(tmp_path / "model.keras")
    assert type(loaded.optimizer).__name__ == "DiscriminativeAdam"
    assert loaded.optimizer.lr_mult == 1.0   # which variables were the backbone's is not saved: none scaled
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
