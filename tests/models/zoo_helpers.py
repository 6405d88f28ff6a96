"""Helpers for the model-zoo tests (AlexNet, VGG, tutorial CNNs): cheap big builds, random weights.

Building a 138M-parameter VGG draws 138M random numbers, which costs tens of seconds on
the JAX CPU backend. Parameter counts, layer names and shapes do not depend on the
initial values, so :func:`zero_init` makes Glorot/He initializers return zeros while the
big models are built; tests that compare outputs fill the weights with :func:`fill_random`.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from kerascnn.models import base
from kerascnn.runtime import keras


def _zeros(self, shape, dtype=None, **kwargs):
    return keras.initializers.Zeros()(shape, dtype=dtype)


@contextlib.contextmanager
def zero_init():
    """Inside: every VarianceScaling initializer (glorot_uniform, he_normal...) gives zeros."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras.initializers.VarianceScaling, "__call__", _zeros)
        yield


def fill_random(model, seed=0):
    """Set every weight to distinct random values of a sensible scale (biases included)."""
    rng = np.random.default_rng(seed)
    values = []
    for weight in model.weights:
        shape = tuple(weight.shape)
        if len(shape) > 1:
            limit = np.sqrt(3.0 / np.prod(shape[:-1]))  # variance 1 / fan_in
            values.append(((rng.random(shape, np.float32) * 2 - 1) * limit).astype("float32"))
        else:
            values.append(((rng.random(shape, np.float32) * 2 - 1) * 0.1).astype("float32"))
    model.set_weights(values)
    return model


def counts(model):
    """(total, trainable, non-trainable) as Keras counts them."""
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    frozen = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    return model.count_params(), trainable, frozen


def collapses(build, input_shape) -> bool:
    """True if the architecture, with kerascnn's size check switched off, cannot take the input.

    Keras either refuses the layer or gives some feature map a side <= 0.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(base, "check_input_shape", lambda *args, **kwargs: None)
        try:
            model = build(input_shape)
        except Exception:  # noqa: BLE001 - any refusal by Keras counts
            return True
    return any(
        isinstance(side, int) and side <= 0
        for layer in model.layers[1:]
        for side in tuple(layer.output.shape)[1:3]
    )


def batch(shape, n=2, seed=0):
    return np.random.default_rng(seed).random((n, *shape), np.float32)
