"""Swap activations and change the input shape of a model, keeping every weight."""

from __future__ import annotations

import numbers

from kerascnn.runtime import keras
from kerascnn.graph import Graph, check_model, network_of
from kerascnn.surgery.rewrite import Edit, Rewriter, rewrite


def _activation(argument: str, value):
    try:
        function = keras.activations.get(value)
    except Exception as error:  # noqa: BLE001 - Keras raises ValueError or TypeError
        raise ValueError(
            f"{argument}={value!r} is not a Keras activation; use a name such as 'relu', 'swish', "
            "'gelu', 'elu', 'tanh', or an activation function."
        ) from error
    if function is None:
        raise ValueError(f"{argument}=None is not accepted; name an activation such as 'relu'.")
    return function


def _name(function) -> str:
    return getattr(function, "__name__", type(function).__name__)


def _plain_relu(layer) -> bool:
    config = layer.get_config()
    return (config.get("max_value") is None and not config.get("negative_slope")
            and not config.get("threshold"))


class ReplaceActivation(Edit):
    """The :class:`~kerascnn.surgery.rewrite.Edit` behind :func:`replace_activation`."""

    def __init__(self, old, new):
        self.old = _activation("old", old)
        self.new_value = new
        _activation("new", new)
        self.replaced: list[str] = []
        self.seen: set[str] = set()
        self._relu_layers: dict[int, object] = {}

    def _matches(self, function) -> bool:
        return function is self.old or _name(function) == _name(self.old)

    def call(self, rewriter: Rewriter, graph: Graph, call, args, kwargs):
        layer = call.layer
        function = getattr(layer, "activation", None) if "activation" in _config(layer) else None
        if function is not None:
            self.seen.add(_name(function))
            if self._matches(function):
                self.replaced.append(layer.name)
                new = rewriter.copy_layer(layer, activation=self.new_value)
                return rewriter.call_layer(new, call, args, kwargs)
        elif call.kind == "ReLU":
            self.seen.add("ReLU layer")
            if _name(self.old) == "relu" and _plain_relu(layer):
                self.replaced.append(layer.name)
                new = self._relu_layers.get(id(layer))
                if new is None:
                    new = keras.layers.Activation(self.new_value, name=layer.name)
                    self._relu_layers[id(layer)] = new
                return rewriter.call_layer(new, call, args, kwargs)
        return rewriter.copy_call(call, args, kwargs)

    def finish(self) -> None:
        if not self.replaced:
            seen = ", ".join(sorted(self.seen)) or "none"
            raise ValueError(
                f"old={_name(self.old)!r}: no layer of the model uses this activation "
                f"(activations found: {seen})."
            )


def _config(layer) -> dict:
    if not isinstance(layer, keras.layers.Layer) or network_of(layer) is not None:
        return {}
    try:
        return layer.get_config()
    except Exception:  # noqa: BLE001 - a layer without a config has no activation to swap
        return {}


def replace_activation(model, old="relu", new="swish"):
    """A new model where every use of the activation ``old`` computes ``new`` instead.

    Replaced: ``Activation`` layers, the ``activation`` of Conv / Dense (any layer with an
    ``activation`` argument), and plain ``ReLU`` layers (no ``max_value``, slope or
    threshold) when ``old`` is ``"relu"``. Layers keep their names (``conv1_relu`` now
    computes swish: names are what weight transfer and freezing rely on) and all weights
    are copied; the model passed in is unchanged and the new one is not compiled. Nested
    models are edited too.

    Raises:
        ValueError: ``old`` or ``new`` is not an activation, or no layer uses ``old``
            (the message lists the activations found).

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((8, 8, 3))
        >>> y = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(x)
        >>> swapped = replace_activation(keras.Model(x, y), "relu", "tanh")
        >>> swapped.get_layer("conv").get_config()["activation"]
        'tanh'
    """
    check_model(model)
    return rewrite(model, ReplaceActivation(old, new))


def _check_shape(argument: str, shape, original) -> tuple:
    rank = len(original)
    if not isinstance(shape, (tuple, list)) or len(shape) != rank:
        raise ValueError(
            f"{argument}={shape!r} must be a tuple of {rank} sizes without the batch axis, like the "
            f"model's current input shape {tuple(original)!r}."
        )
    for size in shape:
        if size is not None and (isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1):
            raise ValueError(f"{argument}={tuple(shape)!r}: every size must be a positive integer or None.")
    return tuple(None if s is None else int(s) for s in shape)


def change_input_shape(model, shape):
    """A new model with the same layers and weights on inputs of ``shape`` (without the batch axis).

    Convolutional layers do not depend on the image size, so a model trained at 224x224
    runs at 320x320 or 64x64 with the same weights. A Dense layer after ``Flatten`` does
    depend on it: then a ValueError names the Dense and Flatten layers (use a model with
    global pooling instead). Too small an input raises a ValueError naming the first layer
    whose output would be empty. For a model with several inputs pass a list of shapes.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((32, 32, 3))
        >>> y = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3)(x))
        >>> bigger = change_input_shape(keras.Model(x, y), (64, 48, 3))
        >>> tuple(bigger.input.shape), bigger.count_params()
        ((None, 64, 48, 3), 224)
    """
    check_model(model)
    originals = [tuple(t.shape[1:]) for t in network_of(model).inputs]
    several = len(originals) > 1
    if several:
        if not isinstance(shape, (list, tuple)) or len(shape) != len(originals) or not all(
            isinstance(s, (list, tuple)) for s in shape
        ):
            raise ValueError(
                f"shape={shape!r}: the model has {len(originals)} inputs, so give a list of "
                f"{len(originals)} shapes (currently {originals!r})."
            )
        shapes = [_check_shape(f"shape[{i}]", s, o) for i, (s, o) in enumerate(zip(shape, originals))]
    else:
        shapes = [_check_shape("shape", shape, originals[0])]
    return rewrite(model, Edit(), input_shapes=shapes)
