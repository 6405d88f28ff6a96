"""Every place kerascnn reads a private attribute of Keras, in one module.

Keras has no public API for the graph of a functional model (the calls of its layers in
order, with their arguments), so :mod:`kerascnn.graph` reads it here. Each function says
which Keras versions need it; ``tests/test_keras_internals.py`` checks each one against the
installed Keras and fails when an upgrade moves what it reads, instead of leaving the
analysis or the surgery to misbehave. Checked with Keras 3.15 (TensorFlow and JAX
backends) and tf-keras 2.21 (Keras 2).

Examples:
    >>> from kerascnn.runtime import keras
    >>> x = keras.Input((4,))
    >>> model = keras.Model(x, keras.layers.Dense(2, name="fc")(x))
    >>> [node_call(node)[0].name for node in calls_in_order(graph_network(model))]
    ['fc']
"""

from __future__ import annotations

from kerascnn.runtime import BACKEND, IS_KERAS3


def graph_network(model):
    """The object holding the graph of a functional or built Sequential model, else None.

    Keras 3 (3.0-3.15): a Sequential model keeps its graph in the functional model
    ``model._functional``; functional models hold ``_nodes_by_depth`` themselves.
    Keras 2 (tf-keras 2.x): every Model has ``_nodes_by_depth``; ``_is_graph_network`` is False
    for subclassed models, whose graph is unknown.
    """
    inner = getattr(model, "_functional", None)
    if inner is not None and hasattr(inner, "_nodes_by_depth"):
        return inner
    if hasattr(model, "_nodes_by_depth") and getattr(model, "_is_graph_network", True):
        return model
    return None


def calls_in_order(network) -> list:
    """The nodes (layer calls) of a graph network in topological order, model inputs excluded.

    Keras 2 and 3: ``_nodes_by_depth`` maps depth -> nodes, the outputs at depth 0; there is
    no public topological order of calls (``model.layers`` loses repeated calls).
    """
    return [node for depth in sorted(network._nodes_by_depth, reverse=True)
            for node in network._nodes_by_depth[depth] if not node.is_input]


def node_call(node) -> tuple:
    """``(layer, input tensors, output tensors, args, kwargs)`` of one node, nests kept.

    Keras 3: ``node.operation`` (a Layer or a ``keras.ops`` Operation), ``node.arguments``,
    ``node.input_tensors`` / ``node.output_tensors``. Keras 2: ``node.layer``,
    ``node.call_args`` / ``node.call_kwargs``, ``node.keras_inputs`` / ``node.outputs``.
    """
    if IS_KERAS3:
        return (node.operation, node.input_tensors, node.output_tensors,
                tuple(node.arguments.args), dict(node.arguments.kwargs))
    return node.layer, node.keras_inputs, node.outputs, tuple(node.call_args), dict(node.call_kwargs)


def io_structure(network, which: str):
    """The nest (single tensor, list or dict) a model was created with: ``which`` is inputs or outputs.

    ``model.inputs`` is always a flat list; rebuilding a model with the same call signature
    needs the original nest. Keras 3: ``_inputs_struct`` / ``_outputs_struct``; Keras 2:
    ``_nested_inputs`` / ``_nested_outputs``.
    """
    for attribute in (f"_{which}_struct", f"_nested_{which}"):
        structure = getattr(network, attribute, None)
        if structure is not None:
            return structure
    tensors = list(getattr(network, which))
    return tensors[0] if len(tensors) == 1 else tensors


def producing_layer(tensor):
    """The layer (or Keras 3 operation) that computed a symbolic tensor, None for unknown ones.

    Keras 3 and 2: ``tensor._keras_history`` names it (``.operation`` in Keras 3, ``.layer``
    in Keras 2); no public accessor exists.
    """
    history = getattr(tensor, "_keras_history", None)
    return getattr(history, "operation", None) or getattr(history, "layer", None)


#: Keras 2 wraps TensorFlow functions called on Keras tensors (``tf.reduce_mean(x)``) in
#: these layer classes; their config's "function" names the TF function. Keras 3 has none.
TF_OP_LAMBDAS = ("TFOpLambda", "SlicingOpLambda")


def op_lambda_function(layer) -> str | None:
    """The TensorFlow function a Keras 2 ``TFOpLambda`` calls (``"math.reduce_mean"``), else None."""
    if type(layer).__name__ in TF_OP_LAMBDAS:
        return layer.get_config().get("function", "lambda")
    return None


def variable_key(variable):
    """A key that stays the same for a variable across the optimizer's view of it.

    Keras 2 (tf-keras): the optimizer sees the ``tf.Variable``, whose ``_unique_id`` is stable;
    ``id()`` of the Python object may differ between the model's and the optimizer's handles.
    """
    return getattr(variable, "_unique_id", id(variable))


def replace_call(layer, function) -> None:
    """Make ``layer`` compute with ``function(layer, inputs, training=None, mask=None)``; other layers keep theirs.

    Keras 3 (3.0-3.15) and tf-keras 2.21: ``Layer.__call__`` runs ``self.call``, looked up on
    the instance, so an attribute bound to one layer replaces its class's method for that layer
    only, in eager calls and in every function traced after it. Keras read the call's signature when the layer
    was made, so ``function`` takes the same arguments as the method it replaces. Nothing of it
    is saved: the layer's class and config are unchanged.
    """
    import types  # noqa: PLC0415

    layer.call = types.MethodType(function, layer)


def build_training_state(model, x, y) -> None:
    """Create the optimizer's and the compiled loss's and metrics' variables before ``fit`` traces.

    A ``tf.function`` whose first call creates variables is traced twice: once creating them,
    once more without. Keras on TensorFlow leaves the optimizer's slots and the compiled
    metrics to the first trace of its train function, so every ``fit`` of a freshly compiled
    model traced its training step twice: for DaViT-T, 8 s and 20 s more in the two phases
    of a fine-tune. ``x`` and ``y``: a batch or its specs (``tf.data.Dataset.element_spec``),
    anything with ``shape`` and ``dtype``.

    Keras 3 (3.0-3.15) on TensorFlow builds them from the batch's shapes
    (``Trainer._symbolic_build``) only under a distribution strategy
    (``TensorFlowTrainer._maybe_symbolic_build``); JAX always does, so nothing is done there.
    tf-keras 2.x never does: its optimizer's ``build``, and the ``build`` of its
    ``compiled_loss`` and ``compiled_metrics`` containers on one zero image. Under a
    distribution strategy, and where a side is unknown, Keras is left to do it.
    ``tests/test_keras_internals.py`` counts the traces.
    """
    if BACKEND != "tensorflow" or getattr(model, "optimizer", None) is None:
        return
    import tensorflow as tf  # noqa: PLC0415 - TensorFlow runtimes only

    if tf.distribute.has_strategy():
        return
    if IS_KERAS3:
        if getattr(model, "_distribute_strategy", None) is None:
            model._symbolic_build(data_batch=(x, y))
        return
    shapes = [tuple(spec.shape)[1:] for spec in tf.nest.flatten((x, y))]
    if any(side is None for shape in shapes for side in shape) or not hasattr(model.optimizer, "build"):
        return

    def one(spec):
        return tf.zeros((1, *tuple(spec.shape)[1:]), spec.dtype)

    model.optimizer.build(model.trainable_variables)
    predicted = model(tf.nest.map_structure(one, x), training=False)
    if model.compiled_loss is not None:
        model.compiled_loss.build(predicted)
    if model.compiled_metrics is not None:
        model.compiled_metrics.build(predicted, tf.nest.map_structure(one, y))


def clear_backup_state(model) -> None:
    """Leave ``model`` as a ``BackupAndRestore`` fit found it, so its next ``fit`` starts where told.

    Keras 3 (3.0-3.15): ``BackupAndRestore``, resuming from its backup, stores the epoch in
    ``model._initial_epoch``, and every later ``fit`` of the model starts there whatever its
    ``initial_epoch`` says (``initial_epoch = self._initial_epoch or initial_epoch`` in each
    backend's trainer); the training core's next phase must not. tf-keras 2.21: the callback's
    ``on_train_end`` deletes ``model._training_state``, which ``Model.__init__`` set to None and
    ``fit`` reads, so a later ``fit`` without the callback raised ``AttributeError``; it is put back.
    """
    if IS_KERAS3:
        model._initial_epoch = None
    elif not hasattr(model, "_training_state"):
        model._training_state = None


def was_called(model) -> bool:
    """Whether ``model`` was ever called on data (a model built or loaded from a file was not).

    Keras 3 (3.0-3.15): ``Layer.__call__`` sets ``_called``; its ONNX export reads it and refuses
    a model never called ("The model provided has never called."), so the exporter calls it once
    first. tf-keras has no such attribute (nor that export): True there.
    """
    return bool(getattr(model, "_called", True))

