"""The one place where kerascnn chooses and imports Keras.

kerascnn follows the same switch as ``tf.keras``:

* default: Keras 3, on whatever backend ``KERAS_BACKEND`` names (TensorFlow by default);
* ``TF_USE_LEGACY_KERAS=1`` (set before TensorFlow or kerascnn is imported): Keras 2 from
  the ``tf_keras`` package, the runtime keras-cv-attention-models needs.

Every other module writes ``from kerascnn.runtime import keras`` and uses only the API the
two runtimes share, so a model built by kerascnn is always a model of the user's
``tf.keras`` and composes with their own layers.

Examples:
    >>> from kerascnn import runtime
    >>> runtime.NAME in ("keras3", "tf_keras")
    True
"""

from __future__ import annotations

import os
import sys
import types

import kerascnn._startup as _startup

LEGACY_VARIABLE = "TF_USE_LEGACY_KERAS"
ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"

if "tensorflow" not in sys.modules:
    # TensorFlow turns its oneDNN CPU kernels on by itself only on CPUs with AVX-512 VNNI or
    # AMX; on an AVX2 machine a ResNet-50 training step ran 1.35x faster with them
    # (docs/benchmarks.md). A value the user set, 0 included, is kept.
    os.environ.setdefault(ONEDNN_VARIABLE, "1")


def _legacy_requested() -> bool:
    return os.environ.get(LEGACY_VARIABLE, "").strip().lower() in ("1", "true", "yes")


_quiet = _startup.QUIET_NATIVE_IMPORT and "tensorflow" not in sys.modules
with _startup.native_stderr_silenced(_quiet):
    if _legacy_requested():
        import tensorflow as _tf
        import tf_keras as keras
    else:
        import keras
    if _quiet and "tensorflow" in sys.modules:
        sys.modules["tensorflow"].config.list_physical_devices()  # its CUDA probe prints, too

if _legacy_requested():
    NAME = "tf_keras"
    BACKEND = "tensorflow"
    IS_KERAS3 = False
    # Keras 2 has no ``keras.ops``; the few tensor functions kerascnn's custom layers need
    # are taken from TensorFlow under Keras 3's names.
    ops = types.SimpleNamespace(
        square=_tf.square,
        pad=_tf.pad,
        power=_tf.pow,
        cast=_tf.cast,
        concatenate=lambda xs, axis=-1: _tf.concat(xs, axis=axis),
        reshape=_tf.reshape,
        matmul=_tf.linalg.matmul,
        split=lambda x, parts, axis=0: _tf.split(x, parts, axis=axis),
    )
else:
    NAME = "keras3"
    BACKEND = keras.backend.backend()
    IS_KERAS3 = True
    ops = keras.ops

VERSION = keras.__version__ if hasattr(keras, "__version__") else keras.version()


class RuntimeMismatchError(RuntimeError):
    """A feature was asked for in a runtime that cannot provide it."""


def require_legacy(feature: str) -> None:
    """Raise a clear error unless kerascnn runs on Keras 2 (tf-keras).

    Examples:
        >>> from kerascnn import runtime
        >>> if runtime.NAME == "keras3":
        ...     try:
        ...         runtime.require_legacy("kecam backbones")
        ...     except runtime.RuntimeMismatchError as error:
        ...         "TF_USE_LEGACY_KERAS=1" in str(error)
        ... else:
        ...     True
        True
    """
    if not IS_KERAS3:
        return
    raise RuntimeMismatchError(
        f"{feature} needs Keras 2 (tf-keras), but kerascnn is running on Keras 3 "
        f"({keras.__version__}, backend {BACKEND}). Set the environment variable "
        f"{LEGACY_VARIABLE}=1 before importing TensorFlow or kerascnn, e.g. "
        f"`{LEGACY_VARIABLE}=1 python train.py`, or `os.environ['{LEGACY_VARIABLE}'] = '1'` "
        "as the first line of the script or notebook (restart the kernel first)."
    )


def require_keras3(feature: str, backend: str | None = None) -> None:
    """Raise a clear error unless kerascnn runs on Keras 3 (optionally on ``backend``).

    Examples:
        >>> from kerascnn import runtime
        >>> runtime.require_keras3("anything") if runtime.IS_KERAS3 else None
    """
    if IS_KERAS3 and (backend is None or BACKEND == backend):
        return
    wanted = "Keras 3" + (f" with the {backend} backend" if backend else "")
    hint = f"unset {LEGACY_VARIABLE}" if not IS_KERAS3 else ""
    if backend and BACKEND != backend:
        hint = (hint + " and " if hint else "") + f"set KERAS_BACKEND={backend}"
    raise RuntimeMismatchError(
        f"{feature} needs {wanted}, but kerascnn is running on {describe()}. "
        f"To use it, {hint} before importing TensorFlow, Keras or kerascnn."
    )


def describe() -> str:
    """A one-line description of the active runtime, e.g. ``keras3 3.15.1 (tensorflow)``."""
    return f"{NAME} {VERSION} ({BACKEND})"


def is_mixed_precision() -> bool:
    """True when the global dtype policy computes in a lower precision than it stores."""
    policy = keras.mixed_precision.global_policy()
    return policy.compute_dtype != policy.variable_dtype
