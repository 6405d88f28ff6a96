"""Safe serialization of every registered model (issue 11).

Each model saves to ``.keras`` and loads back with ``safe_mode=True`` (which refuses to
deserialize Python code, e.g. Lambda layers) giving identical outputs, and its
``.weights.h5`` round-trips into a freshly built twin. Run in both TensorFlow runtimes.
Models are built at their smallest input with 3 classes (and narrow fully connected
layers where the builder has them) so the files stay small; the code path is the same.
"""

import inspect

import numpy as np
import pytest

import kerascnn
from kerascnn.runtime import keras
from tests.models.zoo_helpers import fill_random, zero_init
from tiers import representatives, sweep

pytestmark = [pytest.mark.tensorflow_only, pytest.mark.keras2]  # both TensorFlow runtimes' saving

MODELS = kerascnn.list_models()
COMPILED = representatives(MODELS)
def small_kwargs(name):
    card = kerascnn.model_card(name)
    parameters = inspect.signature(kerascnn.registry.get_builder(name)).parameters
    kwargs = {"input_shape": (*card.min_input_size, card.input_shape[-1]), "num_classes": 3}
    if "fc_units" in parameters:
        kwargs["fc_units"] = (16, 16)
    if "base_dim" in parameters:
        kwargs["base_dim"] = 8
    return kwargs


def all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from all_layers(layer)


def predict(model, batch):
    outputs = model(batch, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [np.asarray(o) for o in outputs]


@pytest.mark.parametrize("name", sweep(MODELS))
def test_model_round_trips_safely(name, tmp_path):
    kwargs = small_kwargs(name)
    # the smallest model of each kind round-trips compiled (its optimizer and loss too); the larger
    # ones, the same layers, without: rebuilding a big optimizer on load is a third of their time
    compiled = name in COMPILED
    with zero_init():  # random weights by NumPy: Keras' initializers are most of a big model's build time
        model = fill_random(kerascnn.build(name, compile=compiled, **kwargs))
    assert not [l.name for l in all_layers(model) if type(l).__name__ == "Lambda"], "Lambda layers are unsafe"
    batch = np.random.default_rng(0).uniform(0, 1, size=(2, *kwargs["input_shape"])).astype("float32")
    expected = predict(model, batch)

    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert loaded.count_params() == model.count_params()
    if compiled:  # the training configuration comes back too
        assert type(loaded.optimizer).__name__ == type(model.optimizer).__name__
    for want, got in zip(expected, predict(loaded, batch)):
        np.testing.assert_array_equal(got, want)

    weights_path = tmp_path / f"{name}.weights.h5"
    model.save_weights(weights_path)
    with zero_init():
        twin = kerascnn.build(name, compile=compiled, **kwargs)
    twin.load_weights(weights_path)
    for want, got in zip(expected, predict(twin, batch)):
        np.testing.assert_array_equal(got, want)
