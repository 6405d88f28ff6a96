"""Multiply-accumulates (MACs) per layer and in total, for any functional Keras model.

Convention (the one torchvision's ``_ops`` metadata and the ResNet paper's "FLOPs" use):

* **MACs** are the multiply-accumulates of convolutions, dense layers and matrix products
  (``Conv*``, ``DepthwiseConv*``, ``SeparableConv*``, ``Conv*Transpose``, ``Dense``,
  ``EinsumDense``, ``MultiHeadAttention``, ``Dot``, ``matmul``/``einsum`` operations), one
  per weight per output position, biases not included. torchvision's counter maps
  exactly these (``aten.convolution``, ``mm``/``addmm``/``bmm``/``matmul``) and nothing else.
* **FLOPs** = 2 x MACs (:func:`flops`).
* **other ops** are counted separately and never added to MACs: about one operation per
  element for bias additions, BatchNorm and other normalisations, activations, softmax,
  element-wise merges (``(n - 1)`` per element for ``n`` inputs), a window's size per
  output of a pooling layer, one per input element for global pooling and reductions.
  No published table agrees on these; they are an order of magnitude, not a reference.

Layers that only move data (reshape, transpose, padding, cropping, concatenation,
dropout at inference...) cost nothing. Any other layer (``Lambda``, recurrent layers,
custom layers) is *unknown*: it is listed in :attr:`Cost.unknown` and a warning names it;
:func:`register_counter` teaches kerascnn its cost. A custom layer that computes a known kind
says so in a class attribute ``analysis_kind`` (see :func:`kerascnn.analysis.graph.kind_of`):
kerascnn's ``MatMul`` counts as ``matmul``, its ``BatchReshape`` as a ``reshape`` that moves
DaViT's windows into the batch axis.

Examples:
    >>> from kerascnn.runtime import keras
    >>> from kerascnn.analysis import macs
    >>> x = keras.Input((32, 32, 3))
    >>> y = keras.layers.Conv2D(16, 3, padding="same", name="conv")(x)
    >>> cost = macs(keras.Model(x, y))
    >>> cost.total == 32 * 32 * 16 * (3 * 3 * 3)
    True
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction
from dataclasses import dataclass, field

from kerascnn.analysis.graph import canonical, walk

# Layers and operations that only move or select data (cost 0 of both kinds).
ZERO_COST = {
    "flatten", "reshape", "permute", "repeatvector", "zeropadding1d", "zeropadding2d",
    "zeropadding3d", "cropping1d", "cropping2d", "cropping3d", "dropout", "spatialdropout1d",
    "spatialdropout2d", "spatialdropout3d", "gaussiandropout", "gaussiannoise", "alphadropout",
    "activityregularization", "concatenate", "concat", "identity", "masking", "embedding",
    "transpose", "split", "squeeze", "expanddims", "gather", "take", "getitem", "stack",
    "unstack", "slice", "stridedslice", "pad", "tile", "cast", "shape", "broadcastto",
    "moveaxis", "swapaxes", "reshapeop", "inputlayer", "centercrop", "repeat", "convert",
}
# One operation per output element.
ELEMENTWISE = {
    "batchnormalization", "layernormalization", "groupnormalization", "unitnormalization",
    "localresponsenormalization", "rescaling", "normalization", "activation", "relu", "relu6",
    "leakyrelu", "prelu", "elu", "softmax", "gelu", "sigmoid", "hardsigmoid", "tanh", "swish",
    "silu", "hardswish", "mish", "softplus", "exp", "log", "sqrt", "rsqrt", "square", "abs",
    "multiply", "add", "subtract", "truediv", "divide", "addv2", "mul", "sub", "biasadd",
    "power", "pow", "negative", "neg", "erf", "clip", "clipbyvalue", "maximum", "minimum",
    "average", "upsampling1d", "upsampling2d", "upsampling3d", "resizing", "resize",
    "thresholdedrelu", "softsign", "logsoftmax", "scale", "stochasticdepth", "dropblock",
}
# One operation per input element (global pooling and reductions).
REDUCTIONS = {
    "globalaveragepooling1d", "globalaveragepooling2d", "globalaveragepooling3d",
    "globalmaxpooling1d", "globalmaxpooling2d", "globalmaxpooling3d", "mean", "sum", "max",
    "min", "reducemean", "reducesum", "reducemax", "reducemin", "norm", "argmax",
}
MERGES = {"add", "subtract", "multiply", "average", "maximum", "minimum"}
POOLING = {
    "maxpooling1d", "maxpooling2d", "maxpooling3d", "averagepooling1d", "averagepooling2d",
    "averagepooling3d", "maxpool1d", "maxpool2d", "avgpool2d",
}

_COUNTERS: dict[str, object] = {}


@dataclass(frozen=True)
class LayerCost:
    """The cost of one call of a layer: MACs (or FLOPs), other ops, and whether it is known."""

    name: str
    class_name: str
    count: int
    other_ops: int
    output_shape: tuple
    known: bool = True


@dataclass
class Cost:
    """What :func:`macs` and :func:`flops` return: per-layer counts and the totals.

    ``unit`` is ``"MACs"`` or ``"FLOPs"``; ``total`` and ``per_layer`` are in that unit,
    ``other_ops`` is counted apart (see the module docstring); ``unknown`` names the
    layers whose cost kerascnn does not know (they are not silently zero: check it).
    """

    unit: str
    layers: list = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(layer.count for layer in self.layers)

    @property
    def other_ops(self) -> int:
        return sum(layer.other_ops for layer in self.layers)

    @property
    def per_layer(self) -> dict:
        """``{layer name: count}`` for every layer call, in graph order."""
        return {layer.name: layer.count for layer in self.layers}

    @property
    def unknown(self) -> list:
        """``"name (ClassName)"`` of every layer whose cost is unknown."""
        return [f"{layer.name} ({layer.class_name})" for layer in self.layers if not layer.known]

    @property
    def giga(self) -> float:
        """The total in billions (GMACs or GFLOPs)."""
        return self.total / 1e9

    def __int__(self) -> int:
        return self.total

    def __str__(self) -> str:
        note = f", {len(self.unknown)} unknown layer(s): {', '.join(self.unknown)}" if self.unknown else ""
        return f"{self.total:,} {self.unit} ({self.giga:.3f} G), {self.other_ops:,} other ops{note}"


def register_counter(layer_type, counter) -> None:
    """Teach :func:`macs` the cost of a layer class (or a TF function name).

    ``counter(layer, input_shapes, output_shapes)`` returns ``(macs, other_ops)``; shapes
    are per sample (no batch axis). ``layer_type`` is a class or its name.

    Examples:
        >>> from kerascnn.analysis import register_counter
        >>> register_counter("MyGate", lambda layer, ins, outs: (0, math.prod(outs[0])))
    """
    name = layer_type if isinstance(layer_type, str) else layer_type.__name__
    if not callable(counter):
        raise TypeError("counter must be callable (layer, input_shapes, output_shapes) -> "
                        f"(macs, other_ops), got {counter!r}.")
    _COUNTERS[canonical(name)] = counter


def _elements(shapes) -> int:
    return sum(math.prod(shape) for shape in shapes)


def _channels_last(layer) -> bool:
    return getattr(layer, "data_format", "channels_last") != "channels_first"


def _split(shape, layer):
    """(spatial sizes, channels) of a per-sample shape."""
    if _channels_last(layer):
        return shape[:-1], shape[-1]
    return shape[1:], shape[0]


def _extra(layer, outs) -> int:
    """Other ops of a convolution or dense layer: its bias and its built-in activation."""
    elements = _elements(outs)
    activation = getattr(getattr(layer, "activation", None), "__name__", "linear")
    has_bias = getattr(layer, "use_bias", False) or getattr(layer, "bias", None) is not None
    return elements * (bool(has_bias) + (activation != "linear"))


def _conv(layer, ins, outs):
    spatial, channels_out = _split(outs[0], layer)
    _, channels_in = _split(ins[0], layer)
    groups = getattr(layer, "groups", 1) or 1
    per_output = math.prod(layer.kernel_size) * (channels_in // groups)
    bias = _extra(layer, outs)
    return math.prod(spatial) * channels_out * per_output, bias


def _conv_transpose(layer, ins, outs):
    spatial_in, channels_in = _split(ins[0], layer)
    _, channels_out = _split(outs[0], layer)
    bias = _extra(layer, outs)
    return math.prod(spatial_in) * channels_in * math.prod(layer.kernel_size) * channels_out, bias


def _depthwise(layer, ins, outs):
    spatial, channels_out = _split(outs[0], layer)
    bias = _extra(layer, outs)
    return math.prod(spatial) * channels_out * math.prod(layer.kernel_size), bias


def _separable(layer, ins, outs):
    spatial, channels_out = _split(outs[0], layer)
    _, channels_in = _split(ins[0], layer)
    depth = channels_in * layer.depth_multiplier
    bias = _extra(layer, outs)
    return math.prod(spatial) * depth * (math.prod(layer.kernel_size) + channels_out), bias


def _dense(layer, ins, outs):
    bias = _extra(layer, outs)
    return math.prod(outs[0]) * ins[0][-1], bias


def _einsum_macs(equation: str, shapes) -> int:
    """Multiplications of an einsum: the product of the sizes of every index letter."""
    inputs = equation.replace(" ", "").split("->")[0].split(",")
    sizes = {}
    for letters, shape in zip(inputs, shapes):
        if "..." in letters:
            head, tail = letters.split("...")
            ellipsis = shape[len(head): len(shape) - len(tail)]
            for i, size in enumerate(ellipsis):
                sizes[f"_{i}"] = size
            letters = head + tail
            shape = tuple(shape[: len(head)]) + tuple(shape[len(shape) - len(tail):])
        for letter, size in zip(letters, shape):
            sizes[letter] = size or 1  # the batch axis (None) counts once
    return math.prod(sizes.values())


def _einsum_dense(layer, ins, outs):
    kernel = tuple(layer.kernel.shape)
    macs = _einsum_macs(layer.equation, [(None, *ins[0]), kernel])
    bias = _extra(layer, outs)
    return macs, bias


def _attention(layer, ins, outs):
    # query, value[, key]: (positions..., features); heads H, key_dim K, value_dim V.
    query, value = ins[0], ins[1] if len(ins) > 1 else ins[0]
    key = ins[2] if len(ins) > 2 else value
    config = layer.get_config()  # Keras 2 keeps these as private attributes
    heads = config["num_heads"]
    key_dim = config["key_dim"]
    value_dim = config.get("value_dim") or key_dim
    tq, tv = math.prod(query[:-1]), math.prod(value[:-1])
    out_features = outs[0][-1]
    projections = (tq * query[-1] * heads * key_dim + tv * key[-1] * heads * key_dim
                   + tv * value[-1] * heads * value_dim + tq * heads * value_dim * out_features)
    attention = heads * tq * tv * (key_dim + value_dim)
    softmax = heads * tq * tv
    return projections + attention, softmax + _elements(outs)


def _matmul(layer, ins, outs, args=(), kwargs=None):
    kwargs = kwargs or {}
    shapes = [tuple(getattr(a, "shape", ()))[1:] for a in args[:2] if hasattr(a, "shape")]
    a = shapes[0] if shapes else ins[0]
    inner = a[-2] if kwargs.get("transpose_a") or kwargs.get("adjoint_a") else a[-1]
    return math.prod(outs[0]) * inner, 0


def _einsum(layer, ins, outs, args=(), kwargs=None):
    equation = args[0] if args and isinstance(args[0], str) else (kwargs or {}).get("equation")
    if equation is None:  # keras.ops.einsum keeps the subscripts on the operation
        equation = getattr(layer, "subscripts", None)
    operands = [tuple(a.shape) for a in args if hasattr(a, "shape")]
    return _einsum_macs(equation, operands), 0


def _dot(layer, ins, outs):
    axes = layer.axes if isinstance(layer.axes, (list, tuple)) else (layer.axes, layer.axes)
    axis = axes[0] if axes[0] < 0 else axes[0] - 1  # per-sample shape has no batch axis
    return max(math.prod(outs[0]), 1) * ins[0][axis], 0


def _pooling(layer, ins, outs):
    return 0, _elements(outs) * math.prod(layer.pool_size)


_MAC_COUNTERS = {
    **dict.fromkeys(["conv1d", "conv2d", "conv3d", "convolution1d", "convolution2d", "convolution3d"], _conv),
    **dict.fromkeys(["conv1dtranspose", "conv2dtranspose", "conv3dtranspose"], _conv_transpose),
    **dict.fromkeys(["depthwiseconv1d", "depthwiseconv2d"], _depthwise),
    **dict.fromkeys(["separableconv1d", "separableconv2d"], _separable),
    "dense": _dense,
    "einsumdense": _einsum_dense,
    "multiheadattention": _attention,
    "dot": _dot,
}
_OP_COUNTERS = {"matmul": _matmul, "batchmatmul": _matmul, "batchmatmulv2": _matmul, "einsum": _einsum}


def _lookup(step):
    """The counter for a step: registered by the user, by class (walking the MRO), or by op kind."""
    names = [step.kind] + [canonical(c.__name__) for c in type(step.layer).__mro__]
    for name in names:
        if name in _COUNTERS:
            return _COUNTERS[name], False
        if name in _MAC_COUNTERS:
            return _MAC_COUNTERS[name], False
        if name in _OP_COUNTERS:
            return _OP_COUNTERS[name], True
        if name in ZERO_COST:
            return (lambda layer, ins, outs: (0, 0)), False
        if name in POOLING:
            return _pooling, False
        if name in MERGES:
            return (lambda layer, ins, outs: (0, (len(ins) - 1 or 1) * _elements(outs))), False
        if name in ELEMENTWISE:
            return (lambda layer, ins, outs: (0, _elements(outs))), False
        if name in REDUCTIONS:
            return (lambda layer, ins, outs: (0, _elements(ins))), False
    return None, False


def _cost_of(step, batch_factors: dict) -> LayerCost:
    """The step's cost, scaled by how many samples' worth its batch axis holds.

    Window attention (DaViT, Swin) reshapes a (None, 56, 56, C) map into (None, 49, C)
    windows: the batch axis then holds 64 windows per image. ``batch_factors`` follows
    that factor from tensor to tensor through reshapes, so counts stay per image.
    """
    factor = max((batch_factors.get(k, Fraction(1)) for k in step.input_keys), default=Fraction(1))
    out_factor = factor
    if step.kind == "reshape" and step.input_shapes and step.output_shapes:
        shapes = step.input_shapes[:1] + step.output_shapes[:1]
        if all(d is not None for s in shapes for d in s) and math.prod(shapes[1]):
            out_factor = factor * Fraction(math.prod(shapes[0]), math.prod(shapes[1]))
    for key in step.output_keys:
        batch_factors[key] = out_factor
    cost = _unscaled_cost(step)
    if factor == 1:
        return cost
    return LayerCost(cost.name, cost.class_name, int(cost.count * factor), int(cost.other_ops * factor),
                     cost.output_shape, cost.known)


def _unscaled_cost(step) -> LayerCost:
    counter, takes_call = _lookup(step)
    shape = step.output_shapes[0] if step.output_shapes else ()
    if counter is None:
        return LayerCost(step.name, step.class_name, 0, 0, shape, known=False)
    if any(d is None for s in step.input_shapes + step.output_shapes for d in s):
        raise ValueError(
            f"layer {step.name!r} ({step.class_name}) has an unknown dimension in "
            f"{step.input_shapes} -> {step.output_shapes}; MACs need a fixed input size: build "
            "the model with a complete input_shape, e.g. (224, 224, 3)."
        )
    if takes_call:
        count, other = counter(step.layer, step.input_shapes, step.output_shapes, step.args, step.kwargs)
    else:
        count, other = counter(step.layer, step.input_shapes, step.output_shapes)
    return LayerCost(step.name, step.class_name, int(count), int(other), shape)


def macs(model, warn: bool = True) -> Cost:
    """Multiply-accumulates of one forward pass of one sample, per layer and in total.

    Returns a :class:`Cost`: ``.total``, ``.per_layer`` (``{name: MACs}``), ``.other_ops``
    and ``.unknown``. Nested models are entered (their layers are named
    ``"inner_model/layer"``). A warning names any unknown layer unless ``warn=False``.

    Examples:
        >>> import kerascnn
        >>> from kerascnn.analysis import macs
        >>> cost = macs(kerascnn.lenet5())
        >>> cost.per_layer["c1_conv"] == 28 * 28 * 6 * 25   # 28x28 outputs, 6 filters, 5x5x1 weights each
        True
        >>> cost.total, cost.unknown
        (416520, [])
    """
    factors: dict = {}
    cost = Cost("MACs", [_cost_of(step, factors) for step in walk(model)])
    if warn and cost.unknown:
        warnings.warn(
            f"kerascnn.analysis.macs: the cost of {len(cost.unknown)} layer(s) is unknown and "
            f"not included: {', '.join(cost.unknown)}. Use kerascnn.analysis.register_counter to add it.",
            stacklevel=2,
        )
    return cost


def flops(model, warn: bool = True) -> Cost:
    """Floating-point operations = 2 x :func:`macs` (a multiply and an add per MAC).

    ``other_ops`` are kept as they are (they are single operations already).

    Examples:
        >>> import kerascnn
        >>> from kerascnn.analysis import flops, macs
        >>> model = kerascnn.lenet5()
        >>> flops(model).total == 2 * macs(model).total
        True
    """
    counted = macs(model, warn=warn)
    doubled = [LayerCost(c.name, c.class_name, 2 * c.count, c.other_ops, c.output_shape, c.known)
               for c in counted.layers]
    return Cost("FLOPs", doubled)
