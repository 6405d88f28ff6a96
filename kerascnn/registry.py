"""Every model by name: ``build``, ``list_models``, ``model_card``, and where its weights come from.

Each registered name has ONE record, its :class:`ModelCard`: the parameter counts expected
at the default configuration (Keras ``count_params``, BatchNorm statistics included), the
published operation count and accuracy, where each figure comes from (a paper, a
torchvision or keras.applications table, or the docs page "Reference figures",
``docs/references.md``), the smallest input the architecture accepts, and its
:class:`Weights` records: where each pretrained set comes from (a keras.applications model
or a URL with its hash), its input size and preprocessing, as torchvision's ``Weights`` or
timm's ``pretrained_cfg``. The model list, :mod:`kerascnn.transfer`'s backbones, the
runtime decision of :mod:`kerascnn.transfer.catalogue`, ``kerascnn bench`` and the weight
loader (:func:`kerascnn.weights.pretrained_loader`) all read these records.

A family registers its variants from one table (:func:`register_family`); one function can
be registered under several names with different bound arguments (``vgg16`` and ``vgg16_bn``).
This module does not import Keras.

Examples:
    >>> import kerascnn
    >>> "lenet5" in kerascnn.list_models("lenet*")
    True
    >>> kerascnn.model_card("lenet5").params
    61706
"""

from __future__ import annotations

import fnmatch
import itertools
from dataclasses import dataclass, field
from typing import Callable

from kerascnn.errors import WeightsNotAvailable, unknown_name_error

#: The docs page that holds the reference tables cards cite (docs/references.md).
REFERENCES = "kerascnn docs, Reference figures (docs/references.md)"
#: The page of keras.applications' table (size, top-1, parameters of each application).
KERAS_APPLICATIONS_TABLE = "keras.io/api/applications (table of available models)"


@dataclass(frozen=True)
class Weights:
    """Where one pretrained set of a model comes from, and what its inputs must be.

    Exactly one origin: ``application``, a keras.applications function whose ImageNet
    weights are copied layer by layer by name (Keras downloads and hash-checks the file), or
    ``url`` with ``file_hash`` (md5 or sha256), fetched into the cache and checked by
    :func:`kerascnn.weights.fetch`. ``input_shape`` and ``num_classes`` are those the set was
    trained at (the top only fits them); ``preprocessing`` is the mode of
    :func:`kerascnn.transfer.preprocessing.preprocessing` (``"caffe"``: BGR minus ImageNet
    means, as ``keras.applications.vgg16.preprocess_input``).

    ``match`` says how an application's weights are copied: ``"name"``, layer by layer by
    name, or ``"order"``, in graph order, for applications whose layers carry Keras'
    automatic names (InceptionV3's ``conv2d_57``). ``options`` lists, for builder arguments
    that are also the application's (MobileNet's ``alpha``), the values it has weights for,
    and ``sizes`` the square input sides they were trained at (with the top the input must be
    one; without it any size takes the set of ``input_shape``): see :meth:`application_kwargs`.

    Examples:
        >>> record = Weights(application="VGG16", preprocessing="caffe")
        >>> record.provider, record.tag, record.input_shape, record.match
        ('keras.applications', 'imagenet', (224, 224, 3), 'name')
    """

    application: str | None = None
    url: str | None = None
    file_hash: str | None = None
    tag: str = "imagenet"
    input_shape: tuple = (224, 224, 3)
    num_classes: int = 1000
    preprocessing: str = "caffe"
    top1: float | None = None
    source: str = ""
    match: str = "name"
    options: dict = field(default_factory=dict)
    sizes: tuple = ()

    def __post_init__(self):
        if (self.application is None) == (self.url is None):
            raise ValueError(f"Weights {self.tag!r}: give exactly one of application= (a keras.applications "
                             f"name) or url= (with file_hash=), got application={self.application!r}, "
                             f"url={self.url!r}.")
        if self.match not in ("name", "order"):
            raise ValueError(f"Weights {self.tag!r}: match must be 'name' or 'order', got {self.match!r}.")

    def application_kwargs(self, model: str, input_shape, with_top: bool, **values) -> dict:
        """The application's keyword arguments for a model built with ``values`` at ``input_shape``.

        Raises :class:`~kerascnn.errors.WeightsNotAvailable` naming the accepted combinations
        when the set has no weights for them (``model`` names the model in the message).

        Examples:
            >>> record = Weights(application="MobileNet", options={"alpha": (0.5, 1.0)}, sizes=(128, 224))
            >>> record.application_kwargs("mobilenet", (128, 128, 3), True, alpha=0.5)
            {'alpha': 0.5, 'input_shape': (128, 128, 3)}
            >>> record.application_kwargs("mobilenet", (100, 80, 3), False, alpha=1.0)
            {'alpha': 1.0, 'input_shape': (224, 224, 3)}
        """
        if not self.options:
            return {}
        sides = self.sizes or (self.input_shape[0],)
        square = input_shape[0] if input_shape[0] == input_shape[1] else None
        wrong = [key for key, accepted in self.options.items() if values.get(key) not in accepted]
        if wrong or (with_top and square not in sides):
            varying = [key for key, accepted in self.options.items() if len(accepted) > 1]
            fixed = [f"{key}={accepted[0]}" for key, accepted in self.options.items() if len(accepted) == 1]
            combinations = ", ".join(f"({', '.join(map(str, combo))}, {side})"
                                     for combo in itertools.product(*(self.options[k] for k in varying))
                                     for side in sides)
            given = ", ".join(f"{key}={values.get(key)}" for key in self.options)
            raise WeightsNotAvailable(
                f"weights={self.tag!r} is not available for {model} with {given} and input_shape="
                f"{tuple(input_shape)}; keras.applications.{self.application} has {self.tag} weights for the "
                f"({', '.join(varying)}, input side) pairs {combinations}"
                + (f" with {', '.join(fixed)}" if fixed else "")
                + f" (square inputs; with include_top=False any input size takes the weights of its "
                  f"{', '.join(varying)}). Use weights=None or the path of a weights file.")
        side = square if square in sides else self.input_shape[0]
        return {**{key: values[key] for key in self.options}, "input_shape": (side, side, self.input_shape[2])}

    @property
    def provider(self) -> str:
        """``"keras.applications"`` or ``"url"``."""
        return "keras.applications" if self.application else "url"

    @property
    def file_name(self) -> str | None:
        """The cache file name of a URL record (the URL's last part)."""
        return self.url.rsplit("/", 1)[-1] if self.url else None

    def as_dict(self) -> dict:
        """The record as plain data."""
        return {"tag": self.tag, "provider": self.provider, "application": self.application, "url": self.url,
                "file_hash": self.file_hash, "input_shape": list(self.input_shape),
                "num_classes": self.num_classes, "preprocessing": self.preprocessing, "top1": self.top1,
                "source": self.source, "match": self.match,
                "options": {key: list(values) for key, values in self.options.items()},
                "sizes": list(self.sizes)}


def keras_weights(application: str, preprocessing: str, **fields) -> Weights:
    """The ImageNet weights of ``keras.applications.<application>``, cited to keras.io's table.

    Examples:
        >>> record = keras_weights("ResNet50", "caffe")
        >>> record.application, record.preprocessing, "keras.io/api/applications" in record.source
        ('ResNet50', 'caffe', True)
    """
    how = "in graph order" if fields.get("match") == "order" else "by layer name"
    fields.setdefault("source", f"keras.applications.{application} ImageNet weights "
                                f"({KERAS_APPLICATIONS_TABLE}), copied {how}")
    return Weights(application=application, preprocessing=preprocessing, **fields)


@dataclass(frozen=True)
class ModelCard:
    """Reference facts about one registered model at its default configuration.

    ``params``, ``trainable_params`` and ``non_trainable_params`` are Keras counts
    (``model.count_params()``; non-trainable = BatchNorm moving statistics). ``gmacs``
    is the published multiply-accumulate count in billions, ``top1`` the published
    ImageNet top-1 accuracy in percent; ``sources`` says where each figure comes from.
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
    defaults: dict = field(default_factory=dict)
    weights: tuple = ()

    def weights_record(self, tag: str) -> Weights:
        """The :class:`Weights` record of the pretrained set ``tag``; WeightsNotAvailable if none.

        Examples:
            >>> import kerascnn
            >>> kerascnn.model_card("vgg16").weights_record("imagenet").application
            'VGG16'
        """
        for record in self.weights:
            if record.tag == tag:
                return record
        raise WeightsNotAvailable(
            f"weights={tag!r} is not available for {self.name}: "
            + (f"its pretrained sets are {', '.join(map(repr, self.pretrained))}. " if self.pretrained else "")
            + f"Pretrained sets exist for {pretrained_summary()} (see kerascnn.list_models and each model "
            "card's 'weights'). Use weights=None or the path of a weights file (.keras, .h5, .weights.h5).")

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
            "defaults": dict(self.defaults),
            "weights": [record.as_dict() for record in self.weights],
        }


_BUILDERS: dict[str, Callable] = {}
_CARDS: dict[str, ModelCard] = {}


def register(name: str, *, defaults: dict | None = None, **card_fields) -> Callable:
    """Decorator: register a builder under ``name`` with a reference card.

    ``defaults`` are keyword arguments bound for this name (``batch_norm=True`` for
    ``vgg16_bn``); the remaining keywords are :class:`ModelCard` fields. ``weights`` is a
    tuple of :class:`Weights` records; ``pretrained`` (their tags) follows from them.
    A family with several variants registers them all with :func:`register_family`.

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
        records = tuple(card_fields.pop("weights", ()))
        tags = tuple(record.tag for record in records)
        pretrained = tuple(card_fields.pop("pretrained", tags))
        if pretrained != tags:
            raise ValueError(f"{name}: pretrained={pretrained!r} disagrees with the weights records {tags!r}; "
                             "give the records only (weights=(keras_weights(...),) or Weights(url=...))")
        _BUILDERS[name] = builder
        _CARDS[name] = ModelCard(name=name, defaults=dict(defaults or {}), pretrained=pretrained,
                                 weights=records, **card_fields)
        return builder

    return decorate


def register_family(variants: dict) -> None:
    """Register every variant of a family from its table ``{name: {"builder": f, **card}}``.

    Each entry holds the builder, the bound ``defaults`` (if any) and the :class:`ModelCard`
    fields. The table must be a dict literal with string keys at module level: the
    ``kerascnn`` command reads the names from the source without importing Keras
    (:func:`kerascnn.transfer.catalogue.zoo_names`).

    Examples:
        >>> from kerascnn.registry import register_family, unregister, model_card
        >>> def tiny(**kwargs):
        ...     return None
        >>> register_family({"tiny_a": {"builder": tiny, "family": "tiny", "description": "doc example",
        ...                             "input_shape": (8, 8, 1), "min_input_size": (1, 1), "num_classes": 2}})
        >>> model_card("tiny_a").family
        'tiny'
        >>> unregister("tiny_a")
    """
    for name, entry in variants.items():
        entry = dict(entry)
        register(name, **{key: value for key, value in entry.items() if key != "builder"})(entry["builder"])


def pretrained_summary() -> str:
    """``"resnet50 (imagenet), ..."``: every registered model with pretrained weights."""
    _load_zoo()
    found = [f"{name} ({', '.join(card.pretrained)})" for name, card in sorted(_CARDS.items()) if card.pretrained]
    return ", ".join(found) or "no registered model"


def weights_records() -> dict:
    """``{model name: (Weights, ...)}`` for every registered model with pretrained weights.

    Examples:
        >>> weights_records()["resnet50"][0].application
        'ResNet50'
    """
    _load_zoo()
    return {name: card.weights for name, card in sorted(_CARDS.items()) if card.weights}


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


def list_models(pattern: str = "*", pretrained: bool = False) -> list[str]:
    """Registered model names matching a shell wildcard pattern, sorted; with ``pretrained=True``
    only those with pretrained weights (``weights="imagenet"``), as timm's ``list_models``.

    Examples:
        >>> from kerascnn import list_models
        >>> list_models("lenet?")
        ['lenet5']
        >>> list_models("resnet5*", pretrained=True)
        ['resnet50', 'resnet50v2']
    """
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a shell wildcard string such as 'resnet*', got {pattern!r}.")
    if not isinstance(pretrained, bool):
        raise TypeError(f"pretrained must be True or False, got {pretrained!r}.")
    _load_zoo()
    return sorted(n for n in _BUILDERS if fnmatch.fnmatchcase(n, pattern) and (_CARDS[n].weights or not pretrained))


def model_card(name: str) -> ModelCard:
    """The reference card of a registered model.

    Examples:
        >>> from kerascnn import model_card
        >>> model_card("lenet5").input_shape
        (32, 32, 1)
    """
    return _CARDS[_check_name(name)]


def builders_of(module: str) -> list:
    """The builder functions registered by the module named ``module`` (each once)."""
    return list({id(b): b for b in _BUILDERS.values() if b.__module__ == module}.values())


def card_or_none(name) -> ModelCard | None:
    """The card of ``name`` if it is registered (without loading the zoo), else None."""
    return _CARDS.get(name) if isinstance(name, str) else None


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
