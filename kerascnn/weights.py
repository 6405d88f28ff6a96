"""Every way weights reach a kerascnn model: ``None``, a pretrained tag, or a file; one loader.

A failed load is always an exception of the :class:`~kerascnn.errors.WeightsError` family:
kerascnn never hands back a model with random weights when weights were asked for.

* A pretrained tag (``weights="imagenet"``) is looked up in the model's card: its
  :class:`~kerascnn.registry.Weights` record says where the set comes from, and
  :func:`pretrained_loader` loads it: a keras.applications model's weights copied layer by
  layer (:func:`copy_weights_by_name`), or a file from a URL, fetched into the cache with
  its hash checked (:func:`fetch`) and loaded as any file.
* A file (``.keras``, ``.h5``, ``.hdf5``, ``.weights.h5``) is loaded by :func:`load_weights`,
  which checks that every weighted layer got its values (:func:`check_loaded`); the same
  kinds are accepted by the builders and by :func:`kerascnn.transfer.backbone`.
* :func:`fetch` downloads into ``~/.keras/models`` (the folder kecam and keras.applications
  use), checks the md5/sha256, and says how to supply the file offline when anything fails;
  a mirror (folder or URL, ``file://`` included) can replace the origin:
  ``KERASCNN_WEIGHTS_MIRROR``.

Examples:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "w.bin"), "wb") as handle:
    ...     _ = handle.write(b"weights")
    >>> origin = "file://" + os.path.join(folder, "w.bin")
    >>> path = fetch("w.bin", origin, file_hash=hash_file(os.path.join(folder, "w.bin")),
    ...              cache_dir=os.path.join(folder, "cache"))
    >>> open(path, "rb").read()
    b'weights'
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass, field

import numpy as np

from kerascnn.errors import (  # noqa: F401 - WeightsError is re-exported for kerascnn.transfer
    WeightsDownloadError,
    WeightsError,
    WeightsMismatchError,
    WeightsNotAvailable,
)

#: The file kinds every loader of kerascnn accepts.
FILE_KINDS = (".keras", ".h5", ".hdf5")  # ".weights.h5" ends in ".h5"


def is_tag(weights) -> bool:
    """True when ``weights`` names a pretrained set (``"imagenet"``) rather than a file.

    Examples:
        >>> is_tag("imagenet"), is_tag("model.weights.h5"), is_tag("runs/best"), is_tag(None)
        (True, False, False, False)
    """
    return (isinstance(weights, str) and os.sep not in weights and "/" not in weights
            and not weights.endswith(FILE_KINDS) and not os.path.isfile(weights))


def load_model_weights(model, weights, registered: str | None = None, options: dict | None = None):
    """Load ``weights`` (None, a pretrained tag or a file) into a model built by kerascnn.

    A tag is read from the :class:`~kerascnn.registry.Weights` records of the card of
    ``registered`` (the registered model name); ``options`` are the builder's arguments the
    record's application also takes (:func:`pretrained_loader`). Raises a
    :class:`~kerascnn.errors.WeightsError` (a ValueError) on anything that does not match.
    """
    if weights is None:
        return model
    if is_tag(weights):
        from kerascnn import registry  # noqa: PLC0415 - the registry imports the zoo lazily

        if registered not in registry.list_models():
            raise WeightsNotAvailable(
                f"weights={weights!r} is not available for {model.name}: pretrained sets exist for "
                f"{registry.pretrained_summary()}. Use weights=None or the path of a weights file.")
        record = registry.model_card(registered).weights_record(weights)
        pretrained_loader(record, **(options or {}))(model)
        return model
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"weights must be None, 'imagenet' or a file path, got {weights!r}.")
    load_weights(model, weights)
    return model


def pretrained_loader(record, **options):
    """The function that loads the pretrained set of a :class:`~kerascnn.registry.Weights` record.

    An application's weights are copied as ``record.match`` says (by layer name or in graph
    order); ``options`` (``alpha=0.5``) are the builder's values of the record's ``options``,
    passed on to the application with the input size its weights exist at
    (:meth:`~kerascnn.registry.Weights.application_kwargs`).

    Examples:
        >>> from kerascnn.registry import Weights
        >>> record = Weights(application="InceptionV3", match="order", input_shape=(299, 299, 3))
        >>> callable(pretrained_loader(record)), record.match
        (True, 'order')
    """
    if record.application:
        def load_application(model):
            shape = tuple(model.input_shape[1:])
            kwargs = record.application_kwargs(model.name, shape, has_top(model), **options)
            applications_loader(record.application, record.match, **kwargs)(model)

        return load_application

    def load(model):
        path = fetch(record.file_name, record.url, record.file_hash)
        load_weights(model, path, what=f"{model.name} ({record.tag} weights)")

    return load


def has_top(model) -> bool:
    """True when ``model`` ends in keras.applications' classifier layer, ``predictions``."""
    return any(layer.name == "predictions" for layer in model.layers)


def applications_loader(application_name: str, match: str = "name", **application_kwargs):
    """A loader that puts ``keras.applications.<application_name>``'s ImageNet weights into a model.

    The returned function takes a kerascnn model whose layer names follow keras.applications,
    builds the keras.applications model with ``weights="imagenet"`` (with its top when the
    model has a ``predictions`` layer) and copies every weight by layer name
    (:func:`copy_weights_by_name`), or with ``match="order"`` layer by layer in graph order
    (:func:`copy_weights_in_order`), for applications whose layers Keras names itself
    (InceptionV3's ``conv2d_57``). keras.applications downloads the file once and caches it
    (``~/.keras/models``) and checks its hash. A failed download raises
    :class:`~kerascnn.errors.WeightsDownloadError`: a model is never handed back with random
    weights. Families should give a :class:`~kerascnn.registry.Weights` record instead
    (``kerascnn.registry.keras_weights``), which uses this.

    Examples:
        >>> load = applications_loader("ResNet50")
        >>> callable(load)
        True
    """

    copy = {"name": copy_weights_by_name, "order": copy_weights_in_order}
    if match not in copy:
        raise ValueError(f"match must be 'name' or 'order', got {match!r}.")

    def load(model):
        from kerascnn.runtime import keras  # noqa: PLC0415

        application = getattr(keras.applications, application_name)
        try:
            source = application(weights="imagenet", include_top=has_top(model), **application_kwargs)
        except Exception as error:  # download, cache or file errors: never continue with random weights
            raise WeightsDownloadError(
                f"could not get the ImageNet weights of keras.applications.{application_name} for "
                f"{model.name}: {type(error).__name__}: {error}. Check the network connection (the file "
                "is downloaded once into ~/.keras/models) or pass weights=<path of a saved file>."
            ) from error
        copy[match](source, model)

    return load


MIRROR_VARIABLE = "KERASCNN_WEIGHTS_MIRROR"
CACHE_VARIABLE = "KERASCNN_WEIGHTS_CACHE"


#: The cache folder and mirror set by :func:`download_location` (None: the environment decides).
_LOCATION = {"cache_dir": None, "mirror": None}


@contextlib.contextmanager
def download_location(cache_dir: str | None = None, mirror: str | None = None):
    """Inside: :func:`fetch` caches in ``cache_dir`` and downloads from ``mirror`` (where given).

    How ``kerascnn.transfer.backbone(..., cache_dir=, mirror=)`` reaches the weights records
    of zoo models, whose builders load them through :func:`pretrained_loader`.

    Examples:
        >>> with download_location(cache_dir="/tmp/weights"):
        ...     default_cache_dir()
        '/tmp/weights'
    """
    before = dict(_LOCATION)
    _LOCATION.update({key: value for key, value in (("cache_dir", cache_dir), ("mirror", mirror))
                      if value is not None})
    try:
        yield
    finally:
        _LOCATION.update(before)


def default_cache_dir() -> str:
    """:func:`download_location`'s folder, else ``$KERASCNN_WEIGHTS_CACHE``, else
    ``$KERAS_HOME/models``, else ``~/.keras/models``."""
    if _LOCATION["cache_dir"]:
        return _LOCATION["cache_dir"]
    if os.environ.get(CACHE_VARIABLE):
        return os.path.expanduser(os.environ[CACHE_VARIABLE])
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models")


def hash_file(path: str, algorithm: str = "md5") -> str:
    """The hex digest of a file (``"md5"`` or ``"sha256"``)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _algorithm(expected: str) -> str:
    return "sha256" if len(expected) == 64 else "md5"


def _hash_ok(path: str, expected: str | None) -> bool:
    return expected is None or hash_file(path, _algorithm(expected)) == expected.lower()


def mirror_url(file_name: str, mirror: str) -> str:
    """Where ``file_name`` lies in a mirror given as a folder, a ``file://`` or an http(s) URL."""
    if "://" not in mirror:
        mirror = "file://" + urllib.request.pathname2url(os.path.abspath(os.path.expanduser(mirror)))
    return mirror.rstrip("/") + "/" + urllib.parse.quote(file_name)


def offline_hint(file_name: str, url: str, cache_path: str, expected: str | None) -> str:
    """How to supply a weights file without network access (used in every error message)."""
    hashed = f" ({_algorithm(expected)} {expected})" if expected else ""
    return (f"kerascnn does not continue with random weights. To work offline, download {url}{hashed} "
            f"on a machine with network access, then either pass its local path "
            f"(weights='/path/to/{file_name}'), or copy it to {cache_path} (the cache checked first), "
            f"or set {MIRROR_VARIABLE} to a folder or file:// URL that holds {file_name}.")


def fetch(file_name: str, url: str, file_hash: str | None = None, cache_dir: str | None = None,
          mirror: str | None = None, timeout: float = 60.0) -> str:
    """The local path of ``file_name``: from the cache if its hash is right, else downloaded.

    ``url`` is the official origin; ``mirror`` (default ``$KERASCNN_WEIGHTS_MIRROR``) replaces
    it with ``<mirror>/<file_name>``. The download goes to a temporary file that is renamed
    into the cache only once its hash matches. Any failure raises :class:`WeightsError`.
    """
    cache_dir = cache_dir or default_cache_dir()
    target = os.path.join(cache_dir, file_name)
    if os.path.isfile(target) and _hash_ok(target, file_hash):
        return target
    mirror = mirror if mirror is not None else _LOCATION["mirror"] or os.environ.get(MIRROR_VARIABLE) or None
    origin = mirror_url(file_name, mirror) if mirror else url
    stale = " (the cached copy has the wrong hash)" if os.path.isfile(target) else ""
    hint = offline_hint(file_name, url, target, file_hash)
    try:
        os.makedirs(cache_dir, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{file_name}.", suffix=".part", dir=cache_dir)
    except OSError as error:
        raise WeightsDownloadError(f"Cannot write the weights cache {cache_dir!r}: {error}. {hint}") from None
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(origin, timeout=timeout) as response:
            shutil.copyfileobj(response, out, length=1 << 20)
        if not _hash_ok(temporary, file_hash):
            got = hash_file(temporary, _algorithm(file_hash))
            raise WeightsDownloadError(f"The weights file {file_name!r} downloaded from {origin} is corrupt or not "
                               f"the expected one: {_algorithm(file_hash)} {got}, expected {file_hash}. {hint}")
        os.replace(temporary, target)
    except WeightsError:
        raise
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        raise WeightsDownloadError(f"Could not download the pretrained weights file {file_name!r} from {origin}"
                           f"{stale}: {reason}. {hint}") from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return target


# --------------------------------------------------------------------------- checked loading


@dataclass
class LoadReport:
    """What :func:`check_loaded` found, layer by layer."""

    matched: list = field(default_factory=list)
    missing: list = field(default_factory=list)      # weighted layers of the model absent from the file
    mismatched: list = field(default_factory=list)   # present, but the model does not hold the file's values
    resized: list = field(default_factory=list)      # shapes differ; the provider resized them (kecam)
    unused: list = field(default_factory=list)       # layers of the file the model has no use for

    @property
    def complete(self) -> bool:
        return not self.missing and not self.mismatched

    def describe(self, limit: int = 8) -> str:
        parts = []
        for label, names in (("missing from the file", self.missing), ("not loaded", self.mismatched)):
            if names:
                shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
                parts.append(f"{len(names)} layer(s) {label}: {shown}")
        return "; ".join(parts) or f"all {len(self.matched)} weighted layers loaded"


def is_legacy_h5(path: str) -> bool:
    """True for HDF5 files that store weights by layer name (Keras 2, kecam, keras.applications)."""
    import h5py  # noqa: PLC0415

    try:
        with h5py.File(path, "r") as handle:
            group = handle["model_weights"] if "model_weights" in handle else handle
            return "layer_names" in group.attrs
    except OSError:
        return False


def _text(value) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _short(name: str) -> str:
    return _text(name).split("/")[-1].split(":")[0]


def _file_layers(paths) -> dict:
    import h5py  # noqa: PLC0415

    layers = {}
    for path in paths:
        with h5py.File(path, "r") as handle:
            group = handle["model_weights"] if "model_weights" in handle else handle
            for layer_name in group.attrs["layer_names"]:
                layer_name = _text(layer_name)
                names = [_text(n) for n in group[layer_name].attrs.get("weight_names", [])]
                if names:
                    layers[layer_name] = [(_short(n), np.asarray(group[layer_name][n])) for n in names]
    return layers


def check_loaded(model, paths, partial: bool = False, what: str | None = None) -> LoadReport:
    """Compare every weighted layer of ``model`` with the named-layer HDF5 file(s) ``paths``.

    A layer is *matched* when it holds exactly the file's values, *resized* when the shapes
    differ and the layer knows how to resize weights (kecam's positional embeddings),
    *missing* when the file has no such layer, *mismatched* otherwise. Unless ``partial``,
    anything missing or mismatched raises :class:`WeightsError`.
    """
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    stored = _file_layers([os.fspath(p) for p in paths])
    report = LoadReport()
    seen = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        seen.add(layer.name)
        if layer.name not in stored:
            report.missing.append(layer.name)
            continue
        values = stored[layer.name]
        by_name = dict(values)
        current = [(_short(w.name), np.asarray(w)) for w in layer.weights]
        if len(current) != len(values):
            report.mismatched.append(layer.name)
            continue
        pairs = [(array, by_name.get(short, values[i][1])) for i, (short, array) in enumerate(current)]
        if any(a.shape != b.shape for a, b in pairs):
            (report.resized if hasattr(layer, "load_resized_weights") else report.mismatched).append(layer.name)
        elif all(np.array_equal(a, b) for a, b in pairs):
            report.matched.append(layer.name)
        else:
            report.mismatched.append(layer.name)
    report.unused = [name for name in stored if name not in seen]
    if not report.complete and not partial:
        shown = ", ".join(os.fspath(p) for p in paths)
        raise WeightsMismatchError(
            f"The weights file {shown} does not fit {what or repr(model.name)}: {report.describe()}. "
            "Those layers would keep random values. Use the file saved from the same architecture and "
            "input channels, or pass partial=True to accept a partial load on purpose.")
    return report


def _stored_arrays(path) -> list:
    import h5py  # noqa: PLC0415

    arrays = []

    def visit(name, item):
        if isinstance(item, h5py.Dataset) and "/vars/" in f"/{name}" and not name.startswith("optimizer"):
            arrays.append(np.asarray(item))

    with h5py.File(path, "r") as handle:
        handle.visititems(visit)
    return arrays


def _check_keras3_file(model, path, partial, what):
    """Every variable of ``model`` must hold one of the arrays of a Keras 3 ``.weights.h5`` file.

    Keras 3 loads these files by structure and only *warns* about parts it skips, so the
    values are compared after loading (each stored array used once).
    """
    stored = {}
    for array in _stored_arrays(path):
        stored.setdefault(array.shape, []).append(array)
    unloaded = []
    for weight in model.weights:
        value = np.asarray(weight)
        candidates = stored.get(value.shape, [])
        index = next((i for i, array in enumerate(candidates) if np.array_equal(array, value)), None)
        if index is None:
            unloaded.append(getattr(weight, "path", weight.name))
        else:
            candidates.pop(index)
    if unloaded and not partial:
        shown = ", ".join(unloaded[:8]) + (f" and {len(unloaded) - 8} more" if len(unloaded) > 8 else "")
        raise WeightsMismatchError(f"The weights file {path} does not fit {what or repr(model.name)}: {len(unloaded)} "
                           f"variable(s) not loaded: {shown}. Those would keep random values; pass partial=True "
                           "to accept a partial load on purpose.")


def load_weights(model, path, partial: bool = False, what: str | None = None) -> LoadReport | None:
    """Load a local weights file into ``model``, checking that every weighted layer got its values.

    Accepted: ``.keras`` model files (weights copied in order, shapes checked), named-layer
    HDF5 files (Keras 2 ``save_weights``, kecam and keras.applications downloads: loaded by
    layer name and verified value by value) and Keras 3 ``.weights.h5`` files (loaded by
    structure, then verified). Layers left out are a
    :class:`~kerascnn.errors.WeightsMismatchError` unless ``partial``. Returns the
    :class:`LoadReport` of named-layer files, else None.

    Examples:
        >>> import os, tempfile
        >>> from kerascnn.runtime import keras
        >>> def tiny():
        ...     x = keras.Input((4,))
        ...     return keras.Model(x, keras.layers.Dense(2, name="fc")(x))
        >>> path = os.path.join(tempfile.mkdtemp(), "tiny.weights.h5")
        >>> source, target = tiny(), tiny()
        >>> source.save_weights(path)
        >>> _ = load_weights(target, path)
        >>> all((s == t).all() for s, t in zip(source.get_weights(), target.get_weights()))
        True
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsNotAvailable(f"weights={path!r}: no such file. Use None, 'imagenet' or the path of a "
                                  ".keras, .h5 or .weights.h5 weights file.")
    if not path.endswith(FILE_KINDS):
        raise WeightsMismatchError(f"weights={path!r}: a weights file must end in .keras, .h5 or .weights.h5 "
                                   "(save one with model.save or model.save_weights).")
    _check_readable(path)
    what = what or f"model {model.name!r}"
    try:
        if path.endswith(".keras"):
            from kerascnn.saving import load_model  # noqa: PLC0415

            _copy_by_position(load_model(path, compile=False), model, path)
            return None
        if is_legacy_h5(path):
            model.load_weights(path, by_name=True, skip_mismatch=partial)
            return check_loaded(model, path, partial, what)
        with warnings.catch_warnings():  # Keras 3 only warns about what it skips; the check below decides
            warnings.simplefilter("ignore", UserWarning)
            model.load_weights(path, skip_mismatch=partial)
        _check_keras3_file(model, path, partial, what)
    except WeightsError:
        raise
    except (ValueError, KeyError, OSError, TypeError) as error:
        raise WeightsMismatchError(
            f"weights={path!r} do not fit {what} ({len(model.weights)} weight tensors, "
            f"{model.count_params():,} parameters): {' '.join(str(error).split())}") from None
    return None


def _check_readable(path):
    """A truncated or corrupt file gets a clear message (not "file not found" from Keras)."""
    import zipfile  # noqa: PLC0415

    import h5py  # noqa: PLC0415

    if path.endswith(".keras"):
        readable, kind = zipfile.is_zipfile(path), "a .keras (zip) model file"
    elif path.endswith((".h5", ".hdf5")):
        readable, kind = h5py.is_hdf5(path), "an HDF5 weights file"
    else:
        return
    if not readable:
        raise WeightsMismatchError(f"weights={path!r} is not {kind}: it is truncated or corrupt "
                         f"({os.path.getsize(path):,} bytes); save or download it again.")


def _copy_by_position(source, target, path):
    source_weights = source.get_weights()
    target_shapes = [tuple(w.shape) for w in target.weights]
    source_shapes = [tuple(w.shape) for w in source_weights]
    if source_shapes != target_shapes:
        wrong = next((i for i, (a, b) in enumerate(zip(source_shapes, target_shapes)) if a != b), None)
        where = "" if wrong is None else f"; tensor {wrong} ({target.weights[wrong].name}) is {source_shapes[wrong]} there"
        raise WeightsMismatchError(f"{path} holds {len(source_shapes)} tensors of other shapes{where}")
    target.set_weights(source_weights)


def copy_weights_by_name(source, target, skip=()):
    """Copy the weights of every layer of ``target`` from the layer of ``source`` with its name.

    All or nothing: every weighted layer of ``target`` (except the names in ``skip``) must
    find a layer of the same name, class and weight shapes in ``source``, and every weighted
    layer of ``source`` must be used, otherwise a ValueError lists what did not match and no
    weight is changed. This is how kerascnn takes ``keras.applications`` weights.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> def tiny():
        ...     x = keras.Input((4,))
        ...     return keras.Model(x, keras.layers.Dense(2, name="fc")(x))
        >>> source, target = tiny(), tiny()
        >>> _ = copy_weights_by_name(source, target)
        >>> all((s == t).all() for s, t in zip(source.get_weights(), target.get_weights()))
        True
    """
    problems, pairs, used = [], [], set()
    for layer in target.layers:
        if not layer.weights or layer.name in skip:
            continue
        try:
            origin = source.get_layer(layer.name)
        except ValueError:
            problems.append(f"{layer.name}: no layer of that name in {source.name}")
            continue
        used.add(origin.name)
        _pair(origin, layer, source, target, pairs, problems)
    unused = [layer.name for layer in source.layers
              if layer.weights and layer.name not in used and layer.name not in skip]
    if unused:
        problems.append(f"layers of {source.name} with no counterpart in {target.name}: "
                        + ", ".join(unused[:10]) + (" ..." if len(unused) > 10 else ""))
    return _copy_pairs(pairs, problems, source, target)


def _pair(origin, layer, source, target, pairs, problems):
    """Queue ``origin``'s weights for ``layer`` if class and shapes agree, else note the mismatch."""
    values = origin.get_weights()
    have = [tuple(w.shape) for w in values]
    want = [tuple(w.shape) for w in layer.weights]
    if type(origin).__name__ != type(layer).__name__ or have != want:
        where = source.name if origin.name == layer.name else f"{source.name} (layer {origin.name!r})"
        problems.append(f"{layer.name}: {type(origin).__name__} with weight shapes {have} in "
                        f"{where}, {type(layer).__name__} with {want} in {target.name}")
    else:
        pairs.append((layer, values))


def _copy_pairs(pairs, problems, source, target):
    """All or nothing: raise on any problem, else set every queued weight."""
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise WeightsMismatchError(f"cannot copy weights from {source.name!r} to {target.name!r}: {shown}")
    for layer, values in pairs:
        layer.set_weights(values)
    return target


def copy_weights_in_order(source, target):
    """Copy the weights of ``source``'s weighted layers into ``target``'s, pairing them in order.

    For keras.applications models whose layers carry Keras' automatic names (``conv2d_57``,
    which depend on what the process built before): the two models must be the same graph
    built in the same order, so their weighted layers come in the same order, as Keras' own
    HDF5 loader assumes. All or nothing: both models must have as many weighted layers, and
    each pair the same class and weight shapes, otherwise a ValueError names the first
    mismatches and no weight is changed.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> def tiny(name):
        ...     x = keras.Input((4,))
        ...     return keras.Model(x, keras.layers.Dense(2, name=name)(x))
        >>> source, target = tiny("dense_7"), tiny("fc")
        >>> _ = copy_weights_in_order(source, target)
        >>> all((s == t).all() for s, t in zip(source.get_weights(), target.get_weights()))
        True
    """
    sources = [layer for layer in source.layers if layer.weights]
    targets = [layer for layer in target.layers if layer.weights]
    problems, pairs = [], []
    if len(sources) != len(targets):
        problems.append(f"{len(sources)} weighted layers in {source.name}, {len(targets)} in {target.name}")
    for origin, layer in zip(sources, targets):
        _pair(origin, layer, source, target, pairs, problems)
    return _copy_pairs(pairs, problems, source, target)
