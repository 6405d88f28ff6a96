"""The one graph rewriter behind every surgery: rebuild a functional model call by call.

:func:`rewrite` walks the layer calls of a functional (or built Sequential) Keras model in
topological order (the :class:`kerascnn.graph.Graph` that :mod:`kerascnn.analysis` reads
too) and calls each layer again on the new tensors: a *copy* of the layer by default, or whatever an :class:`Edit` returns instead (a folded convolution, an SE
block after it, nothing at all). A layer that is itself a model is rebuilt the same way,
so nested backbones keep their nesting and are edited too.

Copies, not the same objects: every layer of the new model is made from the original's
``get_config()`` and receives a copy of its weights, so training, freezing or folding the
new model never changes the original (and the original keeps working). Layers called
several times (shared layers) stay shared in the copy. Keras 3 operations that are not
layers (``x + y`` on Keras tensors) are stateless and called again as they are.

Examples:
    >>> import numpy as np
    >>> from kerascnn.runtime import keras
    >>> from kerascnn.surgery.rewrite import Edit, rewrite
    >>> x = keras.Input((8, 8, 3))
    >>> model = keras.Model(x, keras.layers.Conv2D(4, 3, name="conv")(x))
    >>> copy = rewrite(model, Edit())
    >>> copy.get_layer("conv") is model.get_layer("conv")
    False
    >>> data = np.ones((1, 8, 8, 3), "float32")
    >>> bool(np.allclose(copy.predict(data, verbose=0), model.predict(data, verbose=0)))
    True
"""

from __future__ import annotations

from kerascnn.graph import Call, Graph, check_model, class_name, flatten, map_tensors, network_of, producing_layer
from kerascnn.runtime import IS_KERAS3, keras

#: Config keys that pin a layer to the input shape of the model it was first built in.
_SHAPE_KEYS = ("batch_input_shape", "input_shape", "batch_shape")


class Edit:
    """What a surgery changes. The base class changes nothing: :func:`rewrite` then copies the model.

    Subclasses override :meth:`plan` (look at one graph before it is rebuilt; called for
    the top model and for every nested model) and :meth:`call` (return the new outputs of
    one call, usually through :meth:`Rewriter.copy_call` or :meth:`Rewriter.call_layer`).
    """

    def plan(self, graph: Graph) -> None:
        """Inspect ``graph`` before it is rebuilt (default: nothing to do)."""

    def call(self, rewriter: "Rewriter", graph: Graph, call: Call, args, kwargs):
        """The new outputs of ``call``; ``args`` and ``kwargs`` already hold the new tensors."""
        return rewriter.copy_call(call, args, kwargs)

    def finish(self) -> None:
        """Called once the whole model is rebuilt (e.g. to complain that nothing matched)."""


class Rewriter:
    """Rebuilds models for one :class:`Edit`; keeps the map from original layers to their copies."""

    def __init__(self, edit: Edit):
        self.edit = edit
        self._copies: dict = {}
        self._pending_weights: dict = {}
        self._nested: dict = {}
        self._keep: list = []  # the originals whose id() keys the maps above
        self._graphs: list[Graph] = []  # the graphs being rebuilt, innermost last
        self.new_input_shapes = False  # True while rebuilding for other input shapes
        self._tensor_maps: list[dict] = []  # id(original tensor) -> new tensor, per graph being rebuilt

    # -- layers -------------------------------------------------------------------------
    def copy_layer(self, layer, weights=None, **changes):
        """A new layer from ``layer``'s config (with ``changes``), given ``weights`` at its first call.

        ``weights`` defaults to the original's; the copy of a layer is made once, so a
        shared layer stays shared. Layers whose config cannot be read back and that have no
        weights (some Lambda-like layers) are reused as they are.
        """
        key = id(layer)
        if key in self._copies:
            return self._copies[key]
        config = layer.get_config() if hasattr(layer, "get_config") else None
        restore = {}
        try:
            config = dict(config)
            for shape_key in _SHAPE_KEYS:
                config.pop(shape_key, None)
            config.update(changes)
            if type(layer).__module__.startswith(("keras.", "tf_keras.")):
                # The weights are overwritten at once: skip drawing random ones (seconds for a
                # ResNet), and give the copy its real initializers back after set_weights.
                restore = {k: v for k, v in config.items() if k.endswith("_initializer") and hasattr(layer, k)}
                config.update({k: "zeros" for k in restore})
            copy = type(layer).from_config(config)
        except Exception as error:  # noqa: BLE001 - any failure means "cannot be copied"
            if changes or layer.weights:
                raise ValueError(
                    f"layer {layer.name!r} ({class_name(layer)}) cannot be copied from its config "
                    f"({type(error).__name__}: {error}); give it a get_config() that from_config() "
                    "accepts (and register it as serializable) to use it in model surgery."
                ) from error
            copy, restore = layer, {}
        self._keep.append(layer)
        self._copies[key] = copy
        weights = layer.get_weights() if weights is None else list(weights)
        self._pending_weights[id(copy)] = (layer, weights, restore)
        return copy

    def call_layer(self, layer, call: Call, args, kwargs):
        """Call ``layer`` (a copy or replacement of ``call.layer``) on the new tensors, then set its weights."""
        try:
            outputs = layer(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - reported with the layer's name
            shapes = [tuple(t.shape) for t in flatten((args, kwargs)) if hasattr(t, "shape")]
            hint = (
                " The model may not work at this input size: a layer before this one (a Reshape, a "
                "TensorFlow operation, a positional embedding...) can keep the old size in its configuration."
                if self.new_input_shapes else ""
            )
            raise ValueError(
                f"layer {call.name!r} ({call.kind}) cannot be called on the rewritten inputs of shape "
                f"{', '.join(map(str, shapes))}: {type(error).__name__}: {str(error).rstrip('.')}.{hint}"
            ) from error
        pending = self._pending_weights.pop(id(layer), None)
        if pending is not None and layer is not pending[0]:
            original, weights, restore = pending
            set_weights_checked(layer, weights, call, self._graphs[-1])
            for attribute, initializer in restore.items():
                setattr(layer, attribute, keras.initializers.get(initializer))
        return outputs

    def copy_call(self, call: Call, args, kwargs):
        """The default for a call: call a copy of its layer (or the rebuilt nested model)."""
        layer = call.layer
        if network_of(layer) is not None:
            return self.call_nested(call, args, kwargs)
        if IS_KERAS3 and not isinstance(layer, keras.layers.Layer):
            return layer(*args, **kwargs)  # a stateless keras.ops operation
        return self.call_layer(self.copy_layer(layer), call, args, kwargs)

    def call_nested(self, call: Call, args, kwargs):
        """Rebuild the nested model of ``call`` with the same edit and call it on the new tensors."""
        model = call.layer
        new_inputs, old_inputs = flatten((args, kwargs)), flatten((call.args, call.kwargs))
        shapes = []
        for inner, new, old in zip(network_of(model).inputs, new_inputs, old_inputs):
            same = tuple(getattr(new, "shape", ())) == tuple(getattr(old, "shape", ()))
            shapes.append(tuple(inner.shape[1:]) if same else tuple(new.shape[1:]))
        key = (id(model), tuple(shapes))
        if key not in self._nested:
            self._keep.append(model)
            self._nested[key] = self.rebuild(model, shapes)
        return self.call_layer(self._nested[key], call, args, kwargs)

    def new_tensor(self, original):
        """The tensor of the new model that stands for ``original`` (an input of the call being rebuilt)."""
        return self._tensor_maps[-1][id(original)]

    # -- graphs -------------------------------------------------------------------------
    def rebuild(self, model, input_shapes=None, name=None):
        """A new functional model: ``model``'s graph with every call passed through the edit."""
        graph = Graph(model)
        self._keep.append(graph)  # edits key their plans by id(call): keep every call alive
        self.edit.plan(graph)
        originals = graph.inputs
        if input_shapes is None:
            input_shapes = [tuple(t.shape[1:]) for t in originals]
        elif not self._graphs:
            self.new_input_shapes = [tuple(s) for s in input_shapes] != [tuple(t.shape[1:]) for t in originals]
        inputs = [
            keras.Input(shape=shape, dtype=original.dtype, name=_input_name(original))
            for original, shape in zip(originals, input_shapes)
        ]
        tensors = {id(old): new for old, new in zip(originals, inputs)}
        self._graphs.append(graph)
        self._tensor_maps.append(tensors)
        try:
            for call in graph.calls:
                args, kwargs = map_tensors((call.args, call.kwargs), tensors)
                outputs = flatten(self.edit.call(self, graph, call, args, kwargs))
                if len(outputs) != len(call.outputs):
                    raise ValueError(
                        f"the rewritten call of layer {call.name!r} gave {len(outputs)} outputs "
                        f"instead of {len(call.outputs)}."
                    )
                tensors.update({id(old): new for old, new in zip(call.outputs, outputs)})
        finally:
            self._graphs.pop()
            self._tensor_maps.pop()
        return keras.Model(
            map_tensors(graph.structure("inputs"), tensors),
            map_tensors(graph.structure("outputs"), tensors),
            name=name or model.name,
        )


def _input_name(tensor) -> str | None:
    return getattr(producing_layer(tensor), "name", None)


def set_weights_checked(layer, weights, call: Call, graph: Graph | None = None) -> None:
    """``layer.set_weights(weights)``, or a ValueError naming the layer when the shapes changed.

    The usual cause is a Dense layer after Flatten whose input size follows the image size;
    the message then names both layers.
    """
    expected = [tuple(w.shape) for w in layer.weights]
    given = [tuple(getattr(w, "shape", ())) for w in weights]
    if expected == given:
        layer.set_weights(weights)
        return
    reason = ""
    flatten_call = _flatten_before(graph, call) if graph is not None else None
    if flatten_call is not None:
        reason = (
            f" It follows the Flatten layer {flatten_call.name!r}, whose size depends on the image size: "
            "use global pooling instead of Flatten (e.g. pooling='avg' with include_top=False), "
            "or keep the original input shape."
        )
    raise ValueError(
        f"layer {call.name!r} ({call.kind}) keeps its weights only if their shapes stay the same, "
        f"but after the change it has weights of shape {expected} instead of {given}.{reason}"
    )


def _flatten_before(graph: Graph, call: Call, steps: int = 8) -> Call | None:
    """The Flatten call upstream of ``call`` through single-input layers (Dropout...), if any."""
    for _ in range(steps):
        if len(call.inputs) != 1:
            return None
        call = graph.producer(call.inputs[0])
        if call is None:
            return None
        if call.kind == "Flatten":
            return call
    return None


def rewrite(model, edit: Edit, input_shapes=None, name: str | None = None):
    """Rebuild ``model`` through ``edit`` (see :class:`Edit`); ``input_shapes`` replaces the inputs' shapes.

    Returns a new, uncompiled functional model; ``model`` is left unchanged.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((8, 8, 3))
        >>> model = keras.Model(x, keras.layers.Conv2D(4, 3)(x))
        >>> tuple(rewrite(model, Edit(), input_shapes=[(16, 16, 3)]).output.shape)
        (None, 14, 14, 4)
    """
    check_model(model)
    rewriter = Rewriter(edit)
    new = rewriter.rebuild(model, input_shapes, name)
    edit.finish()
    return new
