"""Pretrained weights that either load completely or raise: downloads, cache, hash checks.

Two ways weights reach a backbone, and neither ever leaves random weights behind silently:

* :func:`fetch` downloads a file into a cache (``~/.keras/models`` by default, the folder
  kecam and keras.applications use, so their existing downloads are reused), checks its
  md5/sha256 hash, and raises :class:`WeightsError` naming the file and how to supply it
  offline when anything fails (no network, HTTP error, hash mismatch). A mirror (a folder or
  URL, ``file://`` included) can replace the origin: ``KERASCNN_WEIGHTS_MIRROR``.
* :func:`load_weights` loads a local ``.h5`` / ``.weights.h5`` file and checks that every
  weighted layer of the model got its values from the file (:func:`check_loaded`); layers
  left out are an error unless ``partial=True``.

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

MIRROR_VARIABLE = "KERASCNN_WEIGHTS_MIRROR"
CACHE_VARIABLE = "KERASCNN_WEIGHTS_CACHE"


class WeightsError(ValueError):
    """Pretrained weights could not be obtained or did not fit; the message says what to do."""


def default_cache_dir() -> str:
    """``$KERASCNN_WEIGHTS_CACHE``, else ``$KERAS_HOME/models``, else ``~/.keras/models``."""
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
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_VARIABLE) or None
    origin = mirror_url(file_name, mirror) if mirror else url
    stale = " (the cached copy has the wrong hash)" if os.path.isfile(target) else ""
    hint = offline_hint(file_name, url, target, file_hash)
    try:
        os.makedirs(cache_dir, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{file_name}.", suffix=".part", dir=cache_dir)
    except OSError as error:
        raise WeightsError(f"Cannot write the weights cache {cache_dir!r}: {error}. {hint}") from None
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(origin, timeout=timeout) as response:
            shutil.copyfileobj(response, out, length=1 << 20)
        if not _hash_ok(temporary, file_hash):
            got = hash_file(temporary, _algorithm(file_hash))
            raise WeightsError(f"The weights file {file_name!r} downloaded from {origin} is corrupt or not "
                               f"the expected one: {_algorithm(file_hash)} {got}, expected {file_hash}. {hint}")
        os.replace(temporary, target)
    except WeightsError:
        raise
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        raise WeightsError(f"Could not download the pretrained weights file {file_name!r} from {origin}"
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
        raise WeightsError(
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
        raise WeightsError(f"The weights file {path} does not fit {what or repr(model.name)}: {len(unloaded)} "
                           f"variable(s) not loaded: {shown}. Those would keep random values; pass partial=True "
                           "to accept a partial load on purpose.")


def load_weights(model, path, partial: bool = False, what: str | None = None) -> LoadReport | None:
    """Load a local weights file into ``model``, checking that every weighted layer got its values.

    Named-layer HDF5 files (Keras 2 ``save_weights``, kecam and keras.applications downloads)
    are loaded by layer name and verified value by value; Keras 3 ``.weights.h5`` files by
    structure, Keras itself refusing any mismatch unless ``partial``. Returns the
    :class:`LoadReport` (None for ``.weights.h5`` files of Keras 3).

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
        raise WeightsError(f"weights={path!r}: no such file. Use None, 'imagenet' or the path of a "
                           ".h5 / .weights.h5 weights file.")
    if not path.endswith((".h5", ".hdf5")):
        raise WeightsError(f"weights={path!r}: a weights file must end in .h5 or .weights.h5 "
                           "(save one with model.save_weights).")
    try:
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
        raise WeightsError(f"weights={path!r} do not fit {what or repr(model.name)}: "
                           f"{' '.join(str(error).split())}") from None
    return None
