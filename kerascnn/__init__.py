"""kerascnn: the classic convolutional networks for Keras, exact to their papers.

The package imports Keras (and so TensorFlow) lazily, on the first use of anything in it:
``import kerascnn.cli`` or ``kerascnn --help`` stays fast, and the ``kerascnn`` command can
still choose the runtime (``TF_USE_LEGACY_KERAS``) before TensorFlow is imported.

Examples:
    >>> import kerascnn
    >>> model = kerascnn.build("lenet5")
    >>> model.count_params() == kerascnn.model_card("lenet5").params
    True
"""

import importlib
import importlib.util

__version__ = "0.1.0"

#: Public names defined outside kerascnn.models, and the module each comes from.
_EXPORTS = {
    "ModelCard": "kerascnn.registry",
    "build": "kerascnn.registry",
    "list_models": "kerascnn.registry",
    "model_card": "kerascnn.registry",
    "basic_block": "kerascnn.blocks",
    "bottleneck_block": "kerascnn.blocks",
    "classifier_head": "kerascnn.blocks",
    "conv_bn_act": "kerascnn.blocks",
    "inception": "kerascnn.blocks",
    "preact_basic_block": "kerascnn.blocks",
    "preact_bottleneck_block": "kerascnn.blocks",
    "resnext_block": "kerascnn.blocks",
    "se_block": "kerascnn.blocks",
    "inception_a": "kerascnn.models.inception_v3",
    "inception_b": "kerascnn.models.inception_v3",
    "inception_c": "kerascnn.models.inception_v3",
    "inception_d": "kerascnn.models.inception_v3",
    "inception_e": "kerascnn.models.inception_v3",
    "inception_aux": "kerascnn.models.inception_v3",
    "separable_conv_bn": "kerascnn.models.xception",
    "xception_downsampling_block": "kerascnn.models.xception",
    "xception_middle_block": "kerascnn.models.xception",
    "dense_block": "kerascnn.models.densenet",
    "transition_block": "kerascnn.models.densenet",
    "depthwise_separable_block": "kerascnn.models.mobilenet",
    "inverted_residual_block": "kerascnn.models.mobilenet",
    "nin_block": "kerascnn.models.nin",
}
_SUBMODULES = ("blocks", "runtime", "registry", "heads", "layers", "models")


def _models():
    return importlib.import_module("kerascnn.models")  # registers every builder


def __getattr__(name):
    if name.startswith("__") and name != "__all__":
        raise AttributeError(name)
    if name != "__all__" and name not in _EXPORTS and importlib.util.find_spec(f"kerascnn.{name}") is not None:
        return importlib.import_module(f"kerascnn.{name}")  # a submodule: no need to load the zoo
    models = _models()
    if name == "__all__":
        return sorted([*_EXPORTS, *_SUBMODULES[:2], *models.__all__])
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in models.__all__:
        return getattr(models, name)
    try:
        return importlib.import_module(f"kerascnn.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"kerascnn.{name}":
            raise
    raise AttributeError(f"module 'kerascnn' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *__getattr__("__all__")})
