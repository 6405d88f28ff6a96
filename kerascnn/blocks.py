"""Tensor-in, tensor-out building blocks with the signatures the textbooks use.

Every block takes a Keras tensor and returns one, so it composes with the functional
API and with the user's own layers. Layer names are deterministic and derived from
``name`` (``conv2_block1_1_conv``, ``inception_3a_1x1_conv``...): freezing, feature
extraction and weight transfer by name rely on them.

Examples:
    >>> from kerascnn.runtime import keras
    >>> from kerascnn.blocks import inception
    >>> x = keras.Input((28, 28, 192))
    >>> y = inception(x, 64, 96, 128, 16, 32, 32, name="inception_3a")
    >>> keras.Model(x, y).count_params(), y.shape[-1]
    (163696, 256)
"""

from __future__ import annotations

from kerascnn.errors import check_choice, check_int
from kerascnn.heads import head_spec
from kerascnn.runtime import is_mixed_precision, keras

layers = keras.layers

#: BatchNorm epsilon of keras.applications' ResNets (and close to torchvision's 1e-5), so
#: weights transferred from either give the same outputs.
BN_EPSILON = 1.001e-5
STRIDE_PLACEMENTS = ("v1", "v1.5")


def _activation_name(activation) -> str:
    return activation if isinstance(activation, str) else getattr(activation, "__name__", "act")


def _check_padding(padding):
    if isinstance(padding, int) and not isinstance(padding, bool):
        return check_int("padding", padding, minimum=0)
    return check_choice("padding", padding, ("same", "valid"))


def conv_bn_act(
    x,
    filters: int,
    kernel_size=3,
    strides=1,
    padding="same",
    batch_norm: bool = True,
    activation="relu",
    use_bias=None,
    name: str | None = None,
    groups: int = 1,
):
    """Convolution, then BatchNorm, then activation: the order of the ResNet paper.

    Args:
        x: input tensor (channels last).
        filters: output channels.
        kernel_size, strides: as ``keras.layers.Conv2D``.
        padding: ``"same"``, ``"valid"`` or an integer ``p``: ``p`` rows and columns of
            zeros on every side, then a valid convolution, as PyTorch's ``padding=p``
            (symmetric, unlike TensorFlow's "same" at stride 2).
        batch_norm: add BatchNorm after the convolution.
        activation: any Keras activation name, or None.
        use_bias: None means "only without BatchNorm" (BatchNorm's beta makes a bias redundant).
        name: prefix for the layers: ``{name}_pad``, ``{name}_conv``, ``{name}_bn``,
            ``{name}_{activation}``.
        groups: a grouped convolution (ResNeXt): ``groups`` independent convolutions,
            each from ``1 / groups`` of the input channels to ``1 / groups`` of the outputs.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((32, 32, 3))
        >>> y = conv_bn_act(x, 16, 3, name="stem")
        >>> [l.name for l in keras.Model(x, y).layers[1:]]
        ['stem_conv', 'stem_bn', 'stem_relu']
    """
    filters = check_int("filters", filters, minimum=1)
    groups = check_int("groups", groups, minimum=1)
    padding = _check_padding(padding)
    prefix = name
    if use_bias is None:
        use_bias = not batch_norm

    def named(suffix):
        return f"{prefix}_{suffix}" if prefix else None

    if isinstance(padding, int):
        if padding:
            x = layers.ZeroPadding2D(padding, name=named("pad"))(x)
        padding = "valid"
    x = layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias, groups=groups,
        name=named("conv"),
    )(x)
    if batch_norm:
        x = layers.BatchNormalization(axis=-1, epsilon=BN_EPSILON, name=named("bn"))(x)
    if activation is not None:
        x = layers.Activation(activation, name=named(_activation_name(activation)))(x)
    return x


def inception(
    hl,
    filters_1x1: int,
    filters_3x3_red: int,
    filters_3x3: int,
    filters_5x5_red: int,
    filters_5x5: int,
    filters_pool: int,
    name: str | None = None,
    batch_norm: bool = False,
    kernel_5x5: int = 5,
):
    """The Inception module of GoogLeNet (Szegedy et al. 2014, figure 2b).

    Four branches on the same input ``hl``, concatenated on channels: 1x1; 1x1 -> 3x3;
    1x1 -> 5x5; 3x3 max pool (stride 1, "same") -> 1x1. Every convolution is followed by
    ReLU (and by BatchNorm first when ``batch_norm=True``, the later "BN" variant).

    Output channels: ``filters_1x1 + filters_3x3 + filters_5x5 + filters_pool``.
    ``kernel_5x5`` is the kernel of the "5x5" branch (torchvision's GoogLeNet uses 3).

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((28, 28, 192))
        >>> tuple(inception(x, 64, 96, 128, 16, 32, 32, name="inception_3a").shape)
        (None, 28, 28, 256)
    """
    for argument, value in (
        ("filters_1x1", filters_1x1),
        ("filters_3x3_red", filters_3x3_red),
        ("filters_3x3", filters_3x3),
        ("filters_5x5_red", filters_5x5_red),
        ("filters_5x5", filters_5x5),
        ("filters_pool", filters_pool),
    ):
        check_int(argument, value, minimum=1)
    kernel_5x5 = check_int("kernel_5x5", kernel_5x5, minimum=1)
    prefix = name or "inception"

    def conv(x, filters, size, suffix):
        return conv_bn_act(x, filters, size, batch_norm=batch_norm, name=f"{prefix}_{suffix}")

    branch_1x1 = conv(hl, filters_1x1, 1, "1x1")
    branch_3x3 = conv(conv(hl, filters_3x3_red, 1, "3x3_reduce"), filters_3x3, 3, "3x3")
    branch_5x5 = conv(conv(hl, filters_5x5_red, 1, "5x5_reduce"), filters_5x5, kernel_5x5, "5x5")
    pooled = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{prefix}_pool")(hl)
    branch_pool = conv(pooled, filters_pool, 1, "pool_proj")
    return layers.Concatenate(axis=-1, name=f"{prefix}_output")(
        [branch_1x1, branch_3x3, branch_5x5, branch_pool]
    )


def se_block(x, ratio: int = 16, name: str | None = None):
    """Squeeze-and-excitation (Hu et al. 2017): rescale each channel by a learned gate.

    Squeeze: global average pooling to 1x1xC. Excitation: Dense(C // ratio) with ReLU,
    then Dense(C) with sigmoid (both with biases, as the paper's FC layers). The gates
    multiply the input. Stock layers only (no Lambda), so models save safely.
    Adds ``2 * C * (C // ratio) + C // ratio + C`` parameters.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((7, 7, 256))
        >>> keras.Model(x, se_block(x, 16, name="se")).count_params()  # 2*256*16 + 16 + 256
        8464
    """
    ratio = check_int("ratio", ratio, minimum=1)
    channels = x.shape[-1]
    hidden = max(1, channels // ratio)
    prefix = name or "se"
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}_squeeze")(x)
    s = layers.Dense(hidden, activation="relu", name=f"{prefix}_reduce")(s)
    s = layers.Dense(channels, activation="sigmoid", name=f"{prefix}_expand")(s)
    return layers.Multiply(name=f"{prefix}_excite")([x, s])


def _shortcut(x, filters, strides, batch_norm, use_bias, prefix, force_projection=False):
    """Identity when shapes match, else a 1x1 projection (option B of the ResNet paper)."""
    if strides == 1 and x.shape[-1] == filters and not force_projection:
        return x
    return conv_bn_act(
        x, filters, 1, strides=strides, batch_norm=batch_norm, activation=None,
        use_bias=use_bias, name=f"{prefix}_0",
    )


def _residual_output(shortcut, residual, prefix):
    x = layers.Add(name=f"{prefix}_add")([shortcut, residual])
    return layers.Activation("relu", name=f"{prefix}_out")(x)


def basic_block(
    x,
    filters: int,
    strides: int = 1,
    se_ratio: int | None = None,
    batch_norm: bool = True,
    use_bias=None,
    name: str | None = None,
):
    """The two-3x3 residual block of ResNet-18/34 (He et al. 2015, figure 2).

    ``3x3 conv (stride) -> BN -> ReLU -> 3x3 conv -> BN [-> SE] (+ shortcut) -> ReLU``.
    The shortcut is the identity when shapes match, else a 1x1 convolution with stride
    ``strides`` and BatchNorm. ``se_ratio`` adds an SE block on the residual branch.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((56, 56, 64))
        >>> keras.Model(x, basic_block(x, 64, name="conv2_block1")).count_params()  # 2*(9*64*64) + 2*(4*64) BN
        74240
    """
    filters = check_int("filters", filters, minimum=1)
    strides = check_int("strides", strides, minimum=1)
    prefix = name or "block"
    shortcut = _shortcut(x, filters, strides, batch_norm, use_bias, prefix)
    stride_padding = 1 if strides > 1 else "same"
    y = conv_bn_act(x, filters, 3, strides, stride_padding, batch_norm, "relu", use_bias, f"{prefix}_1")
    y = conv_bn_act(y, filters, 3, 1, "same", batch_norm, None, use_bias, f"{prefix}_2")
    if se_ratio:
        y = se_block(y, se_ratio, name=f"{prefix}_se")
    return _residual_output(shortcut, y, prefix)


def bottleneck_block(
    x,
    filters: int,
    strides: int = 1,
    expansion: int = 4,
    stride_in: str = "v1",
    se_ratio: int | None = None,
    batch_norm: bool = True,
    use_bias=None,
    name: str | None = None,
    width: int | None = None,
    groups: int = 1,
):
    """The 1x1-3x3-1x1 bottleneck of ResNet-50/101/152 (He et al. 2015, figure 5).

    The block outputs ``expansion * filters`` channels. ``width`` is the width of the 1x1
    reduction and of the 3x3 convolution (default ``filters``; ResNeXt and Wide ResNet make
    it larger, see :func:`resnext_block`), ``groups`` makes the 3x3 a grouped convolution.
    ``stride_in="v1"`` puts the stride in the first 1x1 convolution (the paper,
    keras.applications); ``"v1.5"`` puts it in the 3x3 (torchvision, NVIDIA): same
    parameters, about 0.23 GMACs more for ResNet-50 and a little more accurate.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((56, 56, 64))
        >>> y = bottleneck_block(x, 64, name="conv2_block1")
        >>> tuple(y.shape), keras.Model(x, y).count_params()
        ((None, 56, 56, 256), 76288)
    """
    filters = check_int("filters", filters, minimum=1)
    strides = check_int("strides", strides, minimum=1)
    expansion = check_int("expansion", expansion, minimum=1)
    width = filters if width is None else check_int("width", width, minimum=1)
    check_choice("stride_in", stride_in, STRIDE_PLACEMENTS)
    prefix = name or "block"
    out_filters = expansion * filters
    shortcut = _shortcut(x, out_filters, strides, batch_norm, use_bias, prefix)
    first_stride, middle_stride = (strides, 1) if stride_in == "v1" else (1, strides)
    middle_padding = 1 if middle_stride > 1 else "same"
    y = conv_bn_act(x, width, 1, first_stride, "valid", batch_norm, "relu", use_bias, f"{prefix}_1")
    y = conv_bn_act(y, width, 3, middle_stride, middle_padding, batch_norm, "relu", use_bias, f"{prefix}_2",
                    groups=groups)
    y = conv_bn_act(y, out_filters, 1, 1, "valid", batch_norm, None, use_bias, f"{prefix}_3")
    if se_ratio:
        y = se_block(y, se_ratio, name=f"{prefix}_se")
    return _residual_output(shortcut, y, prefix)


def resnext_block(
    x,
    filters: int,
    strides: int = 1,
    cardinality: int = 32,
    base_width: int = 4,
    expansion: int = 4,
    se_ratio: int | None = None,
    batch_norm: bool = True,
    use_bias=None,
    name: str | None = None,
):
    """The ResNeXt bottleneck (Xie et al. 2017, figure 3c): the 3x3 split into ``cardinality`` groups.

    ``1x1 conv -> BN -> ReLU -> 3x3 grouped conv (stride) -> BN -> ReLU -> 1x1 conv -> BN
    (+ shortcut) -> ReLU``, ``cardinality`` groups of ``base_width * filters / 64`` channels
    each (torchvision's ``width_per_group``: "32x4d" is ``cardinality=32, base_width=4``),
    ``expansion * filters`` output channels, the stride in the 3x3 (torchvision's form).
    ``cardinality=1, base_width=128`` is Wide ResNet-50-2's bottleneck (twice as wide).

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((56, 56, 64))
        >>> y = resnext_block(x, 64, cardinality=32, base_width=4, name="conv2_block1")
        >>> tuple(y.shape), keras.Model(x, y).get_layer("conv2_block1_2_conv").groups
        ((None, 56, 56, 256), 32)
    """
    filters = check_int("filters", filters, minimum=1)
    cardinality = check_int("cardinality", cardinality, minimum=1)
    base_width = check_int("base_width", base_width, minimum=1)
    width = filters * base_width // 64 * cardinality
    if width < cardinality:
        raise ValueError(f"filters={filters} with base_width={base_width} gives groups of "
                         f"{filters * base_width // 64} channels; filters * base_width must be at least 64.")
    return bottleneck_block(x, filters, strides, expansion, "v1.5", se_ratio, batch_norm, use_bias, name,
                            width=width, groups=cardinality)


def _pre_activation(x, out_filters, strides, prefix):
    """BatchNorm and ReLU before the block's first convolution, and the block's shortcut.

    The shortcut (keras.applications' ResNet V2) is a 1x1 convolution of the pre-activated
    input where the channels change, a 1x1 max pool of the raw input (subsampling) where
    only the side does, else the raw input itself.
    """
    preact = layers.BatchNormalization(axis=-1, epsilon=BN_EPSILON, name=f"{prefix}_preact_bn")(x)
    preact = layers.Activation("relu", name=f"{prefix}_preact_relu")(preact)
    if x.shape[-1] != out_filters:
        shortcut = conv_bn_act(preact, out_filters, 1, strides, "valid", batch_norm=False, activation=None,
                               name=f"{prefix}_0")
    elif strides > 1:
        shortcut = layers.MaxPooling2D(1, strides=strides, name=f"{prefix}_0_pool")(x)
    else:
        shortcut = x
    return preact, shortcut


def preact_basic_block(x, filters: int, strides: int = 1, name: str | None = None):
    """The pre-activation basic block (He et al. 2016, "Identity Mappings", figure 4e).

    ``BN -> ReLU -> 3x3 conv (stride) -> BN -> ReLU -> 3x3 conv (+ shortcut)``, no ReLU
    after the addition: the shortcut path stays an identity from block to block. Shortcut
    as :func:`preact_bottleneck_block`; the last convolution has a bias (no BatchNorm follows it).

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((56, 56, 64))
        >>> model = keras.Model(x, preact_basic_block(x, 64, name="conv2_block1"))
        >>> model.count_params()  # 2*9*64*64 + 64 bias + 2*4*64 BatchNorm
        74304
    """
    filters = check_int("filters", filters, minimum=1)
    strides = check_int("strides", strides, minimum=1)
    prefix = name or "block"
    preact, shortcut = _pre_activation(x, filters, strides, prefix)
    y = conv_bn_act(preact, filters, 3, strides, 1, name=f"{prefix}_1")
    y = conv_bn_act(y, filters, 3, 1, 1, batch_norm=False, activation=None, name=f"{prefix}_2")
    return layers.Add(name=f"{prefix}_out")([shortcut, y])


def preact_bottleneck_block(x, filters: int, strides: int = 1, expansion: int = 4, name: str | None = None):
    """The pre-activation bottleneck of ResNet V2 (He et al. 2016, figure 4e; keras.applications' block2).

    ``BN -> ReLU -> 1x1 conv -> BN -> ReLU -> 3x3 conv (stride) -> BN -> ReLU -> 1x1 conv``
    (+ shortcut), ``expansion * filters`` output channels, no ReLU after the addition. The
    shortcut is a 1x1 convolution of the pre-activated input where the channels change, a
    1x1 max pool with stride ``strides`` where only the side does, else the identity. The
    convolutions that no BatchNorm follows (the last one, the projection) have a bias, as in
    keras.applications. Layer names are keras.applications' (``_preact_bn``, ``_1_conv`` ...,
    ``_out``), so its ImageNet weights copy by name.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((56, 56, 64))
        >>> y = preact_bottleneck_block(x, 64, name="conv2_block1")
        >>> tuple(y.shape), keras.Model(x, y).count_params()
        ((None, 56, 56, 256), 75008)
    """
    filters = check_int("filters", filters, minimum=1)
    strides = check_int("strides", strides, minimum=1)
    expansion = check_int("expansion", expansion, minimum=1)
    prefix = name or "block"
    out_filters = expansion * filters
    preact, shortcut = _pre_activation(x, out_filters, strides, prefix)
    y = conv_bn_act(preact, filters, 1, 1, "valid", name=f"{prefix}_1")
    y = conv_bn_act(y, filters, 3, strides, 1, name=f"{prefix}_2")  # padded as keras.applications' _2_pad
    y = conv_bn_act(y, out_filters, 1, 1, "valid", batch_norm=False, activation=None, name=f"{prefix}_3")
    return layers.Add(name=f"{prefix}_out")([shortcut, y])


def classifier_head(
    x,
    num_classes: int,
    classifier_activation="auto",
    task: str = "classification",
    pooling: str | None = None,
    dropout: float | None = None,
    name: str = "predictions",
):
    """The last layers every kerascnn model shares: [pooling] -> [dropout] -> Dense.

    ``pooling`` is ``"avg"``, ``"max"``, ``"flatten"`` or None (input already flat);
    the activation follows :func:`kerascnn.heads.head_spec`. Under a mixed-precision
    policy the Dense layer computes in float32, so the probabilities stay accurate.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((7, 7, 512))
        >>> y = classifier_head(x, 10, pooling="avg")
        >>> keras.Model(x, y).count_params()  # 512*10 + 10
        5130
    """
    spec = head_spec(num_classes, task, classifier_activation)
    check_choice("pooling", pooling, (None, "avg", "max", "flatten"))
    if pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    elif pooling == "flatten":
        x = layers.Flatten(name="flatten")(x)
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    dtype = "float32" if is_mixed_precision() else None
    return layers.Dense(spec.units, activation=spec.activation, dtype=dtype, name=name)(x)
