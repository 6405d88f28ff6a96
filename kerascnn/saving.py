"""Loading a ``.keras`` file in both runtimes, fast in Keras 2 too.

tf-keras (Keras 2, 2.x up to 2.21 at least) reads the weights of a ``.keras`` file with h5py
straight from inside the zip archive, through ``tf.io.gfile``; every backward seek h5py makes
restarts the zip member from its beginning on Python 3.11. A ResNet-18 run's model took 27 s
to load that way, a DaViT-T's most of a minute. Extracting ``model.weights.h5`` to a
temporary file first and loading it with ``load_weights`` (the same ``_load_state`` step
``load_model`` runs, on a plain file) takes a second. Keras 3 reads the archive itself.

Examples:
    >>> import os, tempfile
    >>> from kerascnn.runtime import keras
    >>> x = keras.Input((4,))
    >>> model = keras.Model(x, keras.layers.Dense(2, name="fc")(x))
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.keras")
    >>> model.save(path)
    >>> [layer.name for layer in load_model(path, compile=False).layers][-1]
    'fc'
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import tempfile
import warnings
import zipfile

from kerascnn.runtime import IS_KERAS3, keras

#: the members of a ``.keras`` archive that :func:`load_model` reads (Keras 2 and 3 write both)
CONFIG, WEIGHTS = "config.json", "model.weights.h5"

#: what Keras says when the saved optimizer's variables do not match the loaded one's (Keras 3.x
#: warns, tf-keras 2.x logs it through absl); ``{saved}`` is the saved optimizer's count
SKIPPED_OPTIMIZER = (r"Skipping variable loading for optimizer '[^']*', because it has \d+ variables "
                     r"whereas the saved optimizer has {saved} variables")


def load_model(path, *, compile: bool = True, safe_mode: bool = True):
    """``keras.models.load_model(path, compile=, safe_mode=)`` for a ``.keras`` file, in either runtime.

    Keras 3: exactly that. Keras 2: the model from ``config.json`` (compiled as saved unless
    ``compile=False``), then its weights (and optimizer state) from ``model.weights.h5``
    extracted to a temporary folder. A file that is not such an archive goes to Keras' own
    loader, whose error names it. kerascnn's own layers (GoogLeNet's LRN, DaViT's) and
    optimizers (fine-tuning with ``lr_mult``) are registered first.
    """
    import kerascnn.layers  # noqa: F401,PLC0415 - registers kerascnn's own layers for loading
    import kerascnn.optimizers  # noqa: F401,PLC0415 - and its optimizers

    path = str(path)
    with unstepped_optimizer_quiet():
        if IS_KERAS3 or not zipfile.is_zipfile(path):
            return keras.models.load_model(path, compile=compile, safe_mode=safe_mode)
        with zipfile.ZipFile(path) as archive:
            if {CONFIG, WEIGHTS} - set(archive.namelist()):
                return keras.models.load_model(path, compile=compile, safe_mode=safe_mode)
            config = json.loads(archive.read(CONFIG))
            if not compile:
                config["compile_config"] = None
            with tempfile.TemporaryDirectory(prefix="kerascnn-load-") as folder:
                weights = archive.extract(WEIGHTS, folder)
                model = keras.saving.deserialize_keras_object(config, safe_mode=safe_mode)
                model.load_weights(weights)
        return model


@functools.lru_cache(maxsize=1)
def unstepped_optimizer_count() -> int:
    """How many variables an optimizer has before its first step (Keras 3: the step count and the
    learning rate; Keras 2: the step count), whatever its kind."""
    variables = keras.optimizers.SGD().variables
    return len(variables() if callable(variables) else variables)


@contextlib.contextmanager
def unstepped_optimizer_quiet():
    """Silences Keras' "Skipping variable loading for optimizer" where the saved optimizer never
    took a step (a builder's compiled model saved before training): it holds only the variables
    every optimizer starts with, so the loaded one loses nothing. Any other mismatch (state
    that is really dropped) is still reported.
    """
    message = SKIPPED_OPTIMIZER.format(saved=unstepped_optimizer_count())

    class _Unstepped(logging.Filter):
        def filter(self, record):
            return not re.match(message, record.getMessage())

    log_filter, absl = _Unstepped(), logging.getLogger("absl")
    absl.addFilter(log_filter)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=message, category=UserWarning)
            yield
    finally:
        absl.removeFilter(log_filter)
