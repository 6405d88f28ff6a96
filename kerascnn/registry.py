"""Every model by name: ``build``, ``list_models``, ``model_card``.

A builder registers itself with a *reference card*: the parameter counts expected at
the default configuration (Keras ``count_params``, BatchNorm statistics included), the
published operation count and accuracy, where each figure comes from, and the smallest
input the architecture accepts. One function can be registered under several names with
different bound arguments (``vgg16`` and ``vgg16_bn``).

Examples:
    >>> import kerascnn
    >>> "lenet5" in kerascnn.list_models("lenet*")
    True
    >>> kerascnn.model_card("lenet5").params
    61706
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Callable

from kerascnn.errors import unknown_name_error


@dataclass(frozen=True)
class ModelCard:
    """Reference facts about one registered model at its default configuration.

    ``params``, ``trainable_params`` and ``non_trainable_params`` are Keras counts
    (``model.count_params()``; non-trainable = BatchNorm moving statistics). ``gmacs``
    is the published multiply-accumulate count in billions, ``top1`` the published
    ImageNet top-1 accuracy in percent; ``sources`` says where each figure comes from.
    ``preprocessing`` names the input scaling the pretrained weights expect, a mode of
    :mod:`kerascnn.transfer.preprocessing` (``"raw01"``, pixels / 255, for models trained here).
    """

    name: str
    family: str
    description: str
    input_shape: tuple
    min_input_size: tuple
    num_classes: int
    params: int | None = None
    trainable_params: int | None = None
    non_trainable_params: int | None = None
    gmacs: float | None = None
    top1: float | None = None
    sources: dict = field(default_factory=dict)
    pretrained: tuple = ()
    preprocessing: str = "raw01"
    defaults: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """The card as plain data (for JSON and tables)."""
        return {
            "name": self.name,
            "family": self.family,
            "description": self.description,
            "input_shape": list(self.input_shape),
            "min_input_size": list(self.min_input_size),
            "num_classes": self.num_classes,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "gmacs": self.gmacs,
            "top1": self.top1,
            "sources": dict(self.sources),
            "pretrained": list(self.pretrained),
            "preprocessing": self.preprocessing,
            "defaults": dict(self.defaults),
        }


_BUILDERS: dict[str, Callable] = {}
_CARDS: dict[str, ModelCard] = {}


def register(name: str, *, defaults: dict | None = None, **card_fields) -> Callable:
    """Decorator: register a builder under ``name`` with a reference card.

    ``defaults`` are keyword arguments bound for this name (``batch_norm=True`` for
    ``vgg16_bn``); the remaining keywords are :class:`ModelCard` fields.

    Examples:
        >>> from kerascnn.registry import register
        >>> @register("tiny_example", family="example", description="doc example",
        ...           input_shape=(8, 8, 1), min_input_size=(1, 1), num_classes=2)
        ... def tiny_example(**kwargs):
        ...     return None
        >>> from kerascnn.registry import unregister
        >>> unregister("tiny_example")
    """

    def decorate(builder: Callable) -> Callable:
        if name in _BUILDERS:
            raise ValueError(f"model name {name!r} is already registered")
        _BUILDERS[name] = builder
        _CARDS[name] = ModelCard(name=name, defaults=dict(defaults or {}), **card_fields)
        return builder

    return decorate


def unregister(name: str) -> None:
    """Remove a registered name (for tests and user experiments)."""
    _BUILDERS.pop(name, None)
    _CARDS.pop(name, None)


def _load_zoo() -> None:
    """Import kerascnn.models, whose modules register the builders (idempotent)."""
    import importlib  # noqa: PLC0415

    importlib.import_module("kerascnn.models")


def _check_name(name) -> str:
    _load_zoo()
    if not isinstance(name, str) or name not in _BUILDERS:
        raise unknown_name_error("model", name, _BUILDERS)
    return name


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell wildcard pattern, sorted.

    Examples:
        >>> from kerascnn import list_models
        >>> list_models("lenet?")
        ['lenet5']
    """
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a shell wildcard string such as 'resnet*', got {pattern!r}.")
    _load_zoo()
    return sorted(n for n in _BUILDERS if fnmatch.fnmatchcase(n, pattern))


def model_card(name: str) -> ModelCard:
    """The reference card of a registered model.

    Examples:
        >>> from kerascnn import model_card
        >>> model_card("lenet5").input_shape
        (32, 32, 1)
    """
    return _CARDS[_check_name(name)]


def get_builder(name: str) -> Callable:
    """The builder function registered under ``name`` (without its bound defaults)."""
    return _BUILDERS[_check_name(name)]


def build(model_name: str, /, **kwargs):
    """Build a registered model by name; keyword arguments go to its builder.

    Examples:
        >>> import kerascnn
        >>> kerascnn.build("lenet5").count_params()
        61706
    """
    card = model_card(model_name)
    arguments = {**card.defaults, "name": model_name, **kwargs}
    return _BUILDERS[model_name](**arguments)
