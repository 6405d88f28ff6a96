"""The runtime switch: which Keras kerascnn builds with, and the errors for the other one."""

import os

import pytest

import kerascnn
from kerascnn import runtime

pytestmark = pytest.mark.every_runtime


def test_runtime_follows_the_environment():
    legacy = os.environ.get("TF_USE_LEGACY_KERAS", "") in ("1", "true", "True")
    assert runtime.NAME == ("tf_keras" if legacy else "keras3")
    assert runtime.BACKEND == (os.environ.get("KERAS_BACKEND") or "tensorflow")
    assert runtime.describe().startswith(runtime.NAME)


def test_require_legacy_names_the_variable():
    if runtime.IS_KERAS3:
        with pytest.raises(runtime.RuntimeMismatchError) as error:
            runtime.require_legacy("DaViT backbones")
        assert "TF_USE_LEGACY_KERAS=1" in str(error.value)
        assert "before importing TensorFlow" in str(error.value)
    else:
        runtime.require_legacy("DaViT backbones")  # no error on Keras 2


def test_require_keras3_names_what_to_change():
    if runtime.IS_KERAS3 and runtime.BACKEND == "tensorflow":
        with pytest.raises(runtime.RuntimeMismatchError, match="KERAS_BACKEND=jax"):
            runtime.require_keras3("multi-process training", backend="jax")
    elif not runtime.IS_KERAS3:
        with pytest.raises(runtime.RuntimeMismatchError, match="unset TF_USE_LEGACY_KERAS"):
            runtime.require_keras3("keras.distribution")


@pytest.mark.tensorflow_only
def test_models_are_models_of_the_users_tf_keras():
    import tensorflow as tf

    model = kerascnn.lenet5(compile=False)
    assert isinstance(model, tf.keras.Model)
    # and they compose with the user's own tf.keras layers
    inputs = tf.keras.Input((32, 32, 1))
    outputs = tf.keras.layers.Dense(2)(model(inputs))
    assert tf.keras.Model(inputs, outputs).count_params() == 61_706 + 10 * 2 + 2
