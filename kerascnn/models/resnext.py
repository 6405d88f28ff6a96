"""ResNeXt (Xie et al. 2017, arXiv 1611.05431) and Wide ResNet (Zagoruyko & Komodakis 2016, arXiv 1605.07146).

Both are ResNet-50/101 (He et al. 2015, Table 1: the same stem, stages, projection shortcuts,
global average pooling and classifier) with a wider bottleneck, in torchvision's form: the
stride in the 3x3 convolution, no convolution bias, BatchNorm after every convolution.

* ResNeXt splits the bottleneck's 3x3 convolution into ``cardinality`` groups of
  ``base_width * filters / 64`` channels ("32x4d": 32 groups of 4 channels in conv2, doubling
  with each stage), a grouped convolution (figure 3c of the paper). At the cost of ResNet-50,
  ResNeXt-50 (32x4d) is 1.7 points more accurate (Table 3).
* Wide ResNet-50-2 / 101-2 (torchvision's ImageNet form of Zagoruyko & Komodakis) doubles the
  bottleneck width: one group of ``2 * filters`` channels. In :func:`kerascnn.blocks.resnext_block`
  terms ``cardinality=1, base_width=128``, as torchvision writes it.

Layer names are those of kerascnn's ResNets (``conv2_block1_2_conv`` ...). No keras.applications
model has these architectures, so there are no ``weights="imagenet"``.

Examples:
    >>> from kerascnn.models.resnext import VARIANTS
    >>> VARIANTS["wide_resnet50_2"]["family"], VARIANTS["resnext50_32x4d"]["trainable_params"]
    ('wide_resnet', 25028904)
"""

from __future__ import annotations

import functools

from kerascnn.blocks import resnext_block
from kerascnn.errors import check_int
from kerascnn.models import base
from kerascnn.models.resnet import CONFIGS, card, stages, start, stem
from kerascnn.registry import register_family

_TORCHVISION = "torchvision {} IMAGENET1K_V1 weights metadata: {} (table in docs/models/resnext.md)"


def _build(name, depth, input_shape, num_classes, include_top, cardinality, base_width, options):
    cardinality = check_int("cardinality", cardinality, minimum=1)
    base_width = check_int("base_width", base_width, minimum=1)
    inputs, head = start(name, input_shape, num_classes, include_top, options)
    x = stem(inputs, use_bias=False)
    block = functools.partial(resnext_block, cardinality=cardinality, base_width=base_width, use_bias=False)
    x = stages(x, CONFIGS[depth][1], block)
    x = base.features_or_top(x, head, options, top_pooling="avg")
    return base.finish(inputs, x, head, options, default_name=name)


def _variant(name, depth, cardinality, base_width, trainable, bn_channels, gmacs, top1):
    """The table entry of one variant: its builder (named ``name``) and card.

    ``trainable``, ``gmacs`` and ``top1`` are torchvision's weights metadata (IMAGENET1K_V1:
    num_params, ``_ops``, acc@1; copied in docs/models/resnext.md); ``bn_channels`` are the
    BatchNorm channels, recomputed from the layout in tests/models/test_resnext.py.
    """
    params = trainable + 2 * bn_channels

    def builder(input_shape=(224, 224, 3), num_classes=None, include_top=True, cardinality=cardinality,
                base_width=base_width, **options):
        return _build(name, depth, input_shape, num_classes, include_top, cardinality, base_width, options)

    if cardinality == 1:
        description = (f"Wide ResNet-{depth}-2: ResNet-{depth} with bottlenecks twice as wide "
                       "(torchvision's form)")
    else:
        description = (f"ResNeXt-{depth} ({cardinality}x{base_width}d): bottlenecks with a 3x3 conv of "
                       f"{cardinality} groups, {base_width} channels each in conv2 (torchvision's form)")
    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = f"""{description}: {params:,} parameters.

    ``cardinality`` (default {cardinality}) and ``base_width`` (default {base_width}) are the
    groups of each bottleneck's 3x3 convolution and their width in conv2 (torchvision's
    ``groups`` and ``width_per_group``), see :func:`kerascnn.blocks.resnext_block`. The other
    arguments are those of every builder (``input_shape``, ``num_classes``, ``include_top``,
    ``pooling``...). No ImageNet weights (keras.applications has no such model).

    Examples:
        >>> import kerascnn
        >>> kerascnn.model_card("{name}").trainable_params  # torchvision's num_params
        {trainable}
    """
    sources = {"params": _TORCHVISION.format(name, f"num_params {trainable:,}")
               + f", + 2 x {bn_channels:,} BatchNorm statistics (Keras counts them)",
               "gmacs": _TORCHVISION.format(name, f"_ops {gmacs} GMACs (multiply-accumulates)"),
               "top1": _TORCHVISION.format(name, f"acc@1 {top1}, one 224 crop")}
    return {"builder": builder, **card("resnext" if cardinality > 1 else "wide_resnet", description, params,
                                       trainable, sources, gmacs=gmacs, top1=top1)}


#: The variants: name -> (depth, torchvision's groups and width_per_group, its num_params,
#: BatchNorm channels, GMACs, acc@1) as builder and card. No ImageNet weights: keras.applications
#: has no such models.
VARIANTS = {
    "resnext50_32x4d": _variant("resnext50_32x4d", 50, 32, 4, 25_028_904, 34_112, 4.23, 77.618),
    "resnext101_32x8d": _variant("resnext101_32x8d", 101, 32, 8, 88_791_336, 101_440, 16.41, 79.312),
    "resnext101_64x4d": _variant("resnext101_64x4d", 101, 64, 4, 83_455_272, 101_440, 15.46, 83.246),
    "wide_resnet50_2": _variant("wide_resnet50_2", 50, 1, 128, 68_883_240, 34_112, 11.40, 78.468),
    "wide_resnet101_2": _variant("wide_resnet101_2", 101, 1, 128, 126_886_696, 68_928, 22.75, 78.848),
}
register_family(VARIANTS)
resnext50_32x4d, resnext101_32x8d, resnext101_64x4d, wide_resnet50_2, wide_resnet101_2 = (
    entry["builder"] for entry in VARIANTS.values())
