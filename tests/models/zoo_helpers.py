"""Helpers for the model-zoo tests: cheap big builds, random weights, ImageNet weights without the network.

Keras' random initializers are the slow part of building in tests: a 138M-parameter VGG
draws 138M numbers, and on JAX every new weight shape compiles its random draw (seconds per
model on two cores). Parameter counts, layer names and shapes do not depend on the initial
values, so :func:`zero_init` makes Glorot/He initializers return zeros; tests that run a
forward pass fill the weights with :func:`fill_random` (numpy, no compilation).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pathlib
import weakref

import numpy as np
import pytest

from kerascnn.errors import WeightsDownloadError
from kerascnn.models import base
from kerascnn.registry import model_card
from kerascnn.runtime import keras


def _zeros(self, shape, dtype=None, **kwargs):
    return keras.initializers.Zeros()(shape, dtype=dtype)


def _numpy_filled(value):
    def call(self, shape, dtype=None, **kwargs):
        import jax.numpy as jnp  # noqa: PLC0415 - JAX runtime only

        return np.full(shape, value, dtype=jnp.dtype(keras.backend.standardize_dtype(dtype)))
    return call


def _numpy_constants(patch):
    """``zeros`` and ``ones`` initial values as NumPy arrays (JAX compiles ``jnp.zeros`` per shape)."""
    patch.setattr(keras.initializers.Zeros, "__call__", _numpy_filled(0.0))
    patch.setattr(keras.initializers.Ones, "__call__", _numpy_filled(1.0))


@contextlib.contextmanager
def zero_init():
    """Inside: every VarianceScaling initializer (glorot_uniform, he_normal...) gives zeros.

    On JAX the initial values are NumPy arrays, also those of ``zeros`` and ``ones`` (biases,
    BatchNorm): JAX compiles ``jnp.zeros`` anew for every weight shape, which was half of a
    DenseNet-121 build there (6 of 13 s).
    """
    from kerascnn.runtime import BACKEND  # noqa: PLC0415

    with pytest.MonkeyPatch.context() as patch:
        if BACKEND == "jax":
            patch.setattr(keras.initializers.VarianceScaling, "__call__", _numpy_filled(0.0))
            _numpy_constants(patch)
        else:
            patch.setattr(keras.initializers.VarianceScaling, "__call__", _zeros)
        yield


class _NumpyRandom:
    """Keras' ``random`` module as its initializers use it, drawing with NumPy instead.

    The same distributions and the same seeds (an initializer's integer seed, which
    ``keras.utils.set_random_seed`` makes repeatable, or its ``SeedGenerator``); only the
    generator differs. Anything else is Keras' own module.
    """

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        return getattr(self._module, name)

    def _generator(self, seed):
        if isinstance(seed, self._module.SeedGenerator):
            seed = np.asarray(seed.next()).tolist()
        return np.random.default_rng(seed)

    @staticmethod
    def _cast(values, dtype):
        import jax.numpy as jnp  # noqa: PLC0415 - JAX runtime only

        return values.astype(jnp.dtype(keras.backend.standardize_dtype(dtype)))

    def normal(self, shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        return self._cast(self._generator(seed).normal(mean, stddev, shape), dtype)

    def uniform(self, shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
        return self._cast(self._generator(seed).uniform(minval, maxval, shape), dtype)

    def truncated_normal(self, shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        generator = self._generator(seed)
        values = generator.standard_normal(shape)
        outside = np.abs(values) > 2.0  # Keras (and jax.random) cut at two standard deviations
        while outside.any():
            values[outside] = generator.standard_normal(int(outside.sum()))
            outside = np.abs(values) > 2.0
        return self._cast(mean + stddev * values, dtype)


@contextlib.contextmanager
def numpy_initializers():
    """Inside, on JAX: Keras' initializers draw their random (and constant) values with NumPy.

    JAX compiles a random draw, ``zeros`` and ``ones`` anew for every weight shape: building
    a model there was mostly compiling (seconds for each new architecture; in a run of the
    model tests, 40% of the CPU time). The JAX test run enables this for every test
    (tests/conftest.py); the values keep Keras' distributions and seeds.
    """
    from keras.src.initializers import random_initializers  # noqa: PLC0415

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(random_initializers, "random", _NumpyRandom(random_initializers.random))
        _numpy_constants(patch)
        yield


@pytest.fixture(scope="module")
def zero_init_module():
    """Module fixture: build every model of the module with zero initial weights."""
    with zero_init():
        yield


def fill_random(model, seed=0):
    """Set every weight to random values of a sensible scale (biases included).

    Big tensors repeat a random block of 1,000,003 values (a prime, so rows do not line
    up), which is as good for comparing two models and far cheaper than 100M draws.
    """
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        shape = tuple(int(s) for s in weight.shape)
        size = int(np.prod(shape))
        block = rng.random(min(size, 1_000_003), np.float32)
        if len(shape) > 1:  # kernels: uniform around 0 with variance 1 / fan_in
            block = (block * 2 - 1) * np.sqrt(3.0 / np.prod(shape[:-1]))
        else:  # biases and BatchNorm vectors: small and positive (a moving variance must be)
            block = 0.1 + 0.2 * block
        flat = np.empty(size, np.float32)
        for start in range(0, size, block.size):
            flat[start:start + block.size] = block[: size - start]
        weight.assign(flat.reshape(shape))
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


_JITTED = weakref.WeakKeyDictionary()


def infer(model, x):
    """``model(x, training=False)`` as NumPy (a list for several outputs).

    On JAX through one jitted call, compiled once per model: calling a model there compiles
    every operation on its own for every new shape, which costs most for a big model with
    many distinct shapes (DenseNet-121 on one 37x32 image: 51 s eager, 11 s jitted, 16 s with
    ``predict_on_batch``). A family of models that share their layers' shapes can be cheaper
    eager (the compiled operations are reused): measure before switching. Eager elsewhere.
    """
    from kerascnn.runtime import BACKEND  # noqa: PLC0415

    if BACKEND == "jax":
        if model not in _JITTED:
            import jax  # noqa: PLC0415

            held = weakref.ref(model)  # the cache must not keep the model alive

            def call(trainable, non_trainable, inputs):
                return held().stateless_call(trainable, non_trainable, inputs, training=False)[0]

            _JITTED[model] = jax.jit(call)
        outputs = _JITTED[model]([v.value for v in model.trainable_variables],
                                 [v.value for v in model.non_trainable_variables], x)
    else:
        outputs = model(x, training=False)
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(output) for output in outputs]
    return np.asarray(outputs)


# ------------------------------------------------ weights="imagenet" without the network

def random_application(name: str, input_shape, seed=0, **kwargs):
    """``keras.applications.<name>`` with weights=None and random weights (BatchNorm statistics
    included), logits out: the stand-in for the ImageNet model in weight-transfer tests."""
    with zero_init():
        source = getattr(keras.applications, name)(weights=None, input_shape=input_shape,
                                                   classifier_activation=None, **kwargs)
    return fill_random(source, seed=seed)


@contextlib.contextmanager
def applications_answering(name: str, source):
    """Inside: ``keras.applications.<name>(...)`` returns ``source`` instead of downloading, and
    builds use zero initial weights. Yields the list of the keyword arguments of every call."""
    calls = []

    def application(**kwargs):
        calls.append(kwargs)
        return source

    with pytest.MonkeyPatch.context() as patch, zero_init():
        patch.setattr(keras.applications, name, application)
        yield calls


@contextlib.contextmanager
def applications_failing(name: str):
    """Inside: ``keras.applications.<name>(...)`` fails as a refused download does."""
    def application(**kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- refused")

    with pytest.MonkeyPatch.context() as patch, zero_init():
        patch.setattr(keras.applications, name, application)
        yield


def assert_download_failure_raises(name: str, build):
    """``build()`` with a failing keras.applications download raises WeightsDownloadError naming it."""
    message = f"could not get the ImageNet weights of keras.applications.{name}"
    with applications_failing(name), pytest.raises(WeightsDownloadError, match=message):
        build()


def assert_same_model(source, target, x, tolerance=1e-5, by_name=True):
    """``target`` gives ``source``'s outputs on ``x`` (max abs difference <= ``tolerance``) and holds
    every one of its weights: layer by layer by name, each weighted layer matched once, or with
    ``by_name=False`` in order (models whose layers carry Keras' automatic names)."""
    expected, got = infer(source, x), infer(target, x)
    assert np.abs(expected).max() > 1e-2  # not a trivially equal output
    assert np.abs(got - expected).max() <= tolerance, np.abs(got - expected).max()
    if not by_name:
        assert len(target.weights) == len(source.weights)
        for mine, theirs in zip(target.weights, source.weights):
            np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
        return
    theirs = {layer.name: layer.get_weights() for layer in source.layers if layer.weights}
    for layer in target.layers:
        if layer.weights:
            values = theirs.pop(layer.name)
            assert len(values) == len(layer.weights)
            for mine, value in zip(layer.get_weights(), values):
                np.testing.assert_array_equal(mine, value)
    assert theirs == {}


def assert_counts_match(name: str, model, reference):
    """``model``, ``reference`` and the card of ``name`` agree on (total, trainable, non-trainable)."""
    card = model_card(name)
    figures = (card.params, card.trainable_params, card.non_trainable_params)
    assert counts(model) == counts(reference) == figures


def same_layer_classes(model, reference):
    """The layers of both models but their inputs, after checking their classes come in the same order."""
    ours, theirs = ([layer for layer in m.layers if not isinstance(layer, keras.layers.InputLayer)]
                    for m in (model, reference))
    assert [type(layer).__name__ for layer in ours] == [type(layer).__name__ for layer in theirs]
    return ours, theirs


def shared_folder(name: str, make, tmp_path_factory) -> pathlib.Path:
    """A folder of reference files that ``make(folder)`` writes once and the runtimes' runs share.

    With ``KERASCNN_TEST_CACHE`` set (``tests/run_all.sh`` sets it for its three runtimes), the
    folder is ``$KERASCNN_TEST_CACHE/name``: the first run to take its lock calls ``make``, the
    others wait and read what it wrote (a ``done`` file marks it complete). Without it, each
    run makes its own in a temporary folder.
    """
    root = os.environ.get("KERASCNN_TEST_CACHE")
    if not root:
        folder = tmp_path_factory.mktemp(name)
        make(folder)
        return folder
    folder = pathlib.Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if make fails
        if not (folder / "done").exists():
            make(folder)
            (folder / "done").touch()
    return folder
