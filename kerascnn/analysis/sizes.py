"""Output sizes from the textbook formula, next to the size Keras produced.

For a convolution or pooling window of size ``K`` (dilated: ``K = d * (K_0 - 1) + 1``),
stride ``S`` and padding ``P`` on each side of an input of size ``I``::

    O = floor((I - K + 2P) / S) + 1

'valid' means ``P = 0``. 'same' means: the padding is whatever makes ``O = ceil(I / S)``;
its total is ``max((O - 1) * S + K - I, 0)``, split with the odd pixel *after* the input
(TensorFlow's rule), so ``2P`` in the formula is that total, ``P_before + P_after``.
'causal' (1-D) pads ``K - 1`` before. ZeroPadding adds ``P_before + P_after``, Cropping
removes them, UpSampling multiplies by its factor.

Examples:
    >>> from kerascnn.analysis.sizes import conv_output_size
    >>> conv_output_size(227, 11, 4)         # AlexNet's conv1: floor((227 - 11) / 4) + 1
    55
    >>> conv_output_size(224, 7, 2, "same")  # ResNet's conv1: ceil(224 / 2)
    112
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kerascnn.analysis.graph import walk
from kerascnn.analysis.receptive import (
    CROPPING,
    PADDING,
    WINDOWED,
    pad_pairs,
    padding_amounts,
    same_padding,
    spatial_sizes,
    window,
)
from kerascnn.errors import check_choice, check_int

UPSAMPLING = {"upsampling1d", "upsampling2d", "upsampling3d"}


def conv_output_size(size: int, kernel: int, stride: int = 1, padding="valid", dilation: int = 1) -> int:
    """O = floor((I - K + 2P) / S) + 1 for one axis.

    ``padding`` is 'valid', 'same', 'causal' or an int P (the same on both sides).

    Examples:
        >>> conv_output_size(7, 3, 2, padding=1)   # floor((7 - 3 + 2) / 2) + 1
        4
    """
    size = check_int("size", size)
    kernel = check_int("kernel", kernel)
    stride = check_int("stride", stride)
    dilation = check_int("dilation", dilation)
    effective = dilation * (kernel - 1) + 1
    if isinstance(padding, str):
        check_choice("padding", padding, ("valid", "same", "causal"))
        total = {"valid": 0, "causal": effective - 1}.get(padding)
        if padding == "same":
            total = sum(same_padding(size, effective, stride))
    else:
        total = 2 * check_int("padding", padding, minimum=0)
    return math.floor((size - effective + total) / stride) + 1


@dataclass(frozen=True)
class OutputSize:
    """One layer's spatial output, from the formula and from Keras, with the arithmetic spelled out."""

    name: str
    class_name: str
    input_size: tuple
    kernel: tuple
    stride: tuple
    padding: str
    pads: tuple
    formula_size: tuple
    keras_size: tuple
    explanation: str

    @property
    def matches(self) -> bool:
        return self.formula_size == self.keras_size


def _explain_window(size, k, s, padding, pads) -> str:
    before, after = pads
    total = before + after
    text = f"floor(({size} - {k} + {total}) / {s}) + 1 = {math.floor((size - k + total) / s) + 1}"
    if padding == "same":
        return f"same: P = {total} ({before} before, {after} after) so that O = ceil({size}/{s}); " + text
    if padding == "causal":
        return f"causal: P = {total} before; " + text
    return text


def _row(step):
    kind = step.kind
    layer = step.layer
    sizes_in = spatial_sizes(step.input_shapes[0], layer)
    sizes_out = spatial_sizes(step.output_shapes[0], layer)
    n = len(sizes_in)
    if kind in WINDOWED:
        kernel, strides, dilation, padding = window(layer)
        effective = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        pads = padding_amounts(layer, sizes_in)
        formula = tuple(math.floor((i - k + sum(p)) / s) + 1
                        for i, k, s, p in zip(sizes_in, effective, strides, pads))
        explanation = "; ".join(_explain_window(i, k, s, padding, p)
                                for i, k, s, p in zip(sizes_in, effective, strides, pads))
        return OutputSize(step.name, step.class_name, sizes_in, effective, tuple(strides), padding,
                          tuple(pads), formula, sizes_out, explanation)
    if kind in PADDING or kind in CROPPING:
        pairs = pad_pairs(layer.padding if kind in PADDING else layer.cropping, n)
        sign = 1 if kind in PADDING else -1
        formula = tuple(i + sign * (b + a) for i, (b, a) in zip(sizes_in, pairs))
        word = "+" if sign > 0 else "-"
        explanation = "; ".join(f"{i} {word} {b} {word} {a} = {o}"
                                for i, (b, a), o in zip(sizes_in, pairs, formula))
        return OutputSize(step.name, step.class_name, sizes_in, (1,) * n, (1,) * n,
                          "padding" if sign > 0 else "cropping", tuple(pairs), formula, sizes_out,
                          explanation)
    if kind in UPSAMPLING:
        factors = layer.size if isinstance(layer.size, (list, tuple)) else (layer.size,) * n
        formula = tuple(i * f for i, f in zip(sizes_in, factors))
        explanation = "; ".join(f"{i} x {f} = {o}" for i, f, o in zip(sizes_in, factors, formula))
        return OutputSize(step.name, step.class_name, sizes_in, (1,) * n, (1,) * n, "upsampling",
                          ((0, 0),) * n, formula, sizes_out, explanation)
    return None


def output_sizes(model) -> list:
    """Every convolution, pooling, padding, cropping and upsampling layer's spatial output size.

    Each :class:`OutputSize` holds the input size, the (dilated) kernel, the stride, the
    padding actually applied (before, after), the size from the formula, the size Keras
    produced, and the arithmetic as text. ``row.matches`` compares the two sizes.

    Examples:
        >>> import kerascnn
        >>> from kerascnn.analysis import output_sizes
        >>> rows = output_sizes(kerascnn.lenet5())
        >>> rows[0].explanation
        'floor((32 - 5 + 0) / 1) + 1 = 28; floor((32 - 5 + 0) / 1) + 1 = 28'
        >>> for row in rows[:2]:
        ...     print(row.name, row.formula_size, row.keras_size)
        c1_conv (28, 28) (28, 28)
        s2_pool (14, 14) (14, 14)
    """
    rows = []
    for step in walk(model):
        if not step.input_shapes or not step.output_shapes:
            continue
        row = _row(step)
        if row is not None:
            rows.append(row)
    return rows
