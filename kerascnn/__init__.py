"""kerascnn: the classic convolutional networks for Keras, exact to their papers.

Examples:
    >>> import kerascnn
    >>> model = kerascnn.build("lenet5")
    >>> model.count_params() == kerascnn.model_card("lenet5").params
    True
"""

from kerascnn import blocks, runtime
from kerascnn.blocks import basic_block, bottleneck_block, classifier_head, conv_bn_act, inception, se_block
from kerascnn.models import *  # noqa: F401,F403 - every builder, registered on import
from kerascnn.models import __all__ as _model_names
from kerascnn.registry import ModelCard, build, list_models, model_card

__version__ = "0.1.0"

__all__ = [
    "ModelCard",
    "basic_block",
    "blocks",
    "bottleneck_block",
    "build",
    "classifier_head",
    "conv_bn_act",
    "inception",
    "list_models",
    "model_card",
    "runtime",
    "se_block",
    *_model_names,
]
