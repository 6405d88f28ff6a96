"""Network in Network (Lin et al. 2013, arXiv 1312.4400), as d2l.ai builds it.

Lin et al. replace each convolution by an "mlpconv" layer: a convolution followed by two
1x1 convolutions (a small multilayer perceptron at every position), all with ReLU, and
replace the fully connected classifier by global average pooling of one feature map per
class. d2l.ai's chapter "Network in Network (NiN)" (Modern Convolutional Neural Networks)
gives the ImageNet-sized form built here: four NiN blocks of 96, 256, 384 and
``num_classes`` channels (11x11/4 valid, 5x5 pad 2, 3x3 pad 1, 3x3 pad 1), a 3x3/2 max
pool after each of the first three, dropout 0.5 before the last, then global average
pooling and the classifier's activation; no dense layer. d2l trains it on Fashion-MNIST
resized to 224x224x1 with 10 classes, the defaults here.

Examples:
    >>> from kerascnn.models.nin import BLOCKS
    >>> BLOCKS[0]  # filters, kernel, stride, padding of the first NiN block
    (96, 11, 4, 0)
"""

from __future__ import annotations

from kerascnn.blocks import conv_bn_act
from kerascnn.errors import check_int
from kerascnn.models import base
from kerascnn.registry import REFERENCES, register_family
from kerascnn.runtime import is_mixed_precision, keras

layers = keras.layers

#: d2l.ai's NiN: (filters, kernel, stride, padding) of the first three blocks; the fourth is
#: (num_classes, 3, 1, 1).
BLOCKS = ((96, 11, 4, 0), (256, 5, 1, 2), (384, 3, 1, 1))
LAST_BLOCK = (3, 1, 1)
POOL = (3, 2)
DROPOUT = 0.5
#: 11x11/4 valid, then three 3x3/2 valid pools: 67 is the smallest side that leaves a 1x1 map
#: (67 -> 15 -> 7 -> 3 -> 1; 66 -> 14 -> 6 -> 2 -> 0).
MIN_INPUT_SIZE = 67


def nin_block(x, filters: int, kernel_size, strides=1, padding="same", name: str | None = None,
              final_relu: bool = True):
    """An mlpconv block (Lin et al. 2013, figure 2; d2l.ai's ``nin_block``).

    A ``kernel_size`` convolution (stride ``strides``), then two 1x1 convolutions, all
    ``filters`` wide with biases and ReLU. ``padding`` is ``"same"``, ``"valid"`` or an
    integer (zeros on every side, as PyTorch). ``final_relu=False`` leaves the last 1x1
    linear. Layers ``{name}_1_conv``, ``{name}_1_relu``, ``{name}_2_conv``... (``_1_pad``
    for integer padding).

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((224, 224, 1))
        >>> y = nin_block(x, 96, 11, strides=4, padding=0, name="nin1")
        >>> tuple(y.shape), keras.Model(x, y).count_params()  # 121*96 + 96 + 2 * (96*96 + 96)
        ((None, 54, 54, 96), 30336)
    """
    filters = check_int("filters", filters, minimum=1)
    if not isinstance(final_relu, bool):
        raise TypeError(f"final_relu must be True or False, got {final_relu!r}.")
    prefix = name or "nin"
    x = conv_bn_act(x, filters, kernel_size, strides, padding, batch_norm=False, name=f"{prefix}_1")
    x = conv_bn_act(x, filters, 1, batch_norm=False, name=f"{prefix}_2")
    return conv_bn_act(x, filters, 1, batch_norm=False, activation="relu" if final_relu else None,
                       name=f"{prefix}_3")


def nin(input_shape=(224, 224, 1), num_classes=None, include_top=True, final_relu=True, **options):
    """NiN as in d2l.ai: 1,992,166 parameters for 224x224x1 inputs and 10 classes.

    Args:
        input_shape: at least 67x67 (an 11x11/4 convolution and three 3x3/2 pools).
        num_classes: channels of the last NiN block, one feature map per class (10).
        final_relu: d2l keeps the ReLU after the last 1x1 convolution, so the class scores
            are non-negative: fine for a softmax over several classes, but a single output
            (binary, regression) could never be negative, so that combination is refused:
            pass ``final_relu=False``.
        dropout: rate of the dropout before the last block (d2l: 0.5).

    ``include_top=False`` (or ``num_classes=0``) ends after the third block's pooling
    (384 channels). The other arguments are those of every builder.

    Examples:
        >>> import kerascnn
        >>> model = kerascnn.nin()
        >>> model.count_params(), tuple(model.get_layer("nin4_3_relu").output.shape)
        (1992166, (None, 5, 5, 10))
    """
    if not isinstance(final_relu, bool):
        raise TypeError(f"final_relu must be True or False, got {final_relu!r}.")
    inputs, head = base.start(input_shape, MIN_INPUT_SIZE, "nin", num_classes, include_top, options,
                              default_classes=10)
    if head is not None and final_relu and head.units == 1:
        raise ValueError("final_relu=True with a single output (binary or regression): the ReLU'd score "
                         "is >= 0, so it could never say 'negative'; pass final_relu=False.")
    x = inputs
    for index, (filters, kernel, stride, padding) in enumerate(BLOCKS, start=1):
        x = nin_block(x, filters, kernel, stride, padding, name=f"nin{index}")
        x = layers.MaxPooling2D(POOL[0], strides=POOL[1], name=f"pool{index}")(x)
    if head is None:
        x = base.pool_features(x, options["pooling"])
    else:
        rate = options["dropout"] if options["dropout"] is not None else DROPOUT
        x = layers.Dropout(rate, name="dropout")(x)
        x = nin_block(x, head.units, *LAST_BLOCK, name="nin4", final_relu=final_relu)
        dtype = "float32" if is_mixed_precision() else None
        x = layers.GlobalAveragePooling2D(dtype=dtype, name="avg_pool")(x)
        x = layers.Activation(head.activation, dtype=dtype, name="predictions")(x)
    return base.finish(inputs, x, head, options, default_name="nin")


#: The variant: d2l.ai's NiN at 224x224x1 with 10 classes.
VARIANTS = {
    "nin": dict(
        builder=nin,
        family="nin",
        description="Network in Network (d2l.ai): four mlpconv blocks 96-256-384-classes, max pools, "
                    "dropout 0.5, global average pooling, no dense layer; 224x224x1, 10 classes",
        input_shape=(224, 224, 1),
        min_input_size=(MIN_INPUT_SIZE, MIN_INPUT_SIZE),
        num_classes=10,
        params=1_992_166,
        trainable_params=1_992_166,
        non_trainable_params=0,
        sources={
            "params": REFERENCES + ", papers table: NiN (d2l.ai) 1,992,166, recomputed layer by layer from "
                      "d2l.ai's structure (Lin et al. 2013, arXiv 1312.4400)",
            "min_input_size": "derived: 11x11/4 valid conv and three 3x3/2 valid pools (nin.MIN_INPUT_SIZE)",
        },
    ),
}
register_family(VARIANTS)
