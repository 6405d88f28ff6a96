"""Test tiers for sweeps over many models: a few in the fast tier, the rest in the full tier.

A test parametrised over every registered model (or every depth of a family) keeps, in the
fast tier (a plain ``pytest``), the smallest model of each kind: per family, and apart for
the ``se_`` and ``_bn`` variants, which add layers of their own. The others are marked
``slow`` and run in the full tier (``tests/run_all.sh``), where every builder test runs in
every runtime. A new family falls into the right tier by itself: its smallest model is fast.
"""

from __future__ import annotations

import pytest

import kerascnn


def _kind(name: str, family: str) -> tuple:
    return family, name.startswith("se_"), name.endswith("_bn")


def representatives(names) -> set:
    """The smallest model (card parameters) of each kind among ``names``.

    Examples:
        >>> sorted(representatives(["resnet50", "resnet18", "se_resnet50", "vgg11_bn"]))
        ['resnet18', 'se_resnet50', 'vgg11_bn']
    """
    smallest = {}
    for name in names:
        card = kerascnn.model_card(name)
        kind = _kind(name, card.family)
        if kind not in smallest or card.params < kerascnn.model_card(smallest[kind]).params:
            smallest[kind] = name
    return set(smallest.values())


def sweep(names, keep=(), every_runtime: bool = False, values=None) -> list:
    """``pytest.param`` of each name: representatives (and ``keep``) fast, the others ``slow``.

    The others repeat the representatives' blocks, so no runtime-specific path is left to them:
    they are also ``one_runtime`` (Keras 3 / TensorFlow run only) unless ``every_runtime``.
    Every builder is still built in every runtime: ``tests/test_registry.py`` builds each
    registered model there and checks its card's parameter count. ``values``: the parameter
    of each name when it is not the name itself (a depth).

    Examples:
        >>> [param.values for param in sweep(["densenet121", "densenet169"], values=[121, 169])]
        [(121,), (169,)]
    """
    values = names if values is None else values
    fast = representatives(names) | set(keep)
    more = [pytest.mark.slow] + ([] if every_runtime else [pytest.mark.one_runtime])
    return [pytest.param(value, id=str(value), marks=() if name in fast else more)
            for name, value in zip(names, values, strict=True)]
