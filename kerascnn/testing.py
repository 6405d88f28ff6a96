"""Helpers for users' CI: assert a model's parameter counts, with a readable diff on failure.

Examples:
    >>> import kerascnn
    >>> from kerascnn.testing import assert_params
    >>> assert_params(kerascnn.lenet5(), total=61_706, trainable=61_706, non_trainable=0)
"""

from __future__ import annotations

import math
from collections import defaultdict

from kerascnn.errors import check_int


def _size(weight) -> int:
    return math.prod(tuple(weight.shape))


def parameter_counts(model) -> dict:
    """``{"total": ..., "trainable": ..., "non_trainable": ...}`` as Keras counts them.

    Non-trainable parameters are e.g. BatchNorm's moving mean and variance and the weights
    of frozen layers.

    Examples:
        >>> import kerascnn
        >>> parameter_counts(kerascnn.lenet5())
        {'total': 61706, 'trainable': 61706, 'non_trainable': 0}
    """
    trainable = sum(_size(w) for w in model.trainable_weights)
    non_trainable = sum(_size(w) for w in model.non_trainable_weights)
    return {"total": trainable + non_trainable, "trainable": trainable, "non_trainable": non_trainable}


def _layer_table(model, max_layers: int) -> list:
    rows = []
    for layer in model.layers:
        trainable = sum(_size(w) for w in layer.trainable_weights)
        frozen = sum(_size(w) for w in layer.non_trainable_weights)
        if trainable or frozen:
            rows.append((layer.name, type(layer).__name__, trainable, frozen))
    by_class = defaultdict(lambda: [0, 0, 0])
    for _, cls, trainable, frozen in rows:
        by_class[cls][0] += 1
        by_class[cls][1] += trainable
        by_class[cls][2] += frozen
    lines = ["  parameters by layer class:"]
    for cls, (count, trainable, frozen) in sorted(by_class.items(), key=lambda kv: -(kv[1][1] + kv[1][2])):
        lines.append(f"    {cls:<28} {count:>4} layer(s) {trainable:>14,} trainable "
                     f"{frozen:>12,} non-trainable")
    shown = sorted(rows, key=lambda r: -(r[2] + r[3]))[:max_layers]
    lines.append(f"  layers holding parameters ({len(shown)} largest of {len(rows)}):")
    width = max((len(r[0]) for r in shown), default=5)
    for name, cls, trainable, frozen in shown:
        lines.append(f"    {name:<{width}} {cls:<22} {trainable:>13,} trainable {frozen:>11,} non-trainable")
    return lines


def _hints(model, difference: int) -> list:
    """Known reasons for a difference of exactly this size (frameworks count differently)."""
    bn_stats = sum(_size(w) for layer in model.layers for w in layer.non_trainable_weights
                   if "normalization" in type(layer).__name__.lower())
    conv_bias = sum(_size(layer.bias) for layer in model.layers
                    if "conv" in type(layer).__name__.lower() and getattr(layer, "bias", None) is not None)
    hints = []
    if bn_stats and abs(difference) == bn_stats:
        hints.append(f"the difference equals the BatchNorm moving statistics ({bn_stats:,}): PyTorch's "
                     "num_params does not count them, Keras count_params() does")
    if conv_bias and abs(difference) == conv_bias:
        hints.append(f"the difference equals the convolution biases ({conv_bias:,}): torchvision's "
                     "ResNet/GoogLeNet convolutions have none (use_bias=False before BatchNorm)")
    if bn_stats and conv_bias and abs(difference) == bn_stats + conv_bias:
        hints.append("the difference equals convolution biases + BatchNorm statistics "
                     f"({conv_bias + bn_stats:,})")
    return hints


def assert_params(model, total=None, trainable=None, non_trainable=None, max_layers: int = 25) -> None:
    """Assert a model's parameter counts; on a mismatch, say where the parameters are.

    Each given count is compared with Keras's; the AssertionError lists every mismatch
    with its difference, the parameters per layer class, the ``max_layers`` largest
    layers, and a hint when the difference is exactly the BatchNorm statistics or the
    convolution biases (the usual Keras-versus-PyTorch discrepancies).

    Examples:
        >>> import kerascnn
        >>> try:
        ...     assert_params(kerascnn.lenet5(), total=61_000)
        ... except AssertionError as error:
        ...     print(str(error).splitlines()[1])
          total: expected 61,000, got 61,706 (+706)
    """
    expected = {"total": total, "trainable": trainable, "non_trainable": non_trainable}
    for key, value in expected.items():
        check_int(key, value, minimum=0, allow_none=True)
    if all(value is None for value in expected.values()):
        raise ValueError("assert_params needs at least one of total=, trainable=, non_trainable=.")
    actual = parameter_counts(model)
    mismatches = [(key, value, actual[key]) for key, value in expected.items()
                  if value is not None and value != actual[key]]
    if not mismatches:
        return
    lines = [f"parameter counts of model {model.name!r} differ:"]
    for key, want, got in mismatches:
        lines.append(f"  {key}: expected {want:,}, got {got:,} ({got - want:+,})")
    lines.append(f"  (Keras counts: total {actual['total']:,} = trainable {actual['trainable']:,} + "
                 f"non-trainable {actual['non_trainable']:,})")
    for hint in _hints(model, mismatches[0][2] - mismatches[0][1]):
        lines.append(f"  hint: {hint}")
    lines.extend(_layer_table(model, max_layers))
    raise AssertionError("\n".join(lines))


def card_mismatches(model, card) -> list:
    """Differences between a built model and a :class:`kerascnn.ModelCard`'s counts, as text lines."""
    actual = parameter_counts(model)
    fields = {"total": card.params, "trainable": card.trainable_params,
              "non_trainable": card.non_trainable_params}
    return [f"{key}: card {want:,}, built {actual[key]:,} ({actual[key] - want:+,})"
            for key, want in fields.items() if want is not None and want != actual[key]]


def assert_matches_card(model, name: str | None = None) -> None:
    """Assert that ``model`` has the parameter counts of the reference card ``name`` (default: model.name).

    Examples:
        >>> import kerascnn
        >>> assert_matches_card(kerascnn.lenet5())
    """
    from kerascnn.registry import model_card  # noqa: PLC0415

    card = model_card(name or model.name)
    if card.params is None and card.trainable_params is None and card.non_trainable_params is None:
        raise ValueError(f"the reference card of {card.name!r} records no parameter counts to compare with.")
    assert_params(model, total=card.params, trainable=card.trainable_params,
                  non_trainable=card.non_trainable_params)
