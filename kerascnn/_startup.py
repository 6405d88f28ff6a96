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
