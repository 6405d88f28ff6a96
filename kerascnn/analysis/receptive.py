"""Receptive fields: how much of the input each layer's output sees.

For every layer, per spatial axis, three numbers follow from the standard recurrences
(Dang Ha The Hien, "A guide to receptive field arithmetic for CNNs", 2017; Araujo,
Norris & Sim, "Computing receptive fields of convolutional neural networks", Distill 2019):

* size ``r``: ``r_out = r_in + (k - 1) * j_in``, with the effective kernel
  ``k = d * (k_0 - 1) + 1`` for dilation ``d``;
* jump ``j`` (the effective stride, distance in input pixels between neighbouring
  outputs): ``j_out = j_in * s``;
* start (centre of the first output's field, in input pixel coordinates where pixel
  ``i`` spans ``[i, i + 1)``): ``start_out = start_in + ((k - 1) / 2 - p_before) * j_in``,
  with ``start = 0.5`` at the input. ``p_before`` is the padding before the first pixel:
  0 for 'valid', ``floor(P / 2)`` for 'same' (TensorFlow puts the odd pixel after).
  Araujo et al.'s left edge of the first field is ``start - r / 2``.

Element-wise layers keep their input's field; a layer with several inputs (a residual
add, an inception concatenation) takes the largest branch. After global pooling or
Flatten every output sees the whole input (``covers_input``). Layers the recurrences do
not describe (reshapes to other layouts, upsampling, transposed convolutions) get ``None``.

Examples:
    >>> from kerascnn.runtime import keras
    >>> from kerascnn.analysis import receptive_field
    >>> x = keras.Input((32, 32, 3))
    >>> y = keras.layers.Conv2D(8, 3, name="a")(x)
    >>> y = keras.layers.Conv2D(8, 3, name="b")(y)
    >>> receptive_field(keras.Model(x, y))["b"].size    # two 3x3 convolutions see 5x5
    (5, 5)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kerascnn.analysis.graph import TensorKeys, input_keys, walk

WINDOWED = {
    "conv1d", "conv2d", "conv3d", "convolution1d", "convolution2d", "convolution3d",
    "depthwiseconv1d", "depthwiseconv2d", "separableconv1d", "separableconv2d",
    "maxpooling1d", "maxpooling2d", "maxpooling3d", "averagepooling1d", "averagepooling2d",
    "averagepooling3d", "locallyconnected1d", "locallyconnected2d",
}
PADDING = {"zeropadding1d", "zeropadding2d", "zeropadding3d"}
CROPPING = {"cropping1d", "cropping2d", "cropping3d"}
COVERS_INPUT = {
    "globalaveragepooling1d", "globalaveragepooling2d", "globalaveragepooling3d",
    "globalmaxpooling1d", "globalmaxpooling2d", "globalmaxpooling3d", "flatten",
}


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of a layer's output, one value per spatial axis (height, width, ...).

    ``covers_input`` is True when every output value depends on the whole input (after
    global pooling or Flatten); size, jump and start are then ``None``.
    """

    size: tuple | None
    jump: tuple | None
    start: tuple | None
    covers_input: bool = False

    def __str__(self) -> str:
        if self.covers_input:
            return "whole input"
        return _fmt(self.size)


def _fmt(values) -> str:
    values = tuple(int(v) if float(v).is_integer() else v for v in values)
    return str(values[0]) if len(set(values)) == 1 else "x".join(str(v) for v in values)


WHOLE_INPUT = ReceptiveField(None, None, None, covers_input=True)


def _tuple(value, n):
    return tuple(value) if isinstance(value, (list, tuple)) else (value,) * n


def spatial_sizes(shape, layer=None) -> tuple:
    """The spatial sizes of a per-sample shape (channels last unless the layer says otherwise)."""
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        return tuple(shape[1:])
    return tuple(shape[:-1])


def window(layer):
    """(kernel, stride, dilation, padding) per spatial axis of a convolution or pooling layer."""
    kernel = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size")
    n = len(kernel) if isinstance(kernel, (list, tuple)) else 1
    kernel = _tuple(kernel, n)
    strides = _tuple(getattr(layer, "strides", None) or kernel, n)
    dilation = _tuple(getattr(layer, "dilation_rate", 1) or 1, n)
    return kernel, strides, dilation, str(getattr(layer, "padding", "valid")).lower()


def same_padding(size: int, kernel: int, stride: int) -> tuple:
    """(before, after) padding of 'same': the total P makes O = ceil(I / S), the odd pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def padding_amounts(layer, sizes) -> list:
    """(before, after) per spatial axis for a windowed layer at input ``sizes``."""
    kernel, strides, dilation, padding = window(layer)
    amounts = []
    for size, k, s, d in zip(sizes, kernel, strides, dilation):
        effective = d * (k - 1) + 1
        if padding == "same":
            amounts.append(same_padding(size, effective, s))
        elif padding == "causal":
            amounts.append((effective - 1, 0))
        else:
            amounts.append((0, 0))
    return amounts


def pad_pairs(value, n) -> list:
    """ZeroPadding / Cropping arguments as (before, after) per axis."""
    if isinstance(value, int):
        return [(value, value)] * n
    pairs = []
    for item in value:
        pairs.append(tuple(item) if isinstance(item, (list, tuple)) else (item, item))
    return pairs if len(pairs) == n else [tuple(value)] * n


def _largest(fields):
    known = [f for f in fields if f is not None]
    if any(f.covers_input for f in known):
        return WHOLE_INPUT
    if not known:
        return None
    return max(known, key=lambda f: (math.prod(f.size), f.jump))


def _propagate(step, fields):
    kind = step.kind
    field_in = _largest(fields)
    if kind in COVERS_INPUT:
        return WHOLE_INPUT
    if field_in is None or field_in.covers_input:
        return field_in
    in_shape, out_shape = step.input_shapes[0], step.output_shapes[0]
    if kind in WINDOWED:
        sizes = spatial_sizes(in_shape, step.layer)
        kernel, strides, dilation, _ = window(step.layer)
        pads = padding_amounts(step.layer, sizes)
        size, jump, start = [], [], []
        for axis, (k, s, d) in enumerate(zip(kernel, strides, dilation)):
            effective = d * (k - 1) + 1
            r, j, c = field_in.size[axis], field_in.jump[axis], field_in.start[axis]
            size.append(r + (effective - 1) * j)
            jump.append(j * s)
            start.append(c + ((effective - 1) / 2 - pads[axis][0]) * j)
        return ReceptiveField(tuple(size), tuple(jump), tuple(start))
    if kind in PADDING or kind in CROPPING:
        n = len(field_in.size)
        pairs = pad_pairs(step.layer.padding if kind in PADDING else step.layer.cropping, n)
        sign = -1 if kind in PADDING else 1
        start = tuple(c + sign * before * j
                      for c, j, (before, _) in zip(field_in.start, field_in.jump, pairs))
        return ReceptiveField(field_in.size, field_in.jump, start)
    # Anything else keeps the field if it keeps the spatial layout (element-wise, merges,
    # Dense on a feature map, BatchNorm, activations, dropout...).
    if len(in_shape) == len(out_shape) and in_shape[:-1] == out_shape[:-1]:
        return field_in
    return None


def receptive_field(model) -> dict:
    """Receptive field of every layer's output: ``{layer name: ReceptiveField or None}``.

    A VGG-style stack: two 3x3 convolutions, then a 2x2 pooling doubles the jump.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> from kerascnn.analysis import receptive_field
        >>> x = keras.Input((32, 32, 3))
        >>> y = keras.layers.Conv2D(8, 3, padding="same", name="c1")(x)
        >>> y = keras.layers.Conv2D(8, 3, padding="same", name="c2")(y)
        >>> y = keras.layers.MaxPooling2D(2, name="pool")(y)
        >>> y = keras.layers.Conv2D(8, 3, padding="same", name="c3")(y)
        >>> fields = receptive_field(keras.Model(x, y))
        >>> fields["pool"].size, fields["pool"].jump, fields["c3"].size
        ((6, 6), (2, 2), (10, 10))
    """
    graph = TensorKeys()
    fields: dict = {}
    for key, shape in input_keys(model, graph):
        n = len(shape) - 1
        fields[key] = ReceptiveField((1,) * n, (1,) * n, (0.5,) * n) if n >= 1 else None
    result = {}
    for step in walk(model, graph):
        field = _propagate(step, [fields.get(k) for k in step.input_keys]) if step.input_keys else None
        for key in step.output_keys:
            fields[key] = field
        result[step.name] = field
    return result
