"""kerascnn.deploy.use_fused_batchnorm: the same BatchNorm, through TensorFlow's fused kernel.

The reference is Keras' own ``BatchNormalization.call`` on a twin layer with the same
weights: outputs, gradients and the updated moving statistics must agree. In float32 (forced
through ``dtypes``, which the library does not use by default) they agree to float32 rounding
(1e-5 of the values' scale); in bfloat16, to the bfloat16 rounding of the outputs (2**-7).
"""

import json
import os

import numpy as np
import pytest

import kerascnn
from kerascnn import saving
from kerascnn.deploy import use_fused_batchnorm
from kerascnn.runtime import BACKEND, IS_KERAS3, keras
from kerascnn.train import train

pytestmark = pytest.mark.every_runtime  # every runtime: elsewhere it must switch nothing


def tensorflow_keras3(test):
    """The fused kernel is TensorFlow's, used for Keras 3 (Keras 2 fuses by itself; JAX has none)."""
    return pytest.mark.keras3_only(pytest.mark.tensorflow_only(test))


def _twins(dtype, **options):
    """Two one-layer models with the same BatchNorm weights (moving statistics not 0/1)."""
    rng = np.random.default_rng(0)
    models = []
    for _ in range(2):
        inputs = keras.Input((5, 6, 8))
        models.append(keras.Model(inputs, keras.layers.BatchNormalization(momentum=0.5, dtype=dtype,
                                                                          **options)(inputs)))
    weights = [w + rng.uniform(0.2, 1.0, w.shape).astype("float32") for w in models[0].get_weights()]
    for model in models:
        model.set_weights(weights)
    return models


def _gradients(model, x):
    import tensorflow as tf  # noqa: PLC0415

    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        weights = np.random.default_rng(5).normal(size=x.shape).astype("float32")  # not constant per channel:
        loss = tf.reduce_sum(tf.cast(model(x, training=True), "float32") * weights)  # else d loss/dx is 0
    return [np.asarray(g) for g in tape.gradient(loss, [x, *model.trainable_weights])]


@tensorflow_keras3
@pytest.mark.parametrize("options", [{}, {"center": False}, {"scale": False}], ids=["affine", "no-center", "no-scale"])
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_float32_fused_equals_keras(options, training):
    keras_model, fused_model = _twins("float32", **options)
    assert use_fused_batchnorm(fused_model, dtypes=("float32",)) == 1
    x = np.random.default_rng(1).normal(2.0, 3.0, (4, 5, 6, 8)).astype("float32")
    expected, actual = keras_model(x, training=training), fused_model(x, training=training)
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-5, atol=1e-5)
    assert np.abs(np.asarray(expected)).max() > 0.5
    # the moving statistics: updated the same way in training (biased variance), untouched otherwise
    for before, a, b in zip(_twins("float32", **options)[0].get_weights(), keras_model.get_weights(),
                            fused_model.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    changed = [not np.allclose(w0, w1) for w0, w1 in zip(_twins("float32", **options)[0].get_weights(),
                                                         fused_model.get_weights())]
    assert any(changed) == training


@tensorflow_keras3
def test_float32_fused_gradients_equal_keras():
    keras_model, fused_model = _twins("float32")
    use_fused_batchnorm(fused_model, dtypes=("float32",))
    x = np.random.default_rng(2).normal(0.0, 2.0, (4, 5, 6, 8)).astype("float32")
    for expected, actual in zip(_gradients(keras_model, x), _gradients(fused_model, x)):
        assert np.abs(expected).max() > 1e-2  # input, gamma and beta gradients, none degenerate
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_bfloat16_fused_agrees_with_keras_to_bfloat16_rounding():
    keras_model, fused_model = _twins("mixed_bfloat16")
    switched = use_fused_batchnorm(fused_model)
    assert switched == (1 if IS_KERAS3 and BACKEND == "tensorflow" else 0)
    x = np.random.default_rng(3).normal(1.0, 2.0, (4, 5, 6, 8)).astype("float32")
    for training in (True, False):
        expected = np.asarray(keras_model(x, training=training), dtype="float32")
        actual = np.asarray(fused_model(x, training=training), dtype="float32")
        assert "bfloat16" in str(fused_model.output.dtype)
        np.testing.assert_allclose(actual, expected, rtol=2**-7, atol=2**-7 * np.abs(expected).max())
    for a, b in zip(keras_model.get_weights(), fused_model.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-3)


def test_only_bfloat16_batchnorm_layers_are_switched():
    float32_model = kerascnn.resnet18(input_shape=(32, 32, 3), num_classes=10, compile=False)
    assert use_fused_batchnorm(float32_model) == 0  # float32: measured slower fused (module docstring)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = kerascnn.resnet18(input_shape=(32, 32, 3), num_classes=10, compile=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    batchnorms = sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    assert batchnorms == 20  # ResNet-18: stem, 16 in the blocks, 3 projection shortcuts
    expected = batchnorms if IS_KERAS3 and BACKEND == "tensorflow" else 0
    assert use_fused_batchnorm(model) == expected
    assert use_fused_batchnorm(model) == expected  # twice: harmless


@tensorflow_keras3
def test_a_frozen_layer_keeps_its_moving_statistics_in_training():
    keras_model, fused_model = _twins("mixed_bfloat16")
    use_fused_batchnorm(fused_model)
    for model in (keras_model, fused_model):
        model.trainable = False
    x = np.random.default_rng(4).normal(1.0, 2.0, (4, 5, 6, 8)).astype("float32")
    before = fused_model.get_weights()
    expected = np.asarray(keras_model(x, training=True), dtype="float32")
    actual = np.asarray(fused_model(x, training=True), dtype="float32")
    np.testing.assert_allclose(actual, expected, rtol=2**-7, atol=2**-7 * np.abs(expected).max())
    for a, b in zip(before, fused_model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.full  # trains a ResNet-18 (seconds, more on JAX)
def test_train_in_bfloat16_records_the_fused_layers_and_saves_plain_keras(tmp_path):
    result = train("resnet18", "digits", out=tmp_path / "run", epochs=1, batch_size=32, limit=64,
                                  image_size=32, mixed_precision="bfloat16", verbose=0, log=None)
    with open(os.path.join(result.path, "config.json")) as handle:
        scaling = json.load(handle)["scaling"]
    assert scaling["fused_batchnorm"] == (20 if IS_KERAS3 and BACKEND == "tensorflow" else 0)
    assert np.isfinite(result.metrics["test_loss"])
    loaded = saving.load_model(os.path.join(result.path, "model.keras"), compile=False)
    assert {type(layer).__name__ for layer in loaded.layers} >= {"BatchNormalization", "Conv2D"}


@tensorflow_keras3
def test_other_ranks_and_axes_take_keras_own_path():
    """The fused kernel is NHWC and 4-D: a BatchNorm after a Dense layer, or over axis 1, keeps Keras' result."""
    x2 = np.random.default_rng(6).normal(1.0, 2.0, (8, 6)).astype("float32")
    x4 = np.random.default_rng(7).normal(1.0, 2.0, (4, 8, 5, 6)).astype("float32")
    for x, axis in ((x2, -1), (x4, 1)):
        models = []
        for _ in range(2):
            inputs = keras.Input(x.shape[1:])
            layer = keras.layers.BatchNormalization(axis=axis, dtype="mixed_bfloat16")
            models.append(keras.Model(inputs, layer(inputs)))
        models[1].set_weights(models[0].get_weights())
        assert use_fused_batchnorm(models[1]) == 1
        for training in (True, False):
            np.testing.assert_array_equal(np.asarray(models[1](x, training=training), dtype="float32"),
                                          np.asarray(models[0](x, training=training), dtype="float32"))


@tensorflow_keras3
def test_the_traced_training_step_runs_the_fused_kernel():
    """Not only the same numbers: the graph holds FusedBatchNormV3 (and its gradient), so the
    switch really happened (tests/test_keras_internals.py checks the mechanism, replace_call)."""
    import tensorflow as tf  # noqa: PLC0415

    keras_model, fused_model = _twins("mixed_bfloat16")
    use_fused_batchnorm(fused_model)
    x = tf.constant(np.ones((4, 5, 6, 8), "float32"))

    def operations(model):
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(tf.cast(model(x, training=True), "float32"))
            return tape.gradient(loss, x)
        return {op.type for op in tf.function(step).get_concrete_function(x).graph.get_operations()}

    assert {"FusedBatchNormV3", "FusedBatchNormGradV3"} <= operations(fused_model)
    assert "FusedBatchNormV3" not in operations(keras_model)
