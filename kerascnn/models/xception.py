"""Xception (Chollet 2017, "Xception: Deep Learning with Depthwise Separable Convolutions", arXiv 1610.02357).

Figure 5 of the paper, as keras.applications ``Xception`` builds it:

* entry flow: 3x3/2 conv 32, 3x3 conv 64 (both unpadded, BatchNorm, ReLU), then three
  downsampling blocks (:func:`xception_downsampling_block`) of 128, 256 and 728 filters:
  two [ReLU, 3x3 separable conv, BatchNorm], a 3x3/2 max pool, plus a 1x1/2 convolution
  with BatchNorm on the shortcut (299x299 -> 19x19x728);
* middle flow: eight identity-residual blocks (:func:`xception_middle_block`) of three
  [ReLU, separable conv 728, BatchNorm];
* exit flow: one downsampling block (728, 1024), then separable convolutions 1536 and
  2048, each followed by BatchNorm and ReLU, global average pooling and the classifier.

A depthwise separable convolution (``SeparableConv2D``) is a 3x3 depthwise convolution (one
filter per channel) followed by a 1x1 pointwise convolution, with no non-linearity between
them (the paper's experiments find that one hurts). No convolution has a bias; BatchNorm
(epsilon 1e-3, Keras' default, as keras.applications) follows every one. Layer names are
keras.applications' (``block1_conv1``, ``block4_sepconv2_bn``, ``block13_pool``, ``avg_pool``,
``predictions``); its four shortcut convolutions and their BatchNorms, which Keras names by
itself there (``conv2d_3``), are ``block{i}_shortcut_conv`` / ``_bn`` here, so
``weights="imagenet"`` copies keras.applications' weights in graph order
(:func:`kerascnn.weights.copy_weights_in_order`).
"""

from __future__ import annotations

from kerascnn.errors import check_int
from kerascnn.models import base
from kerascnn.models._card import applications_card
from kerascnn.registry import keras_weights, register_family
from kerascnn.runtime import keras

layers = keras.layers

#: BatchNorm epsilon of keras.applications' Xception (Keras' default).
BN_EPSILON = 1e-3
#: Entry flow (blocks 2-4) and exit flow (block 13) filters; the middle flow is 8 blocks of 728.
ENTRY_FILTERS = (128, 256, 728)
MIDDLE_BLOCKS = 8
MIDDLE_FILTERS = 728
EXIT_FILTERS = ((728, 1024), (1536, 2048))
#: The two unpadded stem convolutions need 7x7 (7 -> 3 -> 1); every later layer pads ("same").
#: keras.applications asks for 71x71 (a 3x3 final map) regardless.
MIN_INPUT_SIZE = 7


def _bn(x, name):
    return layers.BatchNormalization(epsilon=BN_EPSILON, name=name)(x)


def separable_conv_bn(x, filters: int, name: str, activate: bool = True):
    """[ReLU] -> 3x3 separable convolution (no bias) -> BatchNorm: one layer of Xception's flows.

    Layers ``{name}_act`` (when ``activate``), ``{name}``, ``{name}_bn``: the ReLU comes
    first, as in figure 5, where each separable convolution of the entry and middle flows is
    preceded by a ReLU.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((19, 19, 728))
        >>> y = separable_conv_bn(x, 728, "block5_sepconv1")
        >>> keras.Model(x, y).count_params()  # 9*728 + 728*728 + 4*728
        539448
    """
    filters = check_int("filters", filters, minimum=1)
    if activate:
        x = layers.Activation("relu", name=f"{name}_act")(x)
    x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
    return _bn(x, f"{name}_bn")


def xception_downsampling_block(x, filters, name: str = "block2", activate_input: bool = True):
    """Entry/exit flow block: two separable convolutions, 3x3/2 max pool, plus a 1x1/2 conv shortcut.

    ``filters`` is the width of both separable convolutions, or a pair (728, 1024 in the
    exit flow); the shortcut projects to the last one. ``activate_input=False`` leaves out
    the first ReLU (block 2, whose input has just passed a ReLU).

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((147, 147, 64))
        >>> tuple(xception_downsampling_block(x, 128, "block2", activate_input=False).shape)
        (None, 74, 74, 128)
    """
    first, second = (filters, filters) if isinstance(filters, int) else tuple(filters)
    shortcut = layers.Conv2D(second, 1, strides=2, padding="same", use_bias=False,
                             name=f"{name}_shortcut_conv")(x)
    shortcut = _bn(shortcut, f"{name}_shortcut_bn")
    # keras.applications names the ReLU before a block's second separable conv "sepconv2_act"
    x = separable_conv_bn(x, first, f"{name}_sepconv1", activate=activate_input)
    x = separable_conv_bn(x, second, f"{name}_sepconv2")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool")(x)
    return layers.Add(name=f"{name}_add")([x, shortcut])


def xception_middle_block(x, filters: int = MIDDLE_FILTERS, name: str = "block5"):
    """Middle flow block: three [ReLU, separable conv, BatchNorm] plus the identity shortcut.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((19, 19, 728))
        >>> keras.Model(x, xception_middle_block(x)).count_params()  # 3 x 539,448
        1618344
    """
    shortcut = x
    for index in (1, 2, 3):
        x = separable_conv_bn(x, filters, f"{name}_sepconv{index}")
    return layers.Add(name=f"{name}_add")([x, shortcut])


def _stem(inputs):
    x = inputs
    for index, filters in ((1, 32), (2, 64)):
        name = f"block1_conv{index}"
        x = layers.Conv2D(filters, 3, strides=2 if index == 1 else 1, use_bias=False, name=name)(x)
        x = _bn(x, f"{name}_bn")
        x = layers.Activation("relu", name=f"{name}_act")(x)
    return x


def _build(input_shape, num_classes, include_top, options):
    inputs, head = base.start(input_shape, MIN_INPUT_SIZE, "xception", num_classes, include_top, options)
    x = _stem(inputs)
    for block, filters in enumerate(ENTRY_FILTERS, start=2):
        x = xception_downsampling_block(x, filters, f"block{block}", activate_input=block > 2)
    for block in range(5, 5 + MIDDLE_BLOCKS):
        x = xception_middle_block(x, MIDDLE_FILTERS, f"block{block}")
    x = xception_downsampling_block(x, EXIT_FILTERS[0], "block13")
    for index, filters in enumerate(EXIT_FILTERS[1], start=1):
        name = f"block14_sepconv{index}"
        x = separable_conv_bn(x, filters, name, activate=False)
        x = layers.Activation("relu", name=f"{name}_act")(x)
    x = base.features_or_top(x, head, options, top_pooling="avg")
    return base.finish(inputs, x, head, options, default_name="xception")


def xception(input_shape=(299, 299, 3), num_classes=None, include_top=True, **options):
    """Xception (Chollet 2017): 22,910,480 parameters, keras.applications' layout.

    ``weights="imagenet"`` takes keras.applications Xception's weights (inputs scaled to
    [-1, 1] by ``keras.applications.xception.preprocess_input``). The other arguments are
    those of every builder. Inputs of at least 7x7 (keras.applications asks for 71x71).

    Examples:
        >>> import kerascnn
        >>> model = kerascnn.xception(input_shape=(71, 71, 3), num_classes=10)
        >>> tuple(model.get_layer("block14_sepconv2_act").output.shape), tuple(model.output.shape)
        ((None, 3, 3, 2048), (None, 10))
    """
    return _build(input_shape, num_classes, include_top, options)


#: The variant: reference figures at 299x299x3, 1000 classes: Keras total and non-trainable
#: (keras.applications Xception built with weights=None, checked in tests/models/test_xception.py;
#: the trainable count is the paper's Table 3), GMACs (osmr/imgclsmob; the paper gives none),
#: top-1 (keras.io).
VARIANTS = {
    "xception": applications_card(
        xception, "xception", "Xception: entry, middle (8 blocks) and exit flows of depthwise separable "
        "convolutions with residual shortcuts, 299x299x3", (299, 299, 3), MIN_INPUT_SIZE,
        (22_910_480, 54_528, 8.40, 79.0),
        {"params": "keras.applications.Xception(weights=None): the same count; trainable 22,855,952 as "
                   "Chollet 2017 (arXiv 1610.02357) Table 3 (docs/models/xception.md)",
         "gmacs": "osmr/imgclsmob pytorch/README.md: Xception 8,403.63M 'FLOPs/2' at 299x299 (a little more "
                  "than MACs; kerascnn.analysis.macs: 8.357); the paper gives none (docs/models/xception.md)",
         "top1": "keras.io/api/applications: keras.applications Xception (the weights of "
                 "weights='imagenet'), one 299 crop; Chollet 2017 Table 1: 0.790",
         "min_input_size": "derived: two unpadded 3x3 stem convolutions (xception.MIN_INPUT_SIZE); "
                           "keras.applications asks for 71x71"},
        keras_weights("Xception", "tf", match="order", input_shape=(299, 299, 3), top1=79.0)),
}
register_family(VARIANTS)
