"""Freeze and unfreeze a backbone the ways people do, and report what is trainable.

A *plan* sets a boundary in the backbone's layer list (``backbone.layers``, the list people
index with ``base.layers[:80]``): the layers below it are frozen, the layers from it on are
trainable. ``freeze`` and ``unfreeze`` name the boundary from either side:

=================================  ==========================================================
call                               layers frozen (the rest of the backbone trainable)
=================================  ==========================================================
``freeze(m, first=80)``            ``layers[:80]``
``freeze(m, until="stack3_")``     every layer before the first one named ``stack3_...``
``freeze(m, fraction=0.5)``        the first half
``freeze(m, all=True)``            all of them (the head stays trainable)
``unfreeze(m, last=20)``           all but the last 20
``unfreeze(m, from_layer="x")``    every layer before ``x`` (``x`` and above train)
``unfreeze(m, fraction=0.25)``     all but the last quarter
``unfreeze(m, all=True)``          none
=================================  ==========================================================

BatchNormalization layers stay frozen whatever the plan (``batchnorm=True`` trains them):
with a few thousand images, re-estimating their statistics or scales wrecks pretrained
features. Layers outside the backbone (the head) are always left trainable. Recompile after
changing what is trainable (:func:`kerascnn.transfer.fine_tune` does).

Examples:
    >>> from kerascnn.runtime import keras
    >>> base = keras.Sequential([keras.Input((4,))] + [keras.layers.Dense(4, name=f"d{i}") for i in range(4)])
    >>> _ = freeze(base, first=2)
    >>> [layer.trainable for layer in base.layers]
    [False, False, True, True]
    >>> trainable_report(base).trainable_variables   # 2 Dense layers x (kernel, bias)
    4
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from kerascnn.errors import check_fraction, check_int, unknown_name_error
from kerascnn.runtime import keras

PLAN_KINDS = ("first", "until", "fraction", "all", "none", "last", "from")


def get_backbone(model):
    """The backbone of a model built by :func:`kerascnn.transfer.build` (its nested model), else ``model``."""
    name = getattr(model, "backbone_name", None)
    if name:
        return model.get_layer(name)
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return nested[0] if len(nested) == 1 else model


def _is_batchnorm(layer) -> bool:
    return isinstance(layer, keras.layers.BatchNormalization) or "BatchNorm" in type(layer).__name__


def _boundary_of_name(layers, name: str, argument: str) -> int:
    for index, layer in enumerate(layers):
        if layer.name == name:
            return index
    for index, layer in enumerate(layers):  # a prefix names a block: "stack3_" or "conv4_"
        if layer.name.startswith(name):
            return index
    raise unknown_name_error(argument, name, [layer.name for layer in layers])


def frozen_count(layers, first=None, until=None, fraction=None, all=None, last=None, from_layer=None) -> int:
    """How many leading layers a plan freezes (exactly one selector must be given)."""
    given = {k: v for k, v in dict(first=first, until=until, fraction=fraction, all=all, last=last,
                                     from_layer=from_layer).items() if v is not None and v is not False}
    if len(given) != 1:
        raise ValueError("give exactly one of first=N, until='layer', fraction=F, all=True "
                         f"(freeze) or last=N, from_layer='layer', fraction=F, all=True (unfreeze); got {given or 'none'}.")
    total = len(layers)
    if first is not None:
        return min(check_int("first", first, minimum=0), total)
    if last is not None:
        return max(total - check_int("last", last, minimum=0), 0)
    if until is not None:
        return _boundary_of_name(layers, until, "until")
    if from_layer is not None:
        return _boundary_of_name(layers, from_layer, "from_layer")
    if fraction is not None:
        return int(round(check_fraction("fraction", fraction, inclusive_high=True) * total))
    return total


def set_frozen(model, count: int, batchnorm: bool = False):
    """Freeze the first ``count`` layers of the backbone of ``model``, make the others trainable."""
    base = get_backbone(model)
    layers = base.layers
    base.trainable = True
    for index, layer in enumerate(layers):
        layer.trainable = index >= count and (batchnorm or not _is_batchnorm(layer))
    if count >= len(layers):
        base.trainable = False
    return model


def freeze(model, first=None, until=None, fraction=None, all=None, batchnorm: bool = False):
    """Freeze the early layers of the backbone of ``model`` (see the module's table); returns ``model``."""
    count = frozen_count(get_backbone(model).layers, first=first, until=until, fraction=fraction, all=all)
    return set_frozen(model, count, batchnorm)


def unfreeze(model, last=None, from_layer=None, fraction=None, all=None, batchnorm: bool = False):
    """Make the top of the backbone of ``model`` trainable (see the module's table); returns ``model``.

    ``fraction`` is the trainable share, from the top.
    """
    layers = get_backbone(model).layers
    if fraction is not None:
        fraction = 1.0 - check_fraction("fraction", fraction, inclusive_high=True)
    count = frozen_count(layers, last=last, from_layer=from_layer, fraction=fraction, all=all)
    return set_frozen(model, 0 if all else count, batchnorm)


def parse_plan(plan):
    """A freeze plan from the forms ``fine_tune`` and the command line accept, as keyword arguments of :func:`freeze`.

    ``"all"``/``True``, ``"none"``/``None``/``False``, ``"first:80"``, ``"until:stack3_"``,
    ``"fraction:0.5"``, ``"last:20"``, ``"from:stack4_"``; an int N (first N), a float (fraction).

    Examples:
        >>> parse_plan("first:80"), parse_plan(0.5), parse_plan("none")
        ({'first': 80}, {'fraction': 0.5}, {'first': 0})
    """
    if plan is None or plan is False or plan == "none":
        return {"first": 0}
    if plan is True or plan == "all":
        return {"all": True}
    if isinstance(plan, dict):
        return dict(plan)
    if isinstance(plan, bool):
        raise TypeError(f"freeze plan {plan!r} is not accepted.")
    if isinstance(plan, int):
        return {"first": plan}
    if isinstance(plan, float):
        return {"fraction": plan}
    if isinstance(plan, str):
        found = re.fullmatch(r"\s*(\w+)\s*:\s*(\S+)\s*", plan)
        if found and found.group(1) in PLAN_KINDS:
            kind, value = found.groups()
            if kind in ("first", "last"):
                if not value.isdigit():
                    raise ValueError(f"freeze plan {plan!r}: {kind} needs a layer count, e.g. '{kind}:80'.")
                return {kind: int(value)}
            if kind == "fraction":
                try:
                    return {"fraction": float(value)}
                except ValueError:
                    raise ValueError(f"freeze plan {plan!r}: fraction needs a number, e.g. 'fraction:0.5'.") from None
            return {"until" if kind == "until" else "from_layer": value}
    raise ValueError(f"freeze plan {plan!r} is not accepted; use 'all', 'none', 'first:N', 'until:LAYER', "
                     "'fraction:F', 'last:N' or 'from:LAYER' (or an int / a float).")


def apply_plan(model, plan, batchnorm: bool = False):
    """Apply a plan given in any form :func:`parse_plan` accepts; returns ``model``."""
    kwargs = parse_plan(plan)
    if "last" in kwargs or "from_layer" in kwargs:
        return unfreeze(model, batchnorm=batchnorm, **kwargs)
    return freeze(model, batchnorm=batchnorm, **kwargs)


@dataclass(frozen=True)
class TrainableReport:
    """What ``len(model.trainable_variables)`` users check, and more."""

    trainable_variables: int
    non_trainable_variables: int
    trainable_params: int
    non_trainable_params: int
    frozen_layers: int
    backbone_layers: int

    def __str__(self) -> str:
        return (f"trainable: {self.trainable_variables} variables, {self.trainable_params:,} params; "
                f"non-trainable: {self.non_trainable_variables} variables, {self.non_trainable_params:,} params; "
                f"backbone layers frozen: {self.frozen_layers}/{self.backbone_layers}")

    def compare(self, after: "TrainableReport") -> str:
        """A two-line before/after text."""
        return f"before: {self}\nafter:  {after}"


def _params(variables) -> int:
    return int(sum(int(np.prod(v.shape)) for v in variables))


def trainable_report(model) -> TrainableReport:
    """Trainable / non-trainable variables and parameters of ``model``, and its frozen backbone layers.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((4,))
        >>> model = keras.Model(x, keras.layers.Dense(2)(x))
        >>> report = trainable_report(model)
        >>> report.trainable_params, report.non_trainable_params   # 4*2 + 2
        (10, 0)
    """
    base = get_backbone(model)
    layers = base.layers
    frozen = sum(1 for layer in layers if not (layer.trainable and base.trainable))
    return TrainableReport(len(model.trainable_weights), len(model.non_trainable_weights),
                           _params(model.trainable_weights), _params(model.non_trainable_weights),
                           frozen, len(layers))
