"""Walk the graph of any functional Keras model, node by node, in both Keras runtimes.

Every analysis in :mod:`kerascnn.analysis` reads a model through :func:`walk`, which reads
the calls of :class:`kerascnn.graph.Graph` (the graph surgery rebuilds from) and yields one
:class:`Step` per call of a layer (or, in Keras 3, of a ``keras.ops``
operation; in Keras 2, of a ``TFOpLambda``) in topological order. A layer that is itself
a functional or Sequential model is entered: its inner layers are yielded with the
nested model's name as a prefix (``"backbone/conv1"``), and its tensors are linked to the
outer ones, so that the receptive field flows through.

Examples:
    >>> from kerascnn.runtime import keras
    >>> from kerascnn.analysis.graph import walk
    >>> x = keras.Input((8, 8, 3))
    >>> model = keras.Model(x, keras.layers.Conv2D(4, 3, name="conv")(x))
    >>> [(step.name, step.output_shapes) for step in walk(model)]
    [('conv', [(6, 6, 4)])]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kerascnn import _keras_internals as internals
from kerascnn.graph import Graph, check_model, flatten, is_graph_model, network_of


@dataclass
class Step:
    """One call of a layer or operation inside a model.

    Shapes are per sample (the batch axis removed). ``input_keys`` and ``output_keys``
    identify tensors across nesting levels (see :class:`TensorKeys`); ``args`` and ``kwargs``
    are the call's arguments, for operations whose cost depends on them (``matmul``'s
    ``transpose_a``).
    """

    name: str
    layer: object
    kind: str
    input_shapes: list
    output_shapes: list
    input_keys: list
    output_keys: list
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    first_call: bool = True

    @property
    def class_name(self) -> str:
        return type(self.layer).__name__


def canonical(name: str) -> str:
    """A layer class, Keras 3 operation or TensorFlow function name, normalised for lookups.

    ``"GlobalAveragePooling2D"`` -> ``"globalaveragepooling2d"``,
    ``"math.reduce_mean"`` -> ``"reducemean"``, ``"__operators__.add"`` -> ``"add"``.
    """
    return re.sub(r"[^a-z0-9]", "", str(name).rsplit(".", 1)[-1].lower())


def kind_of(layer) -> str:
    """The canonical name of what ``layer`` computes (the TF function for ``TFOpLambda``).

    A custom layer that computes a known kind declares it in a class attribute
    ``analysis_kind`` (kerascnn's ``BatchReshape`` is a ``"reshape"``), so that every
    analysis treats it as that kind.
    """
    declared = getattr(type(layer), "analysis_kind", None)
    if declared:
        return canonical(declared)
    return canonical(internals.op_lambda_function(layer) or type(layer).__name__)


def _shape(tensor) -> tuple:
    shape = tuple(tensor.shape)
    return tuple(None if d is None else int(d) for d in shape[1:])


class TensorKeys:
    """Tensor identities across nesting levels: a nested model's inputs are its caller's tensors."""

    def __init__(self):
        self._alias: dict[int, int] = {}
        self._keep: list = []  # keep tensors alive so that id() stays unique

    def key(self, tensor) -> int:
        self._keep.append(tensor)
        k = id(tensor)
        while k in self._alias:
            k = self._alias[k]
        return k

    def link(self, tensor, key: int) -> None:
        self._keep.append(tensor)
        if id(tensor) != key:
            self._alias[id(tensor)] = key


def walk(model, graph: TensorKeys | None = None, prefix: str = "", _seen=None):
    """Yield a :class:`Step` for every call of a layer in ``model``, inputs first, nested models entered."""
    check_model(model)
    graph = graph or TensorKeys()
    seen = _seen if _seen is not None else {}
    for call in Graph(model).calls:
        layer, inputs, outputs = call.layer, call.inputs, call.outputs
        if is_graph_model(layer):
            yield from _enter(layer, inputs, outputs, graph, prefix, seen)
            continue
        calls = seen.get(id(layer), 0)
        seen[id(layer)] = calls + 1
        yield Step(
            name=prefix + layer.name + (f":{calls}" if calls else ""),
            layer=layer,
            kind=kind_of(layer),
            input_shapes=[_shape(t) for t in inputs],
            output_shapes=[_shape(t) for t in outputs],
            input_keys=[graph.key(t) for t in inputs],
            output_keys=[graph.key(t) for t in outputs],
            args=call.args,
            kwargs=call.kwargs,
            first_call=calls == 0,
        )


def _enter(nested, outer_inputs, outer_outputs, graph: TensorKeys, prefix: str, seen):
    network = network_of(nested)
    inner_inputs = flatten(network.inputs)
    for inner, outer in zip(inner_inputs, outer_inputs):
        graph.link(inner, graph.key(outer))
    yield from walk(nested, graph, prefix + nested.name + "/", seen)
    for inner, outer in zip(flatten(network.outputs), outer_outputs):
        graph.link(outer, graph.key(inner))


def input_keys(model, graph: TensorKeys) -> list:
    """The keys of the model's input tensors, with their per-sample shapes."""
    network = network_of(model)
    return [(graph.key(t), _shape(t)) for t in flatten(network.inputs)]


def output_keys(model, graph: TensorKeys) -> list:
    """The keys of the model's output tensors."""
    network = network_of(model)
    return [graph.key(t) for t in flatten(network.outputs)]
