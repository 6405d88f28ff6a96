"""Safe serialization of every registered model (issue 11).

A whole round trip saves a model to ``.keras`` compiled and loads it back with
``safe_mode=True`` (which refuses to deserialize Python code, e.g. Lambda layers), giving
identical outputs and its optimizer, and loads its ``.weights.h5`` into a freshly built twin.
It loads with :func:`kerascnn.saving.load_model`: ``keras.models.load_model`` in Keras 3; in
Keras 2 the same deserialization with the weights read from an extracted file, which
tests/test_saving.py checks against tf-keras' own, much slower, loader.
An architecture round trip sends the model's JSON config (what ``model.json`` in a ``.keras``
file holds) through ``safe_mode`` and compares the rebuilt layers: the part that differs
between models, at a fraction of the time (writing and reading weights is Keras' own path,
the same for every model; ResNet-152's weights alone are 240 MB).

* Keras 3 on TensorFlow: the smallest model of each kind (``tiers.representatives``) round-trips
  whole; every other model, its architecture (full tier).
* Keras 2 (tf-keras): the whole round trip for the representatives that hold kerascnn's own
  layers, and LeNet-5; the architecture of the other representatives.

The fast tier (a plain ``pytest``) leaves the six longest whole round trips (``LONG``) to the
full tier. Models are built at their smallest input with 3 classes (and narrow fully
connected layers where the builder has them) so the files stay small; the code path is the
same.
"""

import inspect
import json

import numpy as np
import pytest

import kerascnn
from kerascnn import saving
from kerascnn.runtime import keras
from kerascnn.surgery.fold import all_layers
from tests.models.zoo_helpers import fill_random, zero_init
from tiers import representatives

pytestmark = [pytest.mark.tensorflow_only, pytest.mark.keras2]  # both TensorFlow runtimes' saving

MODELS = kerascnn.list_models()
REPRESENTATIVES = sorted(representatives(MODELS))
#: In Keras 2, the representatives that round-trip whole: those with kerascnn's own layer classes
#: (checked by test_model_round_trips_safely) and the smallest model.
KERAS2_WHOLE = {"lenet5", "googlenet", "davit_t"}
#: The representatives with the longest whole round trips (6-11 s each on one fast-tier worker): full tier.
#: Their kinds stay in the fast tier through tests/models (DaViT's own safe_mode round trip among them).
LONG = {"densenet121", "inception_v3", "davit_t", "wide_resnet50_2", "resnext50_32x4d", "xception"}
WHOLE = [pytest.param(name, marks=(() if name in KERAS2_WHOLE else (pytest.mark.keras3_only,))
                      + ((pytest.mark.slow,) if name in LONG else ()))
         for name in REPRESENTATIVES]
# the larger models of each kind repeat their representative's layers: full tier, one runtime
ARCHITECTURE = [pytest.param(name, marks=(pytest.mark.slow, pytest.mark.one_runtime)) for name in MODELS
                if name not in REPRESENTATIVES] + [
    pytest.param(name, marks=pytest.mark.legacy_only) for name in REPRESENTATIVES if name not in KERAS2_WHOLE]


def small_kwargs(name):
    card = kerascnn.model_card(name)
    parameters = inspect.signature(kerascnn.registry.get_builder(name)).parameters
    kwargs = {"input_shape": (*card.min_input_size, card.input_shape[-1]), "num_classes": 3}
    if "fc_units" in parameters:
        kwargs["fc_units"] = (16, 16)
    if "base_dim" in parameters:
        kwargs["base_dim"] = 8
    return kwargs


def predict(model, batch):
    outputs = model(batch, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [np.asarray(o) for o in outputs]


def no_lambda_layers(model):
    assert not [l.name for l in all_layers(model) if type(l).__name__ == "Lambda"], "Lambda layers are unsafe"


@pytest.mark.parametrize("name", WHOLE)
def test_model_round_trips_safely(name, tmp_path):
    kwargs = small_kwargs(name)
    with zero_init():  # random weights by NumPy: Keras' initializers are most of a big model's build time
        model = fill_random(kerascnn.build(name, **kwargs))
    no_lambda_layers(model)
    own = {type(layer).__name__ for layer in all_layers(model) if type(layer).__module__.startswith("kerascnn")}
    assert not own or name in KERAS2_WHOLE, f"{name} holds {own}: add it to KERAS2_WHOLE"
    batch = np.random.default_rng(0).uniform(0, 1, size=(2, *kwargs["input_shape"])).astype("float32")
    expected = predict(model, batch)

    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = saving.load_model(path, safe_mode=True)
    assert loaded.count_params() == model.count_params()
    assert type(loaded.optimizer).__name__ == type(model.optimizer).__name__  # the training configuration too
    for want, got in zip(expected, predict(loaded, batch)):
        np.testing.assert_array_equal(got, want)

    weights_path = tmp_path / f"{name}.weights.h5"
    model.save_weights(weights_path)
    with zero_init():
        twin = kerascnn.build(name, **kwargs)
    twin.load_weights(weights_path)
    for want, got in zip(expected, predict(twin, batch)):
        np.testing.assert_array_equal(got, want)


def layout(model):
    return [(type(layer).__name__, layer.name, [tuple(w.shape) for w in layer.weights]) for layer in all_layers(model)]


@pytest.mark.parametrize("name", ARCHITECTURE)
def test_architecture_round_trips_safely(name):
    with zero_init():
        model = kerascnn.build(name, compile=False, **small_kwargs(name))
    no_lambda_layers(model)
    text = json.dumps(keras.saving.serialize_keras_object(model))  # what model.json in a .keras file holds
    with zero_init():
        loaded = keras.saving.deserialize_keras_object(json.loads(text), safe_mode=True)
    assert layout(loaded) == layout(model)
    assert loaded.count_params() == model.count_params()
    assert json.dumps(keras.saving.serialize_keras_object(loaded)) == text
