"""Pre-activation ResNet, "ResNet V2" (He et al. 2016, "Identity Mappings...", arXiv 1603.05027).

The residual branch starts with BatchNorm and ReLU ("pre-activation", figure 4e of the paper)
and nothing follows the addition, so the shortcut path is a pure identity from the stem to
the last block. The stem is the 7x7/2 convolution alone (the first block normalises it),
then the 3x3/2 max pool; after the last block one BatchNorm and ReLU (``post_bn``,
``post_relu``), global average pooling and the classifier. Convolutions that no BatchNorm
follows (the stem, the last convolution of each branch, the projections) have a bias.

``resnet50v2``, ``resnet101v2``, ``resnet152v2`` are keras.applications' ResNet50V2/101V2/152V2
layer for layer: bottlenecks, each stage downsampling in the 3x3 convolution of its LAST
block (conv2..conv4), with a 1x1 max pool on that block's shortcut; the first block of each
stage projects its pre-activated input with a 1x1 convolution. So ``weights="imagenet"``
takes their weights by layer name. ``resnet18v2`` and ``resnet34v2`` have no keras.applications
counterpart: the paper's pre-activation basic block on the layout of ResNet-18/34 (He et al.
2015, Table 1), downsampling in the FIRST block of conv3..conv5 as both papers do.

Examples:
    >>> from kerascnn.models.resnet_v2 import VARIANTS
    >>> VARIANTS["resnet50v2"]["weights"][0].application
    'ResNet50V2'
"""

from __future__ import annotations

from kerascnn.blocks import BN_EPSILON, preact_basic_block, preact_bottleneck_block
from kerascnn.models import base
from kerascnn.models.resnet import card, stages, start, stem
from kerascnn.registry import keras_weights, register_family
from kerascnn.runtime import keras

layers = keras.layers
BLOCKS = {"basic": preact_basic_block, "bottleneck": preact_bottleneck_block}

_KERAS = ("keras.applications.{} built with weights=None (counted in tests/models/test_resnet_v2.py); "
          "table in docs/models/resnet_v2.md")
_OSMR = ("osmr/imgclsmob preresnet{} (torch, no biases, stem BatchNorm): {:,}, less the stem "
         "BatchNorm's 128, plus {:,} biases of the convolutions no BatchNorm follows; docs/models/resnet_v2.md")
_KERAS_TOP1 = "keras.io/api/applications: {} (the weights of weights='imagenet'), one 224 crop"


def _build(name, layout, input_shape, num_classes, include_top, options):
    kind, repeats, downsample = layout
    inputs, head = start(name, input_shape, num_classes, include_top, options)
    x = stem(inputs, batch_norm=False)
    x = stages(x, repeats, BLOCKS[kind], downsample=downsample)
    x = layers.BatchNormalization(axis=-1, epsilon=BN_EPSILON, name="post_bn")(x)
    x = layers.Activation("relu", name="post_relu")(x)
    x = base.features_or_top(x, head, options, top_pooling="avg")
    return base.finish(inputs, x, head, options, default_name=name)


def _variant(name, kind, repeats, downsample, params, trainable, params_source, application=None, top1=None):
    """The table entry of one variant: its builder (named ``name``), card and weights."""
    layout = (kind, repeats, downsample)

    def builder(input_shape=(224, 224, 3), num_classes=None, include_top=True, **options):
        return _build(name, layout, input_shape, num_classes, include_top, options)

    weights_note = (f"``weights='imagenet'`` takes keras.applications.{application}'s weights layer by layer "
                    "(a failed download raises)." if application else "No ImageNet weights (keras.applications "
                    "has no such model).")
    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = f"""ResNet V2 {name}: pre-activation {kind} blocks {list(repeats)}, {params:,} params.

    Downsampling in the {downsample} block of a stage. {weights_note} The arguments are those of
    every builder (``input_shape``, ``num_classes``, ``include_top``, ``pooling``, ``weights``...).

    Examples:
        >>> import kerascnn
        >>> kerascnn.model_card("{name}").params
        {params}
    """
    depth = name[len("resnet"):-len("v2")]
    description = (f"ResNet-{depth} V2: pre-activation {kind} blocks {list(repeats)}, "
                   f"stride in the {downsample} block of a stage, BatchNorm-ReLU before each conv")
    sources = {"params": params_source}
    weights = ()
    if application:
        sources["top1"] = _KERAS_TOP1.format(application)
        weights = (keras_weights(application, "tf", top1=top1),)
    return {"builder": builder, **card("resnet_v2", description, params, trainable, sources, top1=top1,
                                       weights=weights)}


#: The variants: name -> builder, card and weights. ResNet50V2/101V2/152V2 are keras.applications'
#: layout (downsampling in the last block of a stage) with its ImageNet weights.
VARIANTS = {
    "resnet18v2": _variant("resnet18v2", "basic", (2, 2, 2, 2), "first", 11_698_408, 11_690_600,
                           _OSMR.format(18, 11_687_848, 2_880)),
    "resnet34v2": _variant("resnet34v2", "basic", (3, 4, 6, 3), "first", 21_815_848, 21_800_616,
                           _OSMR.format(34, 21_796_008, 4_736)),
    "resnet50v2": _variant("resnet50v2", "bottleneck", (3, 4, 6, 3), "last", 25_613_800, 25_568_360,
                           _KERAS.format("ResNet50V2"), "ResNet50V2", 76.0),
    "resnet101v2": _variant("resnet101v2", "bottleneck", (3, 4, 23, 3), "last", 44_675_560, 44_577_896,
                            _KERAS.format("ResNet101V2"), "ResNet101V2", 77.2),
    "resnet152v2": _variant("resnet152v2", "bottleneck", (3, 8, 36, 3), "last", 60_380_648, 60_236_904,
                            _KERAS.format("ResNet152V2"), "ResNet152V2", 78.0),
}
register_family(VARIANTS)
resnet18v2, resnet34v2, resnet50v2, resnet101v2, resnet152v2 = (
    entry["builder"] for entry in VARIANTS.values())
