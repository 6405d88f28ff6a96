"""The graph of a functional Keras model, as analysis and surgery read it (Keras 2 and 3).

:class:`Graph` lists the calls of one model level in topological order (one :class:`Call`
per call of a layer, or in Keras 3 of a ``keras.ops`` operation), with the producer and the
consumers of every tensor. :mod:`kerascnn.analysis` walks it to count operations and
receptive fields; :mod:`kerascnn.surgery` rebuilds models call by call from it. The private
Keras attributes it needs are read in :mod:`kerascnn._keras_internals` only.

Examples:
    >>> from kerascnn.runtime import keras
    >>> x = keras.Input((8, 8, 3))
    >>> y = keras.layers.Conv2D(4, 3, name="conv")(x)
    >>> graph = Graph(keras.Model(x, keras.layers.ReLU(name="relu")(y)))
    >>> [(call.name, call.kind) for call in graph.calls]
    [('conv', 'Conv2D'), ('relu', 'ReLU')]
    >>> graph.producer(graph.outputs[0]).name, [c.name for c in graph.consumers(graph.inputs[0])]
    ('relu', ['conv'])
"""

from __future__ import annotations

from collections import defaultdict

from kerascnn import _keras_internals as internals


def flatten(structure) -> list:
    """The leaves of a nest of lists, tuples and dicts, in order."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for key in structure for leaf in flatten(structure[key])]
    return [structure]


def map_tensors(structure, mapping: dict):
    """``structure`` with every object whose ``id`` is a key of ``mapping`` replaced by its value."""
    if isinstance(structure, list):
        return [map_tensors(item, mapping) for item in structure]
    if isinstance(structure, tuple):
        return tuple(map_tensors(item, mapping) for item in structure)
    if isinstance(structure, dict):
        return {key: map_tensors(value, mapping) for key, value in structure.items()}
    return mapping.get(id(structure), structure)


def network_of(model):
    """The object holding the graph of a functional or built Sequential model, else None."""
    return internals.graph_network(model)


def is_graph_model(layer) -> bool:
    """True for a functional or (built) Sequential model, whose graph can be read."""
    return network_of(layer) is not None


def check_model(model, argument: str = "model") -> None:
    """Raise a TypeError unless ``model`` is a functional or built Sequential Keras model."""
    if network_of(model) is None:
        raise TypeError(
            f"{argument} must be a functional or built Sequential Keras model (keras.Model(inputs, "
            f"outputs), a kerascnn builder, keras.applications, kecam), got {type(model).__name__}: "
            "a subclassed model has no graph to read, and a Sequential model needs an Input first."
        )


def class_name(layer) -> str:
    return type(layer).__name__


def producing_layer(tensor):
    """The layer that computed a symbolic tensor of a functional model (None if unknown)."""
    return internals.producing_layer(tensor)


class Call:
    """One call of a layer (or Keras 3 operation) in a graph: what it took and what it gave."""

    def __init__(self, index, node):
        self.index = index
        self.layer, inputs, outputs, self.args, self.kwargs = internals.node_call(node)
        self.inputs, self.outputs = flatten(inputs), flatten(outputs)

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def kind(self) -> str:
        return class_name(self.layer)

    def __repr__(self):
        return f"Call({self.name!r}, {self.kind})"


class Graph:
    """The calls of one model level in topological order, with producers and consumers of tensors."""

    def __init__(self, model):
        check_model(model)
        self.model = model
        network = network_of(model)
        self.calls: list[Call] = [Call(index, node) for index, node in enumerate(internals.calls_in_order(network))]
        self.inputs = flatten(network.inputs)
        self.outputs = flatten(network.outputs)
        self._output_ids = {id(t) for t in self.outputs}
        self._producer = {id(t): call for call in self.calls for t in call.outputs}
        self._consumers = defaultdict(list)
        self._uses = defaultdict(int)
        for call in self.calls:
            self._uses[id(call.layer)] += 1
            for tensor in {id(t): t for t in call.inputs}.values():
                self._consumers[id(tensor)].append(call)

    def structure(self, which: str):
        """The nest of ``"inputs"`` or ``"outputs"`` the model was created with."""
        return internals.io_structure(network_of(self.model), which)

    def producer(self, tensor) -> Call | None:
        """The call that computed ``tensor`` (None for a model input)."""
        return self._producer.get(id(tensor))

    def consumers(self, tensor) -> list[Call]:
        """The calls that take ``tensor`` as an input."""
        return self._consumers.get(id(tensor), [])

    def is_output(self, tensor) -> bool:
        return id(tensor) in self._output_ids

    def feeds_only(self, tensor, call: Call) -> bool:
        """True when ``tensor`` goes to ``call`` and nowhere else (not even the model's outputs)."""
        return self.consumers(tensor) == [call] and not self.is_output(tensor)

    def uses(self, layer) -> int:
        """How many times ``layer`` is called in this graph (more than once: a shared layer)."""
        return self._uses[id(layer)]

    def levels(self) -> dict[int, int]:
        """For each call (by index) the length of the longest path from the model inputs to it."""
        level: dict[int, int] = {}
        for call in self.calls:
            level[call.index] = 1 + max(
                (level[p.index] for p in map(self.producer, call.inputs) if p is not None), default=0
            )
        return level
