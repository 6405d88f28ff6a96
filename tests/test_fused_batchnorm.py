"""FusedBatchNormalization is Keras's BatchNormalization, computed by TensorFlow's fused kernel.

References: the batch-norm formula in NumPy (Ioffe & Szegedy 2015, Algorithm 1, with Keras's
moving-average update and biased batch variance) and the stock ``keras.layers.BatchNormalization``
fed the same weights. Runs in Keras 3 on TensorFlow (the fused path) and on JAX (the fallback).
"""

import numpy as np
import pytest

from kerascnn.layers import FusedBatchNormalization, batch_normalization
from kerascnn.runtime import keras

pytestmark = [pytest.mark.builders, pytest.mark.keras3_only]

EPSILON = 1.001e-5
MOMENTUM = 0.9


def _pair(channels=3, **kwargs):
    fused = FusedBatchNormalization(momentum=MOMENTUM, epsilon=EPSILON, **kwargs)
    plain = keras.layers.BatchNormalization(momentum=MOMENTUM, epsilon=EPSILON, **kwargs)
    rng = np.random.default_rng(1)
    for layer in (fused, plain):
        layer.build((None, 5, 4, channels))
    weights = [rng.normal(size=w.shape).astype("float32") for w in plain.weights]
    weights[-1] = np.abs(weights[-1]) + 0.5  # moving variance > 0
    for layer in (fused, plain):
        layer.set_weights(weights)
    return fused, plain, weights


def _images(seed=0, shape=(6, 5, 4, 3)):
    return np.random.default_rng(seed).normal(2.0, 3.0, size=shape).astype("float32")


def test_training_step_matches_the_formula_and_updates_moving_statistics():
    fused, _, (gamma, beta, mean, variance) = _pair()
    x = _images()
    y = np.asarray(fused(x, training=True))
    batch_mean = x.mean(axis=(0, 1, 2))
    batch_variance = x.var(axis=(0, 1, 2))  # biased, as Keras keeps it
    expected = gamma * (x - batch_mean) / np.sqrt(batch_variance + EPSILON) + beta
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(fused.moving_mean.numpy(), MOMENTUM * mean + (1 - MOMENTUM) * batch_mean,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fused.moving_variance.numpy(),
                               MOMENTUM * variance + (1 - MOMENTUM) * batch_variance, rtol=1e-5, atol=1e-5)


def test_inference_uses_the_moving_statistics():
    fused, _, (gamma, beta, mean, variance) = _pair()
    x = _images()
    expected = gamma * (x - mean) / np.sqrt(variance + EPSILON) + beta
    np.testing.assert_allclose(np.asarray(fused(x, training=False)), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("options", [{}, {"center": False}, {"scale": False}, {"center": False, "scale": False}])
def test_same_outputs_gradients_and_statistics_as_the_keras_layer(options):
    fused, plain, _ = _pair(**options)
    x = _images()
    for training in (True, False):
        np.testing.assert_allclose(np.asarray(fused(x, training=training)),
                                   np.asarray(plain(x, training=training)), rtol=1e-4, atol=1e-4)
    for a, b in zip(fused.weights, plain.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.name)


@pytest.mark.tensorflow_only
def test_gradients_match_the_keras_layer():
    import tensorflow as tf

    fused, plain, _ = _pair()
    x = tf.constant(_images())
    upstream = tf.constant(_images(seed=3))
    gradients = []
    for layer in (fused, plain):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * upstream)
        gradients.append(tape.gradient(loss, [x, *layer.trainable_weights]))
    for a, b in zip(*gradients):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-3, atol=1e-3)


def test_frozen_layer_normalises_with_moving_statistics_even_when_training():
    fused, plain, _ = _pair()
    fused.trainable = plain.trainable = False
    x = _images()
    before = fused.moving_mean.numpy().copy()
    np.testing.assert_allclose(np.asarray(fused(x, training=True)), np.asarray(plain(x, training=True)),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(fused.moving_mean.numpy(), before)


def test_non_image_inputs_fall_back_to_the_keras_computation():
    layer = FusedBatchNormalization()
    x = np.random.default_rng(0).normal(size=(8, 5)).astype("float32")
    np.testing.assert_allclose(np.asarray(layer(x, training=True)),
                               (x - x.mean(0)) / np.sqrt(x.var(0) + layer.epsilon), rtol=1e-4, atol=1e-4)


def test_config_round_trip_and_saved_model_reloads(tmp_path):
    inputs = keras.Input((5, 4, 3))
    model = keras.Model(inputs, batch_normalization(epsilon=EPSILON, name="bn")(inputs))
    assert type(model.get_layer("bn")).__name__ == "FusedBatchNormalization"
    model.get_layer("bn").moving_mean.assign(np.arange(3, dtype="float32"))
    path = str(tmp_path / "bn.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.get_layer("bn")).__name__ == "FusedBatchNormalization"
    assert loaded.get_layer("bn").get_config()["epsilon"] == EPSILON
    x = _images()
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x), rtol=1e-6)
