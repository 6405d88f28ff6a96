"""Which backbones exist, found without importing Keras (the ``kerascnn`` command needs that).

kecam's classification models are read from the installed package's source (its
``@register_model`` functions and ``PRETRAINED_DICT`` tables) rather than imported: importing
keras-cv-attention-models in a Keras 3 process would switch it to Keras 2 behind kerascnn's
back. keras.applications and kerascnn's zoo names are read from their source too, so
:func:`needs_legacy` can decide the runtime before TensorFlow is first imported. The zoo's
names come from the registrations in ``kerascnn/models`` (the same records as
:func:`kerascnn.list_models`; a test checks they agree).

kecam models that kerascnn's zoo implements natively, with kecam's layers and weights
(:data:`NATIVE_KECAM`), resolve to the zoo's model when named without a provider: they run in
every runtime. ``"kecam:DaViT_T"`` still names kecam's own model, which needs Keras 2.

Examples:
    >>> provider_of("kecam:DaViT_T"), provider_of("DaViT_T")
    (('kecam', 'DaViT_T'), ('kerascnn', 'davit_t'))
    >>> needs_legacy("kecam:DaViT_T"), needs_legacy("DaViT_T"), needs_legacy("ResNet50")
    (True, False, False)
    >>> provider_of("resnet50"), provider_of("ResNet50")
    (('kerascnn', 'resnet50'), ('keras', 'ResNet50'))
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import re
from dataclasses import dataclass, field

KECAM = "keras_cv_attention_models"
KECAM_RELEASES = "https://github.com/leondgarse/keras_cv_attention_models/releases/download"
PROVIDERS = ("kerascnn", "keras", "kecam")
PROVIDER_ALIASES = {
    "kerascnn": "kerascnn", "zoo": "kerascnn",
    "keras": "keras", "keras.applications": "keras", "applications": "keras", "tf.keras": "keras",
    "kecam": "kecam", KECAM: "kecam",
}
#: kecam model -> the zoo model with the same layers, names and weights (kerascnn/models/davit.py)
NATIVE_KECAM = {"DaViT_T": "davit_t", "DaViT_S": "davit_s", "DaViT_B": "davit_b"}
# kecam packages that hold no ImageNet classification models (detection, language, diffusion ...)
_NOT_CLASSIFICATION = {
    "coco", "yolov7", "yolov8", "yolox", "yolor", "efficientdet", "clip", "gpt2", "llama2",
    "stable_diffusion", "segment_anything", "imagenet", "visualizing", "model_surgery",
    "pytorch_backend", "plot_func", "test_images",
}


@dataclass(frozen=True)
class KecamEntry:
    """A kecam classification model as its source declares it."""

    function: str
    module: str                     # e.g. "davit.davit"
    model_name: str                 # the Keras model name, key of PRETRAINED_DICT ("davit_t")
    input_shape: tuple = (224, 224, 3)
    pretrained: dict = field(default_factory=dict)   # tag -> md5 | {resolution: md5} | [md5, ...]
    sub_release: str = ""
    rescale_mode: str = "tf"


def _package_dir(package: str) -> str | None:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def _literal(node, default=None):
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return default


def _model_name(function: ast.FunctionDef) -> str:
    for inner in ast.walk(function):
        if isinstance(inner, ast.keyword) and inner.arg == "model_name":
            value = inner.value
            while isinstance(value, ast.BinOp):  # "vanillanet_5" + ("_deploy" if deploy else "")
                value = value.left
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return value.value
    return function.name.lower()


def _parse_kecam_module(path: str):
    """``(functions, PRETRAINED_DICT, sub_release, rescale_mode)`` of one kecam source file."""
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    tree = ast.parse(source)
    pretrained, sub_release = {}, None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PRETRAINED_DICT" for t in node.targets):
            pretrained = _literal(node.value, {}) or {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "reload_model_weights"
                and len(node.args) >= 3 and isinstance(node.args[2], ast.Constant)):
            sub_release = node.args[2].value
            break
    found = re.search(r"add_pre_post_process\([^)]*rescale_mode=\"(\w+)\"", source)
    functions = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
                getattr(d, "id", None) == "register_model" for d in node.decorator_list):
            defaults = dict(zip([a.arg for a in node.args.args][len(node.args.args) - len(node.args.defaults):],
                                node.args.defaults))
            shape = _literal(defaults["input_shape"], None) if "input_shape" in defaults else None
            shape = tuple(shape) if isinstance(shape, (tuple, list)) and len(shape) == 3 else (224, 224, 3)
            functions.append((node.name, _model_name(node), shape))
    return functions, pretrained, sub_release, (found.group(1) if found else None)


@functools.lru_cache(maxsize=None)
def kecam_catalogue() -> dict:
    """``{function name: KecamEntry}`` for every kecam classification model installed ({} if none).

    A model's weights table may live in a sibling module of the same family (LCNet's in
    MobileNetV3's), so tables, release folders and preprocessing are shared per family.
    """
    root = _package_dir(KECAM)
    if root is None:
        return {}
    modules = []
    for directory, folders, files in os.walk(root):
        relative = os.path.relpath(directory, root)
        top = relative.split(os.sep)[0]
        if top in _NOT_CLASSIFICATION or "__pycache__" in relative:
            folders[:] = []
            continue
        for file_name in sorted(files):
            if not file_name.endswith(".py") or (top == "." and file_name[:-3] in _NOT_CLASSIFICATION):
                continue
            parts = [] if relative == "." else relative.split(os.sep)
            module = ".".join(parts + [file_name[:-3]])
            modules.append((module, *_parse_kecam_module(os.path.join(directory, file_name))))
    family_tables = {}
    for module, _, pretrained, sub_release, rescale in modules:
        family = family_tables.setdefault(module.split(".")[0], [])
        family.append((pretrained, sub_release or module.split(".")[0], rescale))
    catalogue = {}
    for module, functions, pretrained, sub_release, rescale in modules:
        family = family_tables[module.split(".")[0]]
        for function, model_name, shape in functions:
            table, release = pretrained, sub_release or module.split(".")[0]
            if model_name not in table:
                for other, other_release, _ in family:
                    if model_name in other:
                        table, release = other, other_release
                        break
            mode = rescale or next((r for _, _, r in family if r), "tf")
            catalogue.setdefault(function, KecamEntry(function, module, model_name, shape,
                                                      dict(table.get(model_name, {})), release, mode))
    return catalogue


def keras_application_names() -> tuple:
    """The model functions of keras.applications (Keras 3 and tf-keras), read from their source."""
    names = set()
    for package, relative in (("keras", ("applications", "__init__.py")),
                              ("tf_keras", ("applications", "__init__.py"))):
        root = _package_dir(package)
        path = os.path.join(root, *relative) if root else None
        if path and os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                names.update(re.findall(r"^from \S+ import ([A-Z]\w+)", handle.read(), re.MULTILINE))
    return tuple(sorted(names))


def _registered_names(tree: ast.Module) -> list:
    """The model names one zoo module registers, read from its syntax tree.

    Both registration styles of :mod:`kerascnn.registry`: ``register("name", ...)`` (as a
    decorator or a call) and ``register_family(TABLE)`` with ``TABLE`` a module-level dict
    literal with string keys (or the literal itself). Anything else raises, so that a new
    style cannot silently drop names from the runtime decision.
    """
    tables = {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
              for target in node.targets if isinstance(target, ast.Name)}
    names = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        called = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if called == "register":
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                raise ValueError(f"register(...) at line {node.lineno}: the model name must be a string literal")
            names.append(first.value)
        elif called == "register_family":
            table = node.args[0]
            table = tables.get(table.id) if isinstance(table, ast.Name) else table
            keys = getattr(table, "keys", None)
            if not isinstance(table, ast.Dict) or not all(
                    isinstance(k, ast.Constant) and isinstance(k.value, str) for k in keys):
                raise ValueError(f"register_family(...) at line {node.lineno}: the variants table must be a "
                                 "module-level dict literal with string keys")
            names.extend(k.value for k in keys)
    return names


@functools.lru_cache(maxsize=None)
def zoo_names() -> tuple:
    """The names kerascnn's zoo registers, read from ``kerascnn/models`` without importing it.

    ``tests/test_records.py`` checks that this equals :func:`kerascnn.list_models`.
    """
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models")
    names = set()
    for file_name in sorted(os.listdir(folder)):
        if file_name.endswith(".py"):
            with open(os.path.join(folder, file_name), encoding="utf-8") as handle:
                names.update(_registered_names(ast.parse(handle.read(), file_name)))
    return tuple(sorted(names))


def split_provider(name: str) -> tuple:
    """``"kecam:DaViT_T"`` -> ``("kecam", "DaViT_T")``; no prefix -> ``(None, name)``."""
    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"backbone must be a name such as 'DaViT_T' or 'ResNet50', got {name!r}.")
    for separator in (":", "/"):
        if separator in name:
            prefix, rest = name.split(separator, 1)
            if prefix.lower() in PROVIDER_ALIASES:
                return PROVIDER_ALIASES[prefix.lower()], rest
    return None, name


def match(name: str, catalogues) -> tuple | None:
    """First ``(provider, canonical name)`` for ``name`` among ``[(provider, names), ...]``.

    An exact match wins over a case-insensitive one; among equals the order of
    ``catalogues`` decides (kerascnn's zoo, then keras.applications, then kecam).
    """
    provider, bare = split_provider(name)
    candidates = [(p, names) for p, names in catalogues if provider in (None, p)]
    for p, names in candidates:
        if bare in names:
            return p, bare
    lowered = bare.lower()
    for p, names in candidates:
        for known in names:
            if known.lower() == lowered:
                return p, known
    return None


def resolve(name: str, catalogues) -> tuple | None:
    """:func:`match`, except that a kecam model named without ``kecam:`` that the zoo implements
    natively (:data:`NATIVE_KECAM`) resolves to the zoo's model."""
    found = match(name, catalogues)
    if found and found[0] == "kecam" and split_provider(name)[0] is None and found[1] in NATIVE_KECAM:
        return "kerascnn", NATIVE_KECAM[found[1]]
    return found


def static_catalogues() -> list:
    return [("kerascnn", zoo_names()), ("keras", keras_application_names()), ("kecam", tuple(kecam_catalogue()))]


def provider_of(name: str) -> tuple | None:
    """``(provider, canonical name)`` of a backbone name, decided without importing Keras."""
    return resolve(name, static_catalogues())


def needs_legacy(name: str) -> bool:
    """True when ``name`` is a kecam backbone, which needs ``TF_USE_LEGACY_KERAS=1`` (DaViT does not)."""
    found = provider_of(name)
    return found is not None and found[0] == "kecam"
