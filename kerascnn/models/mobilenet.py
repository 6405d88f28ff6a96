"""MobileNet v1 (Howard et al. 2017, arXiv 1704.04861) and v2 (Sandler et al. 2018, arXiv 1801.04381).

**v1** factorises each 3x3 convolution into a *depthwise* 3x3 (one filter per channel) and a
*pointwise* 1x1 that mixes channels, each followed by BatchNorm and ReLU6: about 8-9 times
fewer multiply-adds than a full 3x3 convolution. Table 1 of the paper: a 3x3/2 stem of 32,
then 13 depthwise-separable blocks (64, 128, 128, 256, 256, 512 x 6, 1024, 1024; five of
them with stride 2), global average pooling and the classifier. The *width multiplier*
``alpha`` scales every layer's channels, the *depth multiplier* the depthwise outputs.

**v2** stacks *inverted residual* blocks (Table 2 of Sandler et al.): a 1x1 expansion by
t = 6 with ReLU6, a 3x3 depthwise convolution with ReLU6, and a *linear* 1x1 projection to a
narrow bottleneck; a shortcut adds the block input when the shapes match. Then a 1x1 conv to
1280, global average pooling and the classifier. Channels are ``alpha`` x the table's,
rounded to a multiple of 8.

Layer names are those of ``keras.applications`` (v1: ``conv1``, ``conv_dw_1``, ``conv_pw_1_bn``,
``conv_preds``; v2: ``Conv1``, ``expanded_conv_depthwise``, ``block_1_expand``, ``Conv_1``,
``predictions``), which is how ``weights="imagenet"`` takes their weights layer by layer.
v1's top is keras.applications': pooled to 1x1, dropout, a 1x1 convolution ``conv_preds``,
reshaped, and the activation ``predictions``.

Examples:
    >>> from kerascnn.models.mobilenet import V2_BLOCKS
    >>> V2_BLOCKS[1]  # expansion t, channels c, repeats n, first stride s
    (6, 24, 2, 2)
"""

from __future__ import annotations

import numbers

from kerascnn.errors import check_int
from kerascnn.models import base
from kerascnn.models._card import applications_card
from kerascnn.registry import KERAS_APPLICATIONS_TABLE, keras_weights, register_family
from kerascnn.runtime import is_mixed_precision, keras

layers = keras.layers

#: v1, Table 1 of Howard et al.: (pointwise filters, stride) of the 13 depthwise-separable blocks.
V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
             (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))
V1_STEM = 32
#: v2, Table 2 of Sandler et al.: (expansion t, output channels c, repeats n, first stride s).
V2_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
             (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
V2_STEM = 32
V2_LAST = 1280
#: v1's BatchNorm is Keras's default (epsilon 1e-3, momentum 0.99); v2's as keras.applications.
V2_BATCHNORM = {"epsilon": 1e-3, "momentum": 0.999}
#: keras.applications MobileNet's dropout before conv_preds.
V1_DROPOUT = 1e-3
#: keras.applications' ImageNet weights: the alphas and square input sides they exist for.
V1_WEIGHTS = keras_weights("MobileNet", "tf", top1=70.4, sizes=(128, 160, 192, 224),
                           options={"alpha": (0.25, 0.5, 0.75, 1.0), "depth_multiplier": (1,)})
V2_WEIGHTS = keras_weights("MobileNetV2", "tf", top1=71.3, sizes=(96, 128, 160, 192, 224),
                           options={"alpha": (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)})
#: v1: the stem maps a side s to ceil(s / 2) ("same"), each of the four stride-2 blocks
#: (pad 0 before, 1 after, valid 3x3/2) to floor(s / 2): s >= 31 leaves a 1x1 map.
V1_MIN_INPUT_SIZE = 31
#: v2: every stride-2 layer pads "same" (ceil(s / 2)), so no map can become empty.
V2_MIN_INPUT_SIZE = 1


def make_divisible(value, divisor: int = 8) -> int:
    """``value`` rounded to the nearest multiple of ``divisor``, never more than 10% below it.

    The rounding of MobileNet v2's channels (Sandler et al.'s reference code, keras.applications).

    Examples:
        >>> make_divisible(32 * 0.35), make_divisible(16 * 0.75), make_divisible(1280 * 1.4)
        (16, 16, 1792)
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _relu6(name):
    return layers.ReLU(6.0, name=name)


def depthwise_separable_block(x, filters: int, strides: int = 1, depth_multiplier: int = 1, block_id: int = 1):
    """MobileNet v1's depthwise-separable convolution (Howard et al. 2017, figure 3).

    3x3 depthwise convolution (stride ``strides``, ``depth_multiplier`` outputs per channel),
    BatchNorm, ReLU6, then a 1x1 pointwise convolution to ``filters`` channels, BatchNorm,
    ReLU6; no convolution bias. A stride-2 block pads one row and column after the input and
    convolves "valid", as keras.applications does. Names: ``conv_pad_{id}``, ``conv_dw_{id}``,
    ``conv_dw_{id}_bn``, ``conv_dw_{id}_relu``, ``conv_pw_{id}``, ``_bn``, ``_relu``.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((56, 56, 64))
        >>> y = depthwise_separable_block(x, 128, strides=2, block_id=2)
        >>> tuple(y.shape), keras.Model(x, y).count_params()  # 9*64 + 4*64 + 64*128 + 4*128
        ((None, 28, 28, 128), 9536)
    """
    filters = check_int("filters", filters, minimum=1)
    strides = check_int("strides", strides, minimum=1)
    depth_multiplier = check_int("depth_multiplier", depth_multiplier, minimum=1)
    padding = "same"
    if strides > 1:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
        padding = "valid"
    x = layers.DepthwiseConv2D(3, strides=strides, padding=padding, depth_multiplier=depth_multiplier,
                               use_bias=False, name=f"conv_dw_{block_id}")(x)
    x = layers.BatchNormalization(name=f"conv_dw_{block_id}_bn")(x)
    x = _relu6(f"conv_dw_{block_id}_relu")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"conv_pw_{block_id}")(x)
    x = layers.BatchNormalization(name=f"conv_pw_{block_id}_bn")(x)
    return _relu6(f"conv_pw_{block_id}_relu")(x)


def inverted_residual_block(x, filters: int, strides: int = 1, expansion: int = 6, block_id: int = 1):
    """MobileNet v2's inverted residual with a linear bottleneck (Sandler et al. 2018, Table 1).

    1x1 expansion to ``expansion`` x the input channels, BatchNorm, ReLU6 (left out when
    ``expansion`` is 1), 3x3 depthwise convolution (stride ``strides``), BatchNorm, ReLU6,
    1x1 projection to ``filters`` channels and BatchNorm, with no activation. The block input
    is added when the stride is 1 and the channels match. Stride 2 pads "same" (TensorFlow's
    convention, one extra row and column after an even input), which is what
    keras.applications' explicit padding computes. Names: ``block_{id}_expand``, ``_expand_BN``,
    ``_depthwise``, ``_project``, ``_add``; block 0 is ``expanded_conv_`` as in keras.applications.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((56, 56, 24))
        >>> y = inverted_residual_block(x, 24, block_id=2)
        >>> model = keras.Model(x, y)  # expand 24*144, depthwise 9*144, project 144*24, 3 BatchNorms
        >>> model.layers[-1].name, model.count_params() == 24*144 + 9*144 + 144*24 + 4 * (144 + 144 + 24)
        ('block_2_add', True)
    """
    filters = check_int("filters", filters, minimum=1)
    strides = check_int("strides", strides, minimum=1)
    expansion = check_int("expansion", expansion, minimum=1)
    block_id = check_int("block_id", block_id, minimum=0)
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    channels = x.shape[-1]
    y = x
    if expansion != 1:
        y = layers.Conv2D(expansion * channels, 1, use_bias=False, name=f"{prefix}expand")(y)
        y = layers.BatchNormalization(**V2_BATCHNORM, name=f"{prefix}expand_BN")(y)
        y = _relu6(f"{prefix}expand_relu")(y)
    y = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, name=f"{prefix}depthwise")(y)
    y = layers.BatchNormalization(**V2_BATCHNORM, name=f"{prefix}depthwise_BN")(y)
    y = _relu6(f"{prefix}depthwise_relu")(y)
    y = layers.Conv2D(filters, 1, use_bias=False, name=f"{prefix}project")(y)
    y = layers.BatchNormalization(**V2_BATCHNORM, name=f"{prefix}project_BN")(y)
    if strides == 1 and channels == filters:
        return layers.Add(name=f"{prefix}add")([x, y])
    return y


def _check_alpha(alpha):
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not alpha > 0:
        raise ValueError(f"alpha must be a positive number (the width multiplier, 1.0 for the paper's widths), "
                         f"got {alpha!r}.")
    return float(alpha)


def mobilenet(input_shape=(224, 224, 3), num_classes=None, include_top=True, alpha=1.0, depth_multiplier=1,
              **options):
    """MobileNet v1 (Howard et al. 2017): 4,253,864 parameters at alpha 1 (21,888 BatchNorm statistics).

    Args:
        alpha: width multiplier: every layer has ``int(alpha * channels)`` channels (0.25,
            0.5, 0.75, 1.0 in the paper).
        depth_multiplier: depthwise outputs per input channel (the paper's resolution
            multiplier is the input size instead).
        dropout: rate of the dropout before ``conv_preds`` (default 0.001, as keras.applications).
        weights: None, ``"imagenet"`` (keras.applications' MobileNet weights: alpha 0.25, 0.5,
            0.75 or 1.0, depth_multiplier 1; with the top a square input of 128, 160, 192 or
            224) or a file path. Inputs as ``keras.applications.mobilenet.preprocess_input``
            (scaled to [-1, 1]).

    The other arguments are those of every builder.

    Examples:
        >>> import kerascnn
        >>> model = kerascnn.mobilenet(alpha=0.25, input_shape=(128, 128, 3), num_classes=10)
        >>> tuple(model.get_layer("conv_pw_13_relu").output.shape), model.layers[-1].name
        ((None, 4, 4, 256), 'predictions')
    """
    alpha = _check_alpha(alpha)
    depth_multiplier = check_int("depth_multiplier", depth_multiplier, minimum=1)
    application = {"alpha": alpha, "depth_multiplier": depth_multiplier}
    inputs, head = base.start(input_shape, V1_MIN_INPUT_SIZE, "mobilenet", num_classes, include_top, options,
                              weights_options=application)
    x = layers.Conv2D(_width(V1_STEM, alpha), 3, strides=2, padding="same", use_bias=False, name="conv1")(inputs)
    x = layers.BatchNormalization(name="conv1_bn")(x)
    x = _relu6("conv1_relu")(x)
    for block_id, (filters, strides) in enumerate(V1_BLOCKS, start=1):
        x = depthwise_separable_block(x, _width(filters, alpha), strides, depth_multiplier, block_id)
    if head is None:
        x = base.pool_features(x, options["pooling"])
    else:
        x = _v1_top(x, head, options["dropout"] if options["dropout"] is not None else V1_DROPOUT)
    return base.finish(inputs, x, head, options, default_name="mobilenet", weights_options=application)


def _width(channels, alpha):
    filters = int(channels * alpha)
    if filters < 1:
        raise ValueError(f"alpha={alpha} leaves no channel of {channels}; use a larger alpha.")
    return filters


def _v1_top(x, head, dropout):
    """keras.applications MobileNet's top: the classifier is a 1x1 convolution on the pooled map."""
    dtype = "float32" if is_mixed_precision() else None  # accurate probabilities under mixed precision
    x = layers.GlobalAveragePooling2D(keepdims=True, name="avg_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Conv2D(head.units, 1, padding="same", dtype=dtype, name="conv_preds")(x)
    x = layers.Reshape((head.units,), dtype=dtype, name="reshape_2")(x)
    return layers.Activation(head.activation, dtype=dtype, name="predictions")(x)


def mobilenet_v2(input_shape=(224, 224, 3), num_classes=None, include_top=True, alpha=1.0, **options):
    """MobileNet v2 (Sandler et al. 2018): 3,538,984 parameters at alpha 1 (34,112 BatchNorm statistics).

    Args:
        alpha: width multiplier: channels ``make_divisible(alpha * c)``; the last 1x1 conv keeps
            1280 channels unless alpha > 1 (keras.applications and the paper's reference code).
        weights: None, ``"imagenet"`` (keras.applications' MobileNetV2 weights: alpha 0.35,
            0.5, 0.75, 1.0, 1.3 or 1.4; with the top a square input of 96, 128, 160, 192 or
            224) or a file path. Inputs as ``keras.applications.mobilenet_v2.preprocess_input``.

    The other arguments are those of every builder.

    Examples:
        >>> import kerascnn
        >>> model = kerascnn.mobilenet_v2(alpha=0.35, input_shape=(96, 96, 3), num_classes=0)
        >>> tuple(model.output.shape)  # the last 1x1 conv keeps 1280 channels for alpha <= 1
        (None, 3, 3, 1280)
    """
    alpha = _check_alpha(alpha)
    inputs, head = base.start(input_shape, V2_MIN_INPUT_SIZE, "mobilenet_v2", num_classes, include_top, options,
                              weights_options={"alpha": alpha})
    x = layers.Conv2D(make_divisible(V2_STEM * alpha), 3, strides=2, padding="same", use_bias=False,
                      name="Conv1")(inputs)
    x = layers.BatchNormalization(**V2_BATCHNORM, name="bn_Conv1")(x)
    x = _relu6("Conv1_relu")(x)
    block_id = 0
    for expansion, channels, repeats, first_stride in V2_BLOCKS:
        for index in range(repeats):
            x = inverted_residual_block(x, make_divisible(int(channels * alpha)), first_stride if index == 0 else 1,
                                        expansion, block_id)
            block_id += 1
    last = make_divisible(V2_LAST * alpha) if alpha > 1.0 else V2_LAST
    x = layers.Conv2D(last, 1, use_bias=False, name="Conv_1")(x)
    x = layers.BatchNormalization(**V2_BATCHNORM, name="Conv_1_bn")(x)
    x = _relu6("out_relu")(x)
    x = base.features_or_top(x, head, options, top_pooling="avg")
    return base.finish(inputs, x, head, options, default_name="mobilenet_v2",
                       weights_options={"alpha": alpha})


_PARAMS = ("keras.applications.{}(weights=None).count_params(), built in tests/models/test_mobilenet.py "
           "(" + KERAS_APPLICATIONS_TABLE + ")")
_TOP1 = "keras.io/api/applications: {} top-1 {}% (the weights of weights='imagenet', alpha 1.0, 224)"
_TORCHVISION = "torchvision mobilenet_v2 IMAGENET1K_V1 ({}; docs/references.md)"

#: The variants: name -> builder, card (keras.applications counts at alpha 1, 224x224) and weights.
VARIANTS = {
    "mobilenet": applications_card(
        mobilenet, "mobilenet",
        "MobileNet v1, alpha 1.0: 13 depthwise-separable blocks, ReLU6, 1x1-conv classifier",
        (224, 224, 3), V1_MIN_INPUT_SIZE, (4_253_864, 21_888, 0.569, 70.4),
        {"params": _PARAMS.format("MobileNet"),
         "top1": _TOP1.format("MobileNet", 70.4),
         "gmacs": "Howard et al. 2017, arXiv 1704.04861, Table 8: 569 million mult-adds (MACs), 224x224",
         "min_input_size": "derived: stem ceil(s / 2), four valid 3x3/2 blocks floor(s / 2) "
                           "(mobilenet.V1_MIN_INPUT_SIZE)"},
        V1_WEIGHTS),
    "mobilenet_v2": applications_card(
        mobilenet_v2, "mobilenet", "MobileNet v2, alpha 1.0: 17 inverted residual blocks (t = 6), linear "
        "bottlenecks, 1x1 conv 1280", (224, 224, 3), V2_MIN_INPUT_SIZE, (3_538_984, 34_112, 0.30, 71.3),
        {"params": _PARAMS.format("MobileNetV2"),
         "top1": _TOP1.format("MobileNetV2", 71.3),
         "trainable_params": _TORCHVISION.format("num_params 3,504,872"),
         "gmacs": _TORCHVISION.format("_ops 0.30 GMACs"),
         "min_input_size": "derived: every stride-2 layer pads 'same' (mobilenet.V2_MIN_INPUT_SIZE)"},
        V2_WEIGHTS),
}
register_family(VARIANTS)
