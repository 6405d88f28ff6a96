"""Argument checks shared by every public function.

Each check raises a ``ValueError`` (or ``TypeError``) whose message names the argument,
the value received and what would be accepted, so that bad input never surfaces as a
traceback from deep inside TensorFlow.

Examples:
    >>> from kerascnn.errors import check_choice
    >>> check_choice("pooling", "avg", ("avg", "max", None))
    'avg'
"""

from __future__ import annotations

import difflib
import numbers
from typing import Iterable, Sequence


class WeightsError(ValueError):
    """Pretrained weights could not be obtained or do not fit; the message says what to do.

    kerascnn never hands back a model with random weights when weights were asked for: every
    failure is one of these. Catch ``WeightsError`` for all of them, or a subclass.

    Examples:
        >>> issubclass(WeightsDownloadError, WeightsError), issubclass(WeightsDownloadError, OSError)
        (True, True)
    """


class WeightsNotAvailable(WeightsError):
    """No pretrained set of that name for this model, or not for this configuration."""


class WeightsMismatchError(WeightsError):
    """A weights file or pretrained set does not fit the model (missing, extra or reshaped layers)."""


class WeightsDownloadError(WeightsError, OSError):
    """A weights file could not be downloaded, cached or read (network, cache folder, hash)."""


def closest(value: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The candidates that look most like ``value`` (for "did you mean" hints)."""
    candidates = list(candidates)
    lowered = {c.lower(): c for c in candidates}
    found = difflib.get_close_matches(str(value).lower(), list(lowered), n=n, cutoff=0.5)
    return [lowered[f] for f in found]


def unknown_name_error(argument: str, value, candidates: Iterable[str]) -> ValueError:
    """A ValueError for a name that is not one of ``candidates``, with suggestions."""
    candidates = sorted(candidates)
    near = closest(str(value), candidates)
    hint = f" Did you mean {', '.join(repr(n) for n in near)}?" if near else ""
    shown = ", ".join(candidates[:40]) + (", ..." if len(candidates) > 40 else "")
    return ValueError(f"Unknown {argument} {value!r}.{hint} Accepted: {shown}.")


def check_choice(argument: str, value, choices: Sequence):
    """Return ``value`` if it is one of ``choices``, else raise a ValueError naming them."""
    if value in choices:
        return value
    shown = ", ".join(repr(c) for c in choices)
    raise ValueError(f"{argument}={value!r} is not accepted; use one of {shown}.")


def check_int(argument: str, value, minimum: int | None = 1, allow_none: bool = False):
    """Return ``value`` as an int if it is an integer >= ``minimum``; raise otherwise.

    Booleans and floats (even 3.0) are refused: a float count is almost always a bug.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{argument} must be an integer"
            + (f" >= {minimum}" if minimum is not None else "")
            + f", got {value!r} ({type(value).__name__})."
        )
    if minimum is not None and value < minimum:
        raise ValueError(f"{argument} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def check_fraction(argument: str, value, low: float = 0.0, high: float = 1.0, inclusive_high=False):
    """Return ``value`` as a float in [low, high) (or [low, high]); raise otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{argument} must be a number in [{low}, {high}), got {value!r}.")
    ok = low <= value <= high if inclusive_high else low <= value < high
    if not ok:
        closing = "]" if inclusive_high else ")"
        raise ValueError(f"{argument} must be in [{low}, {high}{closing}, got {value!r}.")
    return float(value)


def check_input_shape(
    input_shape,
    min_size: int | tuple[int, int],
    model: str,
    channels: int | Sequence[int] | None = None,
    allow_none: bool = False,
) -> tuple:
    """Validate a channels-last ``(height, width, channels)`` input shape.

    ``min_size`` is the smallest side (or ``(height, width)``) the architecture accepts:
    below it some layer would produce an empty feature map. ``allow_none`` accepts None for
    height and width (any size, decided when the model is called), as keras.applications.

    Examples:
        >>> check_input_shape((224, 224, 3), 32, "vgg16")
        (224, 224, 3)
        >>> check_input_shape((None, None, 1), 32, "vgg16", allow_none=True)
        (None, None, 1)
    """
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(
            f"input_shape must be (height, width, channels) for {model}, got {input_shape!r}."
        )
    for axis, size in zip(("height", "width", "channels"), input_shape):
        if size is None and allow_none and axis != "channels":
            continue
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            either = " or None" if allow_none and axis != "channels" else ""
            raise ValueError(
                f"input_shape={tuple(input_shape)!r}: {axis} must be a positive integer{either}, got {size!r}."
            )
    height, width, depth = (None if s is None else int(s) for s in input_shape)
    min_h, min_w = (min_size, min_size) if isinstance(min_size, int) else min_size
    if (height is not None and height < min_h) or (width is not None and width < min_w):
        raise ValueError(
            f"input_shape={tuple(input_shape)!r} is too small for {model}: the minimum is "
            f"{min_h}x{min_w} (height x width); smaller inputs shrink a feature map to nothing."
        )
    if channels is not None:
        allowed = (channels,) if isinstance(channels, int) else tuple(channels)
        if depth not in allowed:
            raise ValueError(
                f"input_shape={tuple(input_shape)!r}: {model} needs {' or '.join(map(str, allowed))} "
                f"channels, got {depth}."
            )
    return height, width, depth
