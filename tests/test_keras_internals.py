"""Each workaround of kerascnn._keras_internals against the installed Keras.

They read private attributes; these tests assert the attributes are there and mean what the
workaround expects, so a Keras upgrade that moves them fails here rather than in an analysis
or a surgery that silently reads nothing.
"""

import numpy as np
import pytest

from kerascnn import _keras_internals as internals
from kerascnn.runtime import IS_KERAS3, keras

pytestmark = pytest.mark.every_runtime


def _branchy():
    """Two inputs in a dict, a shared Dense layer called twice, a Concatenate of two branches."""
    a = keras.Input((4,), name="a")
    b = keras.Input((4,), name="b")
    shared = keras.layers.Dense(3, name="shared")
    joined = keras.layers.Concatenate(name="join")([shared(a), shared(b)])
    out = keras.layers.Dense(2, name="out")(joined)
    return keras.Model({"a": a, "b": b}, out), shared


def test_graph_network_finds_the_graph_of_functional_and_sequential_models_only():
    model, _ = _branchy()
    assert hasattr(model, "_nodes_by_depth") and internals.graph_network(model) is model
    sequential = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")])
    network = internals.graph_network(sequential)
    assert network is not None and hasattr(network, "_nodes_by_depth")
    if IS_KERAS3:
        assert network is sequential._functional  # Keras 3 keeps a Sequential's graph there

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    assert internals.graph_network(Subclassed()) is None


def test_calls_in_order_lists_every_call_topologically():
    model, _ = _branchy()
    calls = internals.calls_in_order(internals.graph_network(model))
    names = [internals.node_call(node)[0].name for node in calls]
    assert sorted(names[:2]) == ["shared", "shared"] and names[2:] == ["join", "out"]


def test_node_call_gives_the_layer_tensors_and_arguments():
    model, _ = _branchy()
    join = [n for n in internals.calls_in_order(model) if internals.node_call(n)[0].name == "join"][0]
    layer, inputs, outputs, args, kwargs = internals.node_call(join)
    assert layer is model.get_layer("join")
    assert len(inputs) == 2 and isinstance(args[0], (list, tuple)) and len(args[0]) == 2
    assert [tuple(t.shape) for t in inputs] == [(None, 3), (None, 3)]
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    assert [tuple(t.shape) for t in outputs] == [(None, 6)] and isinstance(kwargs, dict)


def test_io_structure_reads_the_nest_the_model_was_made_with():
    model, _ = _branchy()
    attribute = "_inputs_struct" if IS_KERAS3 else "_nested_inputs"
    assert hasattr(model, attribute)  # the fallback (model.inputs, a flat list) would lose the dict
    structure = internals.io_structure(model, "inputs")
    assert isinstance(structure, dict) and sorted(structure) == ["a", "b"]
    assert internals.io_structure(model, "outputs") is not None


def test_producing_layer_reads_keras_history():
    model, _ = _branchy()
    assert hasattr(model.output, "_keras_history")
    assert internals.producing_layer(model.output) is model.get_layer("out")
    assert internals.producing_layer(object()) is None


@pytest.mark.legacy_only
def test_tf_op_lambda_names_its_function():
    import tensorflow as tf

    x = keras.Input((4, 4, 2))
    model = keras.Model(x, tf.reduce_mean(x, axis=[1, 2]))
    [layer] = [layer for layer in model.layers if type(layer).__name__ in internals.TF_OP_LAMBDAS]
    assert internals.op_lambda_function(layer) == "math.reduce_mean"


@pytest.mark.legacy_only
def test_variable_key_is_the_tf_variable_unique_id():
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    assert hasattr(layer.kernel, "_unique_id")
    assert internals.variable_key(layer.kernel) == layer.kernel._unique_id != internals.variable_key(layer.bias)


def test_replace_call_changes_one_layer_eagerly_and_when_traced():
    inputs = keras.Input((3,))
    first, second = keras.layers.Dense(2, name="first"), keras.layers.Dense(2, name="second")
    model = keras.Model(inputs, [first(inputs), second(inputs)])
    x = np.ones((1, 3), "float32")

    def zeros(layer, inputs, training=None, mask=None):
        return inputs[:, :2] * 0.0

    internals.replace_call(first, zeros)
    eager = [np.asarray(output) for output in model(x)]
    predicted = model.predict(x, verbose=0)  # a traced function
    assert not eager[0].any() and not predicted[0].any()
    np.testing.assert_allclose(eager[1], np.asarray(second(x)), rtol=1e-6)
    assert eager[1].any() and type(first) is keras.layers.Dense and "call" not in first.get_config()


@pytest.mark.tensorflow_only  # Keras 3 and tf-keras; JAX builds them itself (and does nothing here)
def test_build_training_state_makes_fit_trace_its_step_once():
    """Without it, Keras on TensorFlow traces the training step twice in each fit of a new model (the
    first trace creates the optimizer's and metrics' variables)."""
    import tensorflow as tf

    calls = []

    class Counting(keras.Model):
        def train_step(self, data):
            calls.append(1)  # Python runs here once per trace
            return super().train_step(data)

    inputs = keras.Input((6,))
    model = Counting(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(4)(inputs)))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    data = tf.data.Dataset.from_tensor_slices((np.ones((12, 6), "float32"), np.zeros(12, "int32"))).batch(4)
    internals.build_training_state(model, *data.element_spec)
    history = model.fit(data, epochs=2, verbose=0, shuffle=False).history
    assert len(calls) == 1, f"the training step was traced {len(calls)} times"
    assert len(history["loss"]) == 2 and len(history["accuracy"]) == 2


def test_clear_backup_state_lets_the_next_fit_start_where_it_is_told(tmp_path):
    """A fit killed after epoch 2 (its BackupAndRestore backup kept) and run again resumes at epoch 2;
    Keras 3 keeps that epoch on the model, where it would also be every later fit's start, and
    tf-keras deletes an attribute that a later fit without the callback reads."""

    class Killed(Exception):
        pass

    class KillAfterSecondEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise Killed

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile("sgd", "mse")
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 1), "float32")
    backup = str(tmp_path / "backup")
    with pytest.raises(Killed):
        model.fit(x, y, epochs=4, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(backup),
                                                        KillAfterSecondEpoch()])
    resumed = model.fit(x, y, epochs=4, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(backup)])
    assert resumed.epoch == [2, 3]
    if IS_KERAS3:
        assert model._initial_epoch == 2  # what clear_backup_state clears
    else:
        assert not hasattr(model, "_training_state")  # what clear_backup_state puts back
    internals.clear_backup_state(model)
    assert model.fit(x, y, initial_epoch=0, epochs=1, verbose=0).epoch == [0]


def test_was_called_is_false_until_the_model_runs_on_data():
    """Keras 3's ONNX export refuses a model whose ``_called`` is False; building does not set it."""
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    if IS_KERAS3:
        assert not internals.was_called(model)
    model(np.ones((1, 3), "float32"))
    assert internals.was_called(model)
