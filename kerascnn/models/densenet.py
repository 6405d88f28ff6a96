"""DenseNet (Huang et al. 2017, arXiv 1608.06993): densenet121, densenet169, densenet201.

Every layer of a dense block receives the feature maps of all the layers before it,
concatenated, and adds ``growth_rate`` (k = 32) new channels. Each such layer is a
pre-activation bottleneck: BatchNorm, ReLU, 1x1 conv to 4k channels, BatchNorm, ReLU,
3x3 conv to k channels (the paper's "DenseNet-B"). Between blocks a transition
(BatchNorm, ReLU, 1x1 conv to half the channels, 2x2/2 average pool) compresses by
theta = 0.5 ("DenseNet-BC"). Stem: 7x7/2 conv 64, BatchNorm, ReLU, 3x3/2 max pool;
after the last block BatchNorm, ReLU, global average pooling and the classifier
(Table 1 of the paper). No convolution has a bias.

Layer names are those of ``keras.applications`` (``conv2_block1_0_bn``, ``pool2_conv``,
``bn``, ``avg_pool``, ``predictions``; the stem is ``conv1_conv`` under Keras 3 and
``conv1/conv`` under Keras 2, as in each runtime's keras.applications), which is how
``weights="imagenet"`` takes the keras.applications weights layer by layer.

Examples:
    >>> from kerascnn.models.densenet import BLOCKS
    >>> BLOCKS[121]
    (6, 12, 24, 16)
"""

from __future__ import annotations

from kerascnn.blocks import BN_EPSILON
from kerascnn.errors import WeightsNotAvailable, check_fraction, check_int
from kerascnn.models import base
from kerascnn.models._card import applications_card
from kerascnn.registry import keras_weights, register_family
from kerascnn.runtime import IS_KERAS3, keras

layers = keras.layers

#: depth -> layers in each of the four dense blocks (Table 1 of Huang et al.)
BLOCKS = {121: (6, 12, 24, 16), 169: (6, 12, 32, 32), 201: (6, 12, 48, 32)}
GROWTH_RATE = 32
#: the bottleneck's 1x1 convolution outputs BOTTLENECK_WIDTH x growth_rate channels
BOTTLENECK_WIDTH = 4
COMPRESSION = 0.5
STEM_FILTERS = 64
#: keras.applications names the stem "conv1/conv" in Keras 2 ("/" is not allowed in Keras 3).
STEM = "conv1_" if IS_KERAS3 else "conv1/"
#: The stem maps a side s to ceil(s / 4); the three 2x2/2 average pools of the transitions
#: halve it (rounding down) three times, so s >= 29 leaves a 1x1 map (28 -> 7 -> 3 -> 1 -> 0).
MIN_INPUT_SIZE = 29

def dense_block(x, blocks: int, growth_rate: int = GROWTH_RATE, name: str | None = None):
    """A dense block of ``blocks`` bottleneck layers (Huang et al. 2017, figure 1).

    Layer ``i`` computes BN-ReLU-1x1 conv (4 x ``growth_rate``)-BN-ReLU-3x3 conv
    (``growth_rate``) on the concatenation of the block input and every earlier layer's
    output, and appends its ``growth_rate`` channels: the block outputs
    ``channels_in + blocks * growth_rate`` channels. Layer names follow keras.applications:
    ``{name}_block{i}_0_bn``, ``_1_conv``, ``_1_bn``, ``_2_conv``, ``_concat``.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((56, 56, 64))
        >>> y = dense_block(x, 6, name="conv2")
        >>> y.shape[-1]  # 64 + 6 x 32
        256
    """
    blocks = check_int("blocks", blocks, minimum=1)
    growth_rate = check_int("growth_rate", growth_rate, minimum=1)
    prefix = name or "dense"
    for index in range(1, blocks + 1):
        x = _dense_layer(x, growth_rate, f"{prefix}_block{index}")
    return x


def _bn_relu(x, prefix):
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{prefix}bn")(x)
    return layers.Activation("relu", name=f"{prefix}relu")(x)


def _dense_layer(x, growth_rate, name):
    y = _bn_relu(x, f"{name}_0_")
    y = layers.Conv2D(BOTTLENECK_WIDTH * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(y)
    y = _bn_relu(y, f"{name}_1_")
    y = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    return layers.Concatenate(name=f"{name}_concat")([x, y])


def transition_block(x, reduction: float = COMPRESSION, name: str | None = None):
    """The transition between dense blocks: BN, ReLU, 1x1 conv to ``reduction`` x channels, 2x2/2 average pool.

    ``reduction`` is the paper's compression factor theta (0.5 in DenseNet-BC). Layers:
    ``{name}_bn``, ``_relu``, ``_conv``, ``_pool``.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((56, 56, 256))
        >>> tuple(transition_block(x, 0.5, name="pool2").shape)
        (None, 28, 28, 128)
    """
    reduction = check_fraction("reduction", reduction, low=0.0, high=1.0, inclusive_high=True)
    prefix = name or "transition"
    filters = int(x.shape[-1] * reduction)
    if filters < 1:
        raise ValueError(f"reduction={reduction} leaves no channel of {x.shape[-1]}; use a larger reduction.")
    x = _bn_relu(x, f"{prefix}_")
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{prefix}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{prefix}_pool")(x)


def _check_blocks(blocks):
    if not isinstance(blocks, (tuple, list)) or len(blocks) != 4:
        raise ValueError(f"blocks must be four layer counts, one per dense block, such as (6, 12, 24, 16); "
                         f"got {blocks!r}.")
    return tuple(check_int("blocks", b, minimum=1) for b in blocks)


def _check_imagenet(name, blocks, growth_rate):
    """The registered layouts only (another order of the same block sizes has the same depth)."""
    if blocks not in BLOCKS.values():
        raise WeightsNotAvailable(
            f"weights='imagenet' is not available for blocks={blocks}; ImageNet weights exist for "
            f"{', '.join(f'densenet{d} (blocks={b})' for d, b in BLOCKS.items())} (from keras.applications). "
            "Use weights=None or the path of a weights file saved by kerascnn.")
    if growth_rate != GROWTH_RATE:
        raise WeightsNotAvailable(f"weights='imagenet' needs growth_rate={GROWTH_RATE} for {name}, "
                                  f"got {growth_rate}.")


def densenet(blocks=BLOCKS[121], input_shape=(224, 224, 3), num_classes=None, include_top=True,
             growth_rate=GROWTH_RATE, **options):
    """A DenseNet-BC of any four block sizes (``densenet121`` and friends call this).

    Args:
        blocks: layers in each dense block: ``(6, 12, 24, 16)`` is DenseNet-121,
            ``(6, 12, 32, 32)`` 169, ``(6, 12, 48, 32)`` 201. The depth is ``2 * sum + 5``.
        growth_rate: channels each dense layer adds (the paper's k, 32).
        weights: None, ``"imagenet"`` (keras.applications' DenseNet weights, for the three
            registered block sizes with growth rate 32 and 3 input channels) or a file path.

    The other arguments are those of every builder (``num_classes=0`` or
    ``include_top=False`` for features, ``pooling``, ``dropout``, compile options...).

    Examples:
        >>> import kerascnn
        >>> from kerascnn.models.densenet import densenet
        >>> model = densenet((2, 2, 2, 2), input_shape=(32, 32, 3), growth_rate=8, num_classes=10)
        >>> model.name, tuple(model.get_layer("bn").output.shape)
        ('densenet21', (None, 1, 1, 38))
    """
    blocks = _check_blocks(blocks)
    growth_rate = check_int("growth_rate", growth_rate, minimum=1)
    depth = 2 * sum(blocks) + 5  # stem conv, two convs per dense layer, three transitions, classifier
    name = f"densenet{depth}"
    if options.get("weights") == "imagenet":
        _check_imagenet(name, blocks, growth_rate)
    inputs, head = base.start(input_shape, MIN_INPUT_SIZE, name, num_classes, include_top, options)

    x = layers.ZeroPadding2D(3, name=f"{STEM}pad")(inputs)
    x = layers.Conv2D(STEM_FILTERS, 7, strides=2, use_bias=False, name=f"{STEM}conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{STEM}bn")(x)
    x = layers.Activation("relu", name=f"{STEM}relu")(x)
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, count in enumerate(blocks, start=2):
        x = dense_block(x, count, growth_rate, name=f"conv{stage}")
        if stage < 5:
            x = transition_block(x, COMPRESSION, name=f"pool{stage}")
    x = _bn_relu(x, "")  # keras.applications names these two "bn" and "relu"
    x = base.features_or_top(x, head, options, top_pooling="avg")
    return base.finish(inputs, x, head, options, default_name=name)


def densenet121(input_shape=(224, 224, 3), num_classes=None, include_top=True, growth_rate=GROWTH_RATE,
                **options):
    """DenseNet-121: blocks (6, 12, 24, 16), 8,062,504 parameters (83,648 BatchNorm statistics).

    ``weights="imagenet"`` takes keras.applications' DenseNet121 weights (inputs prepared by
    ``keras.applications.densenet.preprocess_input``). Arguments as :func:`densenet`.

    Examples:
        >>> import kerascnn
        >>> card = kerascnn.model_card("densenet121")
        >>> card.params, card.trainable_params, card.pretrained
        (8062504, 7978856, ('imagenet',))
    """
    return densenet(BLOCKS[121], input_shape, num_classes, include_top, growth_rate, **options)


def densenet169(input_shape=(224, 224, 3), num_classes=None, include_top=True, growth_rate=GROWTH_RATE,
                **options):
    """DenseNet-169: blocks (6, 12, 32, 32), 14,307,880 parameters. Arguments as :func:`densenet`.

    Examples:
        >>> import kerascnn
        >>> kerascnn.model_card("densenet169").trainable_params
        14149480
    """
    return densenet(BLOCKS[169], input_shape, num_classes, include_top, growth_rate, **options)


def densenet201(input_shape=(224, 224, 3), num_classes=None, include_top=True, growth_rate=GROWTH_RATE,
                **options):
    """DenseNet-201: blocks (6, 12, 48, 32), 20,242,984 parameters. Arguments as :func:`densenet`.

    Examples:
        >>> import kerascnn
        >>> kerascnn.model_card("densenet201").trainable_params
        20013928
    """
    return densenet(BLOCKS[201], input_shape, num_classes, include_top, growth_rate, **options)


def _variant(builder, depth, trainable, total, gmacs, top1):
    """The table entry of DenseNet-``depth``: ``trainable`` is torchvision's num_params, ``total``
    keras.applications' count (weights=None), ``gmacs`` torchvision's ``_ops``, ``top1`` keras.io's."""
    application = f"DenseNet{depth}"
    sources = {
        "params": f"keras.applications.{application}(weights=None).count_params(), built in "
                  "tests/models/test_densenet.py; table in docs/models/densenet.md",
        "trainable_params": f"torchvision densenet{depth} IMAGENET1K_V1 num_params {trainable:,} "
                            "(docs/models/densenet.md)",
        "gmacs": f"torchvision densenet{depth} IMAGENET1K_V1 _ops {gmacs} GMACs (docs/models/densenet.md)",
        "top1": f"keras.io/api/applications: {application} top-1 {top1}% (the weights of weights='imagenet')",
        "min_input_size": "derived: stem ceil(s / 4), then three 2x2/2 average pools "
                          "(densenet.MIN_INPUT_SIZE)",
    }
    description = (f"DenseNet-{depth} (BC): dense blocks {BLOCKS[depth]}, growth rate 32, "
                   "compression 0.5, pre-activation bottlenecks, no conv bias")
    return applications_card(builder, "densenet", description, (224, 224, 3), MIN_INPUT_SIZE,
                             (total, total - trainable, gmacs, top1), sources,
                             keras_weights(application, "torch", top1=top1))


#: The variants: name -> builder, card and weights (keras.applications' DenseNets).
VARIANTS = {
    "densenet121": _variant(densenet121, 121, 7_978_856, 8_062_504, 2.83, 75.0),
    "densenet169": _variant(densenet169, 169, 14_149_480, 14_307_880, 3.36, 76.2),
    "densenet201": _variant(densenet201, 201, 20_013_928, 20_242_984, 4.29, 77.3),
}
register_family(VARIANTS)
