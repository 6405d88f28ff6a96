"""Keeping TensorFlow's native start-up lines out of the ``kerascnn`` command's output.

TensorFlow's shared libraries print a few lines as they load (CUDA probing on machines
without a GPU, the oneDNN notice) through absl before its logging is set up, so
``TF_CPP_MIN_LOG_LEVEL`` does not reach them. The ``kerascnn`` command asks for them to be
dropped by setting :data:`QUIET_NATIVE_IMPORT` before anything imports Keras; the library
itself never does it (an application importing kerascnn keeps its stderr untouched).

Examples:
    >>> from kerascnn import _startup
    >>> with _startup.native_stderr_silenced(False):
    ...     pass
"""

from __future__ import annotations

import contextlib
import os
import sys

#: Set by :func:`kerascnn.cli.main`; read once, when :mod:`kerascnn.runtime` imports Keras.
QUIET_NATIVE_IMPORT = False


@contextlib.contextmanager
def native_stderr_silenced(enabled: bool):
    """Point file descriptor 2 at the null device inside the block (native code writes there).

    Python exceptions raised in the block still reach the user: they propagate after
    descriptor 2 is restored, and Python prints them then.
    """
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as sink:
            os.dup2(sink.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


#: TensorFlow's switch (read once per process, at the first oneDNN convolution or matrix
#: product) that lets oneDNN keep the copy of each weight it reorders into its own layout.
FROZEN_WEIGHTS_VARIABLE = "TF_ONEDNN_ASSUME_FROZEN_WEIGHTS"


def declare_inference_only() -> bool:
    """Promise TensorFlow's oneDNN kernels that no weight changes in this process, so they cache them.

    Without the promise, every oneDNN convolution reorders its weights into oneDNN's layout
    on every call; with it (``TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1``) the first call's copy is
    kept. ResNet-50 inference at batch 1 ran 1.3x faster (2.1x folded) (see docs/benchmarks.md). The promise
    must hold: a training step in such a process keeps using the cached, stale weights
    (measured: a ResNet-18 loss went to NaN). So only the inference-only commands call this
    (``kerascnn evaluate``, ``kerascnn predict``, ``kerascnn bench --no-train``,
    ``benchmarks/inference.py``), before TensorFlow is imported; once TensorFlow is loaded
    it does nothing, and a value the user set (``0`` included) wins. Returns whether the
    promise is in effect.

    Examples:
        >>> from kerascnn import _startup
        >>> _startup.FROZEN_WEIGHTS_VARIABLE
        'TF_ONEDNN_ASSUME_FROZEN_WEIGHTS'
    """
    if "tensorflow" not in sys.modules:
        os.environ.setdefault(FROZEN_WEIGHTS_VARIABLE, "1")
        return os.environ[FROZEN_WEIGHTS_VARIABLE].strip().lower() in ("1", "true")
    return False
