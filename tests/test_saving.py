"""kerascnn.saving.load_model gives what keras.models.load_model gives, in every runtime.

In Keras 2 it reads the archive itself (tf-keras' own reader took 27 s for a ResNet-18 run's
model, see the module's docstring), so the reference here is tf-keras' ``load_model`` on the
same file: the same layers, weights, optimizer state and outputs, ``compile=False`` honoured,
kerascnn's own layers (GoogLeNet's LRN) found.
"""

import numpy as np
import pytest

from kerascnn import saving
from kerascnn.layers import LocalResponseNormalization
from kerascnn.runtime import keras

pytestmark = pytest.mark.every_runtime


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(3, 3, name="conv")(inputs)
    x = LocalResponseNormalization(name="lrn")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="fc")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x_train, y_train = rng.normal(size=(8, 6, 6, 2)).astype("float32"), rng.integers(0, 2, 8)
    model.fit(x_train, y_train, epochs=1, batch_size=4, verbose=0)  # moves the weights and the optimizer state
    path = str(tmp_path_factory.mktemp("saving") / "model.keras")
    model.save(path)
    return path, x_train


def test_loads_what_keras_loads(saved):
    path, x = saved
    ours, keras_own = saving.load_model(path), keras.models.load_model(path)
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in keras_own.layers]
    assert "LocalResponseNormalization" in {type(layer).__name__ for layer in ours.layers}
    for a, b in zip(ours.get_weights(), keras_own.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert type(ours.optimizer).__name__ == type(keras_own.optimizer).__name__ == "Adam"
    state = [np.asarray(v) for v in ours.optimizer.variables]
    reference = [np.asarray(v) for v in keras_own.optimizer.variables]
    assert len(state) == len(reference) and any(v.any() for v in state[2:])  # moments were saved, not zeros
    for a, b in zip(state, reference):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.asarray(ours(x)), np.asarray(keras_own(x)))


def test_compile_false_gives_an_uncompiled_model(saved):
    assert getattr(saving.load_model(saved[0], compile=False), "optimizer", None) is None



def test_a_compiled_model_saved_before_training_loads_quietly(tmp_path, caplog):
    """A builder's model is compiled; saved before any step, Keras warns on loading that it skips
    the optimizer's variables, though the file holds none but the step count (and learning rate)."""
    import warnings

    import kerascnn

    path = str(tmp_path / "untrained.keras")
    kerascnn.lenet5().save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = saving.load_model(path)
    said = [str(w.message) for w in caught] + [record.getMessage() for record in caught_records(caplog)]
    assert not [line for line in said if "Skipping variable loading" in line], said
    assert type(model.optimizer).__name__ == "Adam"


def test_optimizer_state_really_skipped_is_still_reported(caplog):
    import logging
    import warnings

    dropped = "Skipping variable loading for optimizer 'adam', because it has 22 variables whereas the saved optimizer has 9 variables."
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with saving.unstepped_optimizer_quiet():
            warnings.warn(dropped, UserWarning, stacklevel=1)
            logging.getLogger("absl").warning(dropped)
    assert [str(w.message) for w in caught] == [dropped]
    assert [record.getMessage() for record in caught_records(caplog)] == [dropped]


def caught_records(caplog):
    return [record for record in caplog.records if record.name == "absl"]
