"""ResNet (He et al. 2015, arXiv 1512.03385) and SE-ResNet (Hu et al. 2017, arXiv 1709.01507).

Stem: 7x7/2 conv 64 (padding 3), BatchNorm, ReLU, 3x3/2 max pool (padding 1). Four stages
conv2-conv5 of residual blocks, 64/128/256/512 wide (bottlenecks output 4x that), the first
block of conv3-conv5 downsampling by 2 with a 1x1 projection shortcut (option B of the
paper). Basic blocks (two 3x3) for ResNet-18/34, bottlenecks (1x1-3x3-1x1) for 50/101/152.
BatchNorm after every convolution, no convolution bias by default, global average pooling
and one fully connected layer. SE-ResNet adds a squeeze-and-excitation block (r = 16) on
each residual branch, before the addition.

Layer names are those of ``keras.applications`` (``conv1_conv``, ``conv2_block1_0_conv``,
``conv5_block3_out``, ``avg_pool``, ``predictions``), which is how ``weights="imagenet"``
takes the keras.applications weights layer by layer.
"""

from __future__ import annotations

import functools

from kerascnn.blocks import STRIDE_PLACEMENTS, basic_block, bottleneck_block, conv_bn_act
from kerascnn.errors import WeightsNotAvailable, check_choice, check_int
from kerascnn.models import base
from kerascnn.registry import REFERENCES, keras_weights, register_family
from kerascnn.runtime import keras

layers = keras.layers

#: depth -> (block, blocks per stage conv2..conv5), Table 1 of He et al.
CONFIGS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
WIDTHS = (64, 128, 256, 512)
#: Every spatial reduction pads (7x7/2 pad 3, 3x3/2 pool pad 1, 1x1/2 and 3x3/2 convolutions
#: never empty a map), so any input of at least 1x1 gives a (1x1 or larger) final map.
MIN_INPUT_SIZE = 1


def _build(depth, se_ratio, input_shape, num_classes, include_top, stride_in, use_bias, options):
    name = f"se_resnet{depth}" if se_ratio else f"resnet{depth}"
    check_choice("stride_in", stride_in, STRIDE_PLACEMENTS)
    imagenet = isinstance(options.get("weights"), str) and options["weights"] == "imagenet"
    if use_bias is None:
        use_bias = imagenet
    elif not isinstance(use_bias, bool):
        raise TypeError(f"use_bias must be True, False or None, got {use_bias!r}.")
    inputs, head = start(name, input_shape, num_classes, include_top, options)
    if imagenet:  # the card's weights record exists (base.start checked): the layout must be keras.applications'
        _check_imagenet_layout(name, stride_in, use_bias)
    x = stem(inputs, use_bias=use_bias)
    kind, repeats = CONFIGS[depth]
    if kind == "basic":
        block = functools.partial(basic_block, se_ratio=se_ratio, use_bias=use_bias)
    else:
        block = functools.partial(bottleneck_block, stride_in=stride_in, se_ratio=se_ratio, use_bias=use_bias)
    x = stages(x, repeats, block)
    x = base.features_or_top(x, head, options, top_pooling="avg")
    return base.finish(inputs, x, head, options, default_name=name)


def start(name, input_shape, num_classes, include_top, options):
    """:func:`kerascnn.models.base.start` for a ResNet-family builder (any input of at least 1x1;
    a pretrained tag is checked against the card's weights record before anything is built)."""
    return base.start(input_shape, MIN_INPUT_SIZE, name, num_classes, include_top, options)


def stem(inputs, batch_norm=True, use_bias=None):
    """conv1 (7x7/2 conv 64, padding 3[, BatchNorm, ReLU]) and pool1 (3x3/2 max pool, padding 1).

    ``batch_norm=False`` is the pre-activation stem (ResNet V2): the convolution alone, whose
    normalisation is the first block's pre-activation. ``use_bias``: as
    :func:`kerascnn.blocks.conv_bn_act` (None: a bias only without BatchNorm).

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((224, 224, 3))
        >>> tuple(stem(x).shape)
        (None, 56, 56, 64)
    """
    activation = "relu" if batch_norm else None
    x = conv_bn_act(inputs, 64, 7, strides=2, padding=3, batch_norm=batch_norm, activation=activation,
                    use_bias=use_bias, name="conv1")
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


def stages(x, repeats, block, downsample="first"):
    """The stages conv2..conv5, ``repeats[i]`` blocks each, 64/128/256/512 filters (:data:`WIDTHS`).

    ``block(x, filters, strides, name=...)`` builds one block, named ``conv{stage}_block{i}``.
    ``downsample="first"``: the first block of conv3..conv5 has stride 2 (the papers);
    ``"last"``: the last block of conv2..conv4 (keras.applications' ResNet V2).

    Examples:
        >>> from kerascnn.runtime import keras
        >>> from kerascnn.blocks import basic_block
        >>> x = keras.Input((56, 56, 64))
        >>> tuple(stages(x, (1, 1, 1, 1), basic_block).shape)
        (None, 7, 7, 512)
    """
    check_choice("downsample", downsample, ("first", "last"))
    last_stage = 1 + len(repeats)
    for stage, (filters, blocks) in enumerate(zip(WIDTHS, repeats), start=2):
        for index in range(1, blocks + 1):
            if downsample == "first":
                strided = index == 1 and stage > 2
            else:
                strided = index == blocks and stage < last_stage
            x = block(x, filters, 2 if strided else 1, name=f"conv{stage}_block{index}")
    return x


def _check_imagenet_layout(name, stride_in, use_bias):
    if stride_in != "v1" or use_bias is not True:
        raise WeightsNotAvailable(
            f"weights='imagenet' needs the keras.applications layout of {name}: stride_in='v1' and "
            f"use_bias=True, got stride_in={stride_in!r}, use_bias={use_bias!r}.")


def card(family, description, params, trainable, sources, gmacs=None, top1=None, weights=()) -> dict:
    """The reference-card fields of a ResNet-family model: 224x224x3 input, 1000 classes.

    Examples:
        >>> card("resnet", "doc example", 100, 60, {"params": "a paper"})["non_trainable_params"]
        40
    """
    return {
        "family": family,
        "description": description,
        "input_shape": (224, 224, 3),
        "min_input_size": (MIN_INPUT_SIZE, MIN_INPUT_SIZE),
        "num_classes": 1000,
        "params": params,
        "trainable_params": trainable,
        "non_trainable_params": params - trainable,
        "gmacs": gmacs,
        "top1": top1,
        "sources": {"min_input_size": "derived: every downsampling maps a side s to ceil(s / 2) "
                                      "(resnet.MIN_INPUT_SIZE)", **sources},
        "weights": tuple(weights),
    }


def _card(builder, depth, se, params, trainable, gmacs=None, top1=None, sources=None, weights=()):
    """The table entry of one variant: builder, card and pretrained weights."""
    block = "basic blocks" if CONFIGS[depth][0] == "basic" else "bottlenecks"
    if se:
        description = f"SE-ResNet-{depth}: ResNet-{depth} with an SE block (r = 16) on every residual branch"
    else:
        description = f"ResNet-{depth}: {block}, projection shortcuts, BatchNorm after every conv, no conv bias"
    return {"builder": builder, **card("resnet", description, params, trainable, sources or {}, gmacs, top1,
                                       weights)}


_TORCH = REFERENCES + ", torchvision table: num_params {:,} (IMAGENET1K_V1) + BatchNorm statistics"
_HE = "He et al. 2015, arXiv 1512.03385, Table 1: {} billion multiply-adds (the paper's 'FLOPs'), V1 strides"
_TV_TOP1 = REFERENCES + ", torchvision table: acc@1 (IMAGENET1K_V1), one 224 crop"
_KERAS_TOP1 = "keras.io/api/applications: keras.applications {} (the weights of weights='imagenet'), one 224 crop"
_SE = REFERENCES + ", papers table: osmr/imgclsmob SE-ResNet (r = 16) torch count {:,} + BatchNorm statistics"
_HU = "Hu et al. 2017, arXiv 1709.01507, Table 2: {} GFLOPs (multiply-adds, as He et al.)"
_HU_TOP1 = "Hu et al. 2017, Table 2: top-1 error {} (one 224 crop)"


def _sources(params_source, gmacs_source=None, top1_source=None):
    sources = {"params": params_source}
    if gmacs_source:
        sources["gmacs"] = gmacs_source
    if top1_source:
        sources["top1"] = top1_source
    return sources


def resnet18(input_shape=(224, 224, 3), num_classes=None, include_top=True, stride_in="v1", use_bias=None,
             **options):
    """ResNet-18: basic blocks [2, 2, 2, 2]. 11,699,112 parameters (9,600 of them BatchNorm statistics).

    ``stride_in`` ("v1" or "v1.5") only matters for bottlenecks; ResNet-18/34 are the same in both.
    ``use_bias=True`` adds a bias to every convolution. See :func:`resnet50` for the arguments.

    Examples:
        >>> import kerascnn
        >>> model = kerascnn.resnet18(input_shape=(64, 48, 3), num_classes=10)
        >>> tuple(model.get_layer("conv5_block2_out").output.shape), tuple(model.output.shape)
        ((None, 2, 2, 512), (None, 10))
    """
    return _build(18, None, input_shape, num_classes, include_top, stride_in, use_bias, options)


def resnet34(input_shape=(224, 224, 3), num_classes=None, include_top=True, stride_in="v1", use_bias=None,
             **options):
    """ResNet-34: basic blocks [3, 4, 6, 3]. 21,814,696 parameters. See :func:`resnet50`.

    Examples:
        >>> import kerascnn
        >>> kerascnn.model_card("resnet34").params
        21814696
    """
    return _build(34, None, input_shape, num_classes, include_top, stride_in, use_bias, options)


def resnet50(input_shape=(224, 224, 3), num_classes=None, include_top=True, stride_in="v1", use_bias=None,
             **options):
    """ResNet-50: bottlenecks [3, 4, 6, 3]. 25,610,152 parameters (53,120 BatchNorm statistics).

    Args:
        stride_in: ``"v1"`` (the paper, keras.applications: stride 2 in the first 1x1 of a
            downsampling bottleneck) or ``"v1.5"`` (torchvision, NVIDIA: stride in the 3x3;
            same parameters, about 0.23 GMACs more, a little more accurate).
        use_bias: a bias in every convolution (BatchNorm makes it redundant). None means
            False, or True with ``weights="imagenet"``: keras.applications' layout,
            25,636,712 parameters.
        weights: None, ``"imagenet"`` (keras.applications ResNet50's weights, mapped layer by
            layer; BatchNorm epsilon 1.001e-5 as there) or the path of a file saved by kerascnn.

    The other arguments are those of every builder (``num_classes=0`` or
    ``include_top=False`` for features, ``pooling``, ``dropout``, compile options...).

    Examples:
        >>> import kerascnn
        >>> card = kerascnn.model_card("resnet50")
        >>> card.params, card.non_trainable_params, card.pretrained
        (25610152, 53120, ('imagenet',))
    """
    return _build(50, None, input_shape, num_classes, include_top, stride_in, use_bias, options)


def resnet101(input_shape=(224, 224, 3), num_classes=None, include_top=True, stride_in="v1", use_bias=None,
              **options):
    """ResNet-101: bottlenecks [3, 4, 23, 3]. 44,654,504 parameters. See :func:`resnet50`.

    Examples:
        >>> import kerascnn
        >>> kerascnn.model_card("resnet101").params
        44654504
    """
    return _build(101, None, input_shape, num_classes, include_top, stride_in, use_bias, options)


def resnet152(input_shape=(224, 224, 3), num_classes=None, include_top=True, stride_in="v1", use_bias=None,
              **options):
    """ResNet-152: bottlenecks [3, 8, 36, 3]. 60,344,232 parameters. See :func:`resnet50`.

    Examples:
        >>> import kerascnn
        >>> kerascnn.model_card("resnet152").params
        60344232
    """
    return _build(152, None, input_shape, num_classes, include_top, stride_in, use_bias, options)


def _se(se_ratio):
    return check_int("se_ratio", se_ratio, minimum=1)


def se_resnet18(input_shape=(224, 224, 3), num_classes=None, include_top=True, se_ratio=16, stride_in="v1",
                use_bias=None, **options):
    """SE-ResNet-18: ResNet-18 with an SE block (reduction ``se_ratio``, 16) before each addition.

    11,788,192 parameters: imgclsmob's 11,778,592 plus 9,600 BatchNorm statistics.

    Examples:
        >>> import kerascnn
        >>> model = kerascnn.se_resnet18(input_shape=(32, 32, 3), num_classes=10)
        >>> model.get_layer("conv5_block2_se_reduce").units  # 512 // 16
        32
    """
    return _build(18, _se(se_ratio), input_shape, num_classes, include_top, stride_in, use_bias, options)


def se_resnet34(input_shape=(224, 224, 3), num_classes=None, include_top=True, se_ratio=16, stride_in="v1",
                use_bias=None, **options):
    """SE-ResNet-34: 21,975,892 parameters. See :func:`se_resnet18`.

    Examples:
        >>> import kerascnn
        >>> kerascnn.model_card("se_resnet34").params
        21975892
    """
    return _build(34, _se(se_ratio), input_shape, num_classes, include_top, stride_in, use_bias, options)


def se_resnet50(input_shape=(224, 224, 3), num_classes=None, include_top=True, se_ratio=16, stride_in="v1",
                use_bias=None, **options):
    """SE-ResNet-50: 28,141,144 parameters. See :func:`se_resnet18`.

    Examples:
        >>> import kerascnn
        >>> kerascnn.model_card("se_resnet50").params
        28141144
    """
    return _build(50, _se(se_ratio), input_shape, num_classes, include_top, stride_in, use_bias, options)


def se_resnet101(input_shape=(224, 224, 3), num_classes=None, include_top=True, se_ratio=16, stride_in="v1",
                 use_bias=None, **options):
    """SE-ResNet-101: 49,432,216 parameters. See :func:`se_resnet18`.

    Examples:
        >>> import kerascnn
        >>> kerascnn.model_card("se_resnet101").params
        49432216
    """
    return _build(101, _se(se_ratio), input_shape, num_classes, include_top, stride_in, use_bias, options)


def se_resnet152(input_shape=(224, 224, 3), num_classes=None, include_top=True, se_ratio=16, stride_in="v1",
                 use_bias=None, **options):
    """SE-ResNet-152: 66,973,272 parameters. See :func:`se_resnet18`.

    Examples:
        >>> import kerascnn
        >>> kerascnn.model_card("se_resnet152").params
        66973272
    """
    return _build(152, _se(se_ratio), input_shape, num_classes, include_top, stride_in, use_bias, options)


#: The variants: name -> builder, card and pretrained weights (ImageNet: keras.applications, V1 with biases).
VARIANTS = {
    "resnet18": _card(resnet18, 18, False, 11_699_112, 11_689_512, 1.8, 69.758,
                      _sources(_TORCH.format(11_689_512), _HE.format(1.8), _TV_TOP1)),
    "resnet34": _card(resnet34, 34, False, 21_814_696, 21_797_672, 3.6, 73.314,
                      _sources(_TORCH.format(21_797_672), _HE.format(3.6), _TV_TOP1)),
    "resnet50": _card(resnet50, 50, False, 25_610_152, 25_557_032, 3.8, 74.9,
                      _sources(_TORCH.format(25_557_032), _HE.format(3.8), _KERAS_TOP1.format("ResNet50")),
                      weights=(keras_weights("ResNet50", "caffe", top1=74.9),)),
    "resnet101": _card(resnet101, 101, False, 44_654_504, 44_549_160, 7.6, 76.4,
                       _sources(_TORCH.format(44_549_160), _HE.format(7.6), _KERAS_TOP1.format("ResNet101")),
                       weights=(keras_weights("ResNet101", "caffe", top1=76.4),)),
    "resnet152": _card(resnet152, 152, False, 60_344_232, 60_192_808, 11.3, 76.6,
                       _sources(_TORCH.format(60_192_808), _HE.format(11.3), _KERAS_TOP1.format("ResNet152")),
                       weights=(keras_weights("ResNet152", "caffe", top1=76.6),)),
    "se_resnet18": _card(se_resnet18, 18, True, 11_788_192, 11_778_592,
                         sources=_sources(_SE.format(11_778_592))),
    "se_resnet34": _card(se_resnet34, 34, True, 21_975_892, 21_958_868, sources=_sources(
        "osmr/imgclsmob model tests: seresnet34 torch count 21,958,868 + BatchNorm statistics")),
    "se_resnet50": _card(se_resnet50, 50, True, 28_141_144, 28_088_024, 3.87, 76.71,
                         _sources(_SE.format(28_088_024), _HU.format(3.87), _HU_TOP1.format(23.29))),
    "se_resnet101": _card(se_resnet101, 101, True, 49_432_216, 49_326_872, 7.60, 77.62,
                          _sources(_SE.format(49_326_872), _HU.format(7.60), _HU_TOP1.format(22.38))),
    "se_resnet152": _card(se_resnet152, 152, True, 66_973_272, 66_821_848, 11.32, 78.43,
                          _sources(_SE.format(66_821_848), _HU.format(11.32), _HU_TOP1.format(21.57))),
}
register_family(VARIANTS)
