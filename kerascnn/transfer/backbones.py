"""Headless pretrained backbones from three providers behind one name space.

============  =====================================  ==========================================
provider      names                                  runtime
============  =====================================  ==========================================
kerascnn      the zoo (``lenet5``, ``davit_t``, ...) any
keras         keras.applications (``ResNet50``,      any (Keras 3 or Keras 2)
              ``EfficientNetV2B0``, ``ConvNeXtTiny``)
kecam         keras-cv-attention-models              Keras 2 only: ``TF_USE_LEGACY_KERAS=1``
              (``kecam:DaViT_T``, ``FasterNetT0``)
============  =====================================  ==========================================

A bare name is looked up in that order, exact case first; ``"kecam:EfficientNetV2B0"`` picks
a provider. ``DaViT_T``, ``DaViT_S`` and ``DaViT_B`` are the zoo's native DaViT (kecam's layers
and weights, every runtime); ``kecam:DaViT_T`` is kecam's own. :func:`backbone` returns the
un-pooled feature map model, with its preprocessing described on ``model.preprocessing`` and
applied to arrays by ``model.preprocess_input``.

Examples:
    >>> [(b.name, b.provider) for b in list_backbones("DaViT_T")]
    [('davit_t', 'kerascnn'), ('DaViT_T', 'kecam')]
    >>> info = backbone_info("DaViT_T")
    >>> info.name, info.provider, info.preprocessing, info.needs_legacy
    ('davit_t', 'kerascnn', 'torch', False)
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib
import io
import os
import re
from dataclasses import dataclass

from kerascnn.errors import check_input_shape, unknown_name_error
from kerascnn.runtime import keras, require_legacy
from kerascnn.transfer import catalogue
from kerascnn.transfer.preprocessing import preprocessing
from kerascnn.weights import (
    WeightsDownloadError,
    WeightsError,
    WeightsNotAvailable,
    check_loaded,
    download_location,
    fetch,
    is_tag,
    load_weights,
    offline_hint,
)


@dataclass(frozen=True)
class BackboneInfo:
    """What a backbone is, where it comes from and what it accepts."""

    name: str
    provider: str
    family: str
    input_shape: tuple
    min_size: int = 32
    size_multiple: int | None = None
    pretrained: tuple = ()
    preprocessing: str = "none"
    needs_legacy: bool = False

    @property
    def size_rule(self) -> str:
        rule = f"sides >= {self.min_size}"
        if self.size_multiple:
            rule += f", multiples of {self.size_multiple} recommended"
        return rule

    def as_dict(self) -> dict:
        return {"name": self.name, "provider": self.provider, "family": self.family,
                "input_shape": list(self.input_shape), "size_rule": self.size_rule,
                "pretrained": list(self.pretrained), "preprocessing": self.preprocessing,
                "needs_legacy": self.needs_legacy}


# keras.applications: preprocessing and input sizes by module (keras.applications' own docs)
_KERAS_PREPROCESSING = {
    "vgg16": "caffe", "vgg19": "caffe", "resnet": "caffe", "densenet": "torch",
    "resnet_v2": "tf", "mobilenet": "tf", "mobilenet_v2": "tf", "inception_v3": "tf",
    "inception_resnet_v2": "tf", "xception": "tf", "nasnet": "tf",
}  # the others (efficientnet, efficientnet_v2, convnext, mobilenet_v3, regnet, resnet_rs) rescale inside
_KERAS_MIN_SIZE = {"inception_v3": 75, "inception_resnet_v2": 75, "xception": 71}
_KERAS_INPUT_SIZE = {
    "InceptionV3": 299, "InceptionResNetV2": 299, "Xception": 299, "NASNetLarge": 331,
    "EfficientNetB1": 240, "EfficientNetB2": 260, "EfficientNetB3": 300, "EfficientNetB4": 380,
    "EfficientNetB5": 456, "EfficientNetB6": 528, "EfficientNetB7": 600, "EfficientNetV2B1": 240,
    "EfficientNetV2B2": 260, "EfficientNetV2B3": 300, "EfficientNetV2S": 384, "EfficientNetV2M": 480,
    "EfficientNetV2L": 480,
}


def _keras_info(name: str) -> BackboneInfo:
    module = getattr(keras.applications, name).__module__.rsplit(".", 1)[-1]
    side = _KERAS_INPUT_SIZE.get(name, 224)
    return BackboneInfo(name, "keras", module, (side, side, 3), _KERAS_MIN_SIZE.get(module, 32), None,
                        ("imagenet",), _KERAS_PREPROCESSING.get(module, "none"))


def _kecam_info(name: str) -> BackboneInfo:
    entry = catalogue.kecam_catalogue()[name]
    multiple = 32
    return BackboneInfo(name, "kecam", entry.module.split(".")[0], entry.input_shape, 32, multiple,
                        tuple(entry.pretrained), _kecam_mode(entry.rescale_mode), True)


def _kecam_mode(rescale_mode: str) -> str:
    return rescale_mode if rescale_mode in ("torch", "tf", "tf128", "raw01", "clip") else "none"


def _zoo_info(name: str) -> BackboneInfo:
    """From the model's card: its pretrained sets, and the preprocessing of its ImageNet set."""
    from kerascnn.registry import model_card  # noqa: PLC0415

    card = model_card(name)
    side = card.min_input_size[0] if card.min_input_size else 32
    mode = card.weights[0].preprocessing if card.weights else "raw01"
    return BackboneInfo(name, "kerascnn", card.family, tuple(card.input_shape), side, None,
                        tuple(card.pretrained), mode)


def _live_catalogues() -> list:
    from kerascnn.registry import list_models  # noqa: PLC0415

    keras_names = tuple(n for n in dir(keras.applications) if n[:1].isupper()
                        and callable(getattr(keras.applications, n)))
    return [("kerascnn", tuple(list_models())), ("keras", keras_names), ("kecam", tuple(catalogue.kecam_catalogue()))]


_INFO = {"kerascnn": _zoo_info, "keras": _keras_info, "kecam": _kecam_info}


def backbone_info(name: str) -> BackboneInfo:
    """The :class:`BackboneInfo` of a backbone name (case-insensitive, optional ``provider:``)."""
    catalogues = _live_catalogues()
    found = catalogue.resolve(name, catalogues)
    if found is None:
        raise unknown_name_error("backbone", name, [n for _, names in catalogues for n in names])
    provider, canonical = found
    return _INFO[provider](canonical)


def list_backbones(pattern: str = "*", provider: str | None = None) -> list:
    """Every backbone whose name matches a shell wildcard (case-insensitive), as BackboneInfo.

    Examples:
        >>> sorted(b.provider for b in list_backbones("efficientnetv2b0"))
        ['kecam', 'keras']
    """
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a shell wildcard string such as 'DaViT*', got {pattern!r}.")
    if provider is not None and provider not in catalogue.PROVIDER_ALIASES:
        raise unknown_name_error("provider", provider, catalogue.PROVIDERS)
    wanted = catalogue.PROVIDER_ALIASES.get(provider)
    result = []
    for source, names in _live_catalogues():
        if wanted not in (None, source):
            continue
        for name in sorted(names):
            if fnmatch.fnmatch(name.lower(), pattern.lower()):
                result.append(_INFO[source](name))
    return result


def backbone(name: str, input_shape=None, weights="imagenet", partial: bool = False,
             cache_dir: str | None = None, mirror: str | None = None, **kwargs):
    """A headless, un-pooled feature model of a pretrained (or fresh) backbone.

    Arguments:
        name: see :func:`list_backbones` (``"DaViT_T"``, ``"ResNet50"``, ``"kecam:..."``).
        input_shape: ``(height, width, channels)``; default the backbone's own.
        weights: ``"imagenet"`` (downloaded, cached and hash-checked; any failure raises
            :class:`~kerascnn.errors.WeightsError`), another pretrained tag of kecam,
            ``None`` (random) or the path of a local ``.h5`` / ``.weights.h5`` file, whose
            layers must all be matched unless ``partial=True``.
        cache_dir, mirror: where downloads are cached, and a folder/URL replacing the origin.
        kwargs: passed to the provider's builder (e.g. ``include_preprocessing`` or ``alpha``).

    The model carries ``model.preprocessing`` (a :class:`~kerascnn.transfer.preprocessing.Preprocessing`),
    ``model.preprocess_input`` (the same on arrays), ``model.backbone_info`` and, for files,
    ``model.weights_report``.

    Examples:
        >>> features = backbone("lenet5", input_shape=(32, 32, 1), weights=None)
        >>> tuple(features.output.shape), features.preprocessing.mode
        ((None, 1, 1, 120), 'raw01')
    """
    info = backbone_info(name)
    input_shape = tuple(input_shape) if input_shape is not None else info.input_shape
    check_input_shape(input_shape, info.min_size, info.name)
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"weights must be None, 'imagenet' or a file path, got {weights!r}.")
    builder = {"kecam": _build_kecam, "keras": _build_keras, "kerascnn": _build_zoo}[info.provider]
    model, mode, report = builder(info, input_shape, weights, partial, cache_dir, mirror, kwargs)
    spec = preprocessing(mode)
    model.preprocessing = spec
    model.preprocess_input = spec
    model.backbone_info = info
    model.weights_report = report
    return model


def _path_or_error(weights, info) -> str:
    if is_tag(weights):
        raise WeightsNotAvailable(f"weights={weights!r} is not available for {info.name}; use None, the path "
                                  f"of a local weights file, or one of {list(info.pretrained) or ['(none)']}.")
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise WeightsNotAvailable(f"weights={path!r}: no such file (for {info.name}).")
    return path


# --------------------------------------------------------------------------- kecam


def kecam_weights_files(info: BackboneInfo, tag: str, input_shape) -> list:
    """``[(file name, url, md5)]`` of a kecam pretrained tag, as kecam's own downloader names them."""
    entry = catalogue.kecam_catalogue()[info.name]
    value = entry.pretrained[tag]
    stem = entry.model_name
    if isinstance(value, dict):  # {resolution: md5}: the nearest resolution, as kecam picks it
        resolution = min(value, key=lambda r: abs(r - input_shape[0]))
        files = [(f"{stem}_{resolution}_{tag}.h5", value[resolution])]
    elif isinstance(value, (list, tuple)):
        files = [(f"{stem}_{tag}.{i + 1}.h5", md5) for i, md5 in enumerate(value)]
    else:
        files = [(f"{stem}_{tag}.h5", value)]
    return [(file_name, f"{catalogue.KECAM_RELEASES}/{entry.sub_release}/{file_name}", md5)
            for file_name, md5 in files]


def _build_kecam(info, input_shape, weights, partial, cache_dir, mirror, kwargs):
    require_legacy(f"The kecam backbone {info.name} (keras-cv-attention-models)")
    paths = None
    if isinstance(weights, str) and weights in info.pretrained:
        paths = [fetch(file_name, url, md5, cache_dir, mirror)
                 for file_name, url, md5 in kecam_weights_files(info, weights, input_shape)]
    elif weights is not None:
        paths = [_path_or_error(weights, info)]
    entry = catalogue.kecam_catalogue()[info.name]
    module = importlib.import_module(f"{catalogue.KECAM}.{entry.module}")
    output = io.StringIO()
    with contextlib.redirect_stdout(output):  # kecam prints its progress, and its errors
        model = getattr(module, entry.function)(input_shape=input_shape, num_classes=0,
                                                pretrained=paths, **kwargs)
    report = None
    if paths:
        try:
            report = check_loaded(model, paths, partial, what=f"{info.name} at {input_shape}")
        except WeightsError as error:
            said = " ".join(line for line in output.getvalue().splitlines() if "rror" in line)
            if weights in info.pretrained:
                file_name, url, md5 = kecam_weights_files(info, weights, input_shape)[0]
                said += " " + offline_hint(file_name, url, paths[0], md5)
            raise type(error)(f"{error} {said}".strip()) from None
    return model, _kecam_mode(getattr(model, "rescale_mode", "tf")), report


# --------------------------------------------------------------------------- keras.applications


def _build_keras(info, input_shape, weights, partial, cache_dir, mirror, kwargs):
    function = getattr(keras.applications, info.name)
    arguments = {"include_top": False, "input_shape": input_shape, **kwargs}
    if weights == "imagenet":
        try:
            model = function(weights="imagenet", **arguments)
        except Exception as error:  # noqa: BLE001 - keras' get_file raises a bare Exception
            text = " ".join(str(error).split())
            if not re.search(r"fetch|download|hash|URL|HTTP|Errno|connect", text, re.IGNORECASE):
                raise ValueError(f"{info.name}: {text}") from None
            url = (re.findall(r"https?://\S+?\.h5", text) or [f"the ImageNet weights of {info.name}"])[0]
            file_name = url.rsplit("/", 1)[-1]
            cache = os.path.join(os.environ.get("KERAS_HOME") or os.path.expanduser("~/.keras"), "models", file_name)
            raise WeightsDownloadError(f"Could not get the pretrained weights file {file_name!r} for {info.name} "
                               f"(keras.applications): {text}. {offline_hint(file_name, url, cache, None)}"
                               ) from None
        return model, info.preprocessing, None
    model = function(weights=None, **arguments)
    report = load_weights(model, _path_or_error(weights, info), partial, info.name) if weights is not None else None
    return model, info.preprocessing, report


# --------------------------------------------------------------------------- kerascnn zoo


def _build_zoo(info, input_shape, weights, partial, cache_dir, mirror, kwargs):
    from kerascnn.registry import build  # noqa: PLC0415

    pretrained = weights if weights in info.pretrained else None
    with download_location(cache_dir, mirror):
        model = build(info.name, input_shape=input_shape, include_top=False, weights=pretrained,
                      compile=False, **kwargs)
    report = None
    if weights is not None and pretrained is None:
        report = load_weights(model, _path_or_error(weights, info), partial, info.name)
    return model, info.preprocessing, report
