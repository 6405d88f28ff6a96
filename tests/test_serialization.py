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

In both TensorFlow runtimes (Keras 3 and Keras 2), the same rule: a whole round trip for the
smallest model of each family with kerascnn's own layer classes (a test fails if one is missing),
LeNet-5 (the smallest) and ResNet-18 (the smallest with BatchNorm, whose moving statistics are
weights outside the trainable ones); the architecture round trip for every other model: all of
them in Keras 3 / TensorFlow (full tier), the smallest of each kind in Keras 2 too.

The fast tier (a plain ``pytest``) leaves the longest whole round trip (``LONG``, DaViT-T) to the
full tier; DaViT's own safe_mode round trip (tests/models/test_davit.py) stays fast. Models are
built at their smallest input with 3 classes (and narrow fully connected layers where the builder
has them) so the files stay small; the code path is the same.
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
#: Whole round trips: the smallest model of each family with kerascnn's own layer classes
#: (only_safe_layers checks that none is missing), the smallest model, the smallest with BatchNorm.
WHOLE = {"lenet5", "resnet18", "googlenet", "davit_t"}
WHOLE_FAMILIES = {kerascnn.model_card(name).family for name in WHOLE}
#: The longest whole round trip (up to half a minute): full tier. DaViT's own safe_mode round trip
#: (tests/models/test_davit.py) stays in the fast tier.
LONG = {"davit_t"}
# the larger models of each kind repeat their representative's layers: full tier, one runtime
LARGER = (pytest.mark.slow, pytest.mark.one_runtime)
ARCHITECTURE = [pytest.param(name, marks=() if name in REPRESENTATIVES else LARGER)
                for name in MODELS if name not in WHOLE]


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


def only_safe_layers(name, model):
    """No Lambda layers; kerascnn's own layer classes only in families whose weights round-trip too."""
    assert not [l.name for l in all_layers(model) if type(l).__name__ == "Lambda"], "Lambda layers are unsafe"
    own = {type(layer).__name__ for layer in all_layers(model) if type(layer).__module__.startswith("kerascnn")}
    family = kerascnn.model_card(name).family
    assert not own or family in WHOLE_FAMILIES, f"{name} holds {own}: add its family's smallest model to WHOLE"


@pytest.mark.parametrize("name", [pytest.param(name, marks=(pytest.mark.slow,) if name in LONG else ())
                                  for name in sorted(WHOLE)])
def test_model_round_trips_safely(name, tmp_path):
    kwargs = small_kwargs(name)
    with zero_init():  # random weights by NumPy: Keras' initializers are most of a big model's build time
        model = fill_random(kerascnn.build(name, **kwargs))
    only_safe_layers(name, model)
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
    only_safe_layers(name, model)
    text = json.dumps(keras.saving.serialize_keras_object(model))  # what model.json in a .keras file holds
    with zero_init():
        loaded = keras.saving.deserialize_keras_object(json.loads(text), safe_mode=True)
    assert layout(loaded) == layout(model)
    assert loaded.count_params() == model.count_params()
    assert json.dumps(keras.saving.serialize_keras_object(loaded)) == text
