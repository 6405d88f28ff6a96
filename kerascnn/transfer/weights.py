"""The weight loading of :mod:`kerascnn.weights`, under the names kerascnn.transfer has used.

One loader serves the zoo's builders and the backbones: downloads with cache and hash check
(:func:`fetch`), checked loading of ``.keras``, ``.h5`` and ``.weights.h5`` files
(:func:`load_weights`), and one exception family (:class:`~kerascnn.errors.WeightsError`).

Examples:
    >>> from kerascnn import weights
    >>> fetch is weights.fetch and WeightsError is weights.WeightsError
    True
"""

from kerascnn.weights import (  # noqa: F401 - re-exported
    CACHE_VARIABLE,
    MIRROR_VARIABLE,
    LoadReport,
    WeightsError,
    check_loaded,
    default_cache_dir,
    fetch,
    hash_file,
    is_legacy_h5,
    load_weights,
    mirror_url,
    offline_hint,
)
