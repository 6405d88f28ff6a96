"""AlexNet (Krizhevsky et al. 2012), ZFNet (Zeiler & Fergus 2013) and a 280px mini AlexNet.

* ``alexnet``: one tower of 96-256-384-384-256 filters (the paper's two GPU towers merged,
  as in Krizhevsky's 2014 "one weird trick" and osmr/imgclsmob), FCs 4096-4096 with dropout
  0.5, optional local response normalization. 62,378,344 parameters at 227x227x3.
  ``variant="torchvision"``: 64-192-384-256-256, 61,100,840 parameters at 224x224x3.
* ``zfnet``: AlexNet with conv1 7x7 stride 2 and conv2 stride 2 (Fig. 3 of the ZF paper),
  62,357,608 parameters; ``variant="b"``: conv3-5 512-1024-512, 107,627,624.
* ``alexnet_mini``: the AlexNet-shaped binary classifier for 280x280 images that tutorials
  build, 7,742,721 parameters.
"""

from __future__ import annotations

from kerascnn.errors import check_choice
from kerascnn.layers import LocalResponseNormalization
from kerascnn.models import base
from kerascnn.models._fc import check_units, dense_top
from kerascnn.registry import REFERENCES, register_family
from kerascnn.runtime import keras

layers = keras.layers

#: filters of conv1-5, conv1 padding, default input, minimum input side of each variant.
ALEXNET_VARIANTS = {
    "paper": {"filters": (96, 256, 384, 384, 256), "conv1_padding": 0, "input_shape": (227, 227, 3),
              # 67 -> conv1 15 -> pool 7 -> pool 3 -> pool 1; at 66 conv1 gives 14 -> 6 -> 2 -> 0
              "min_size": 67},
    "torchvision": {"filters": (64, 192, 384, 256, 256), "conv1_padding": 2, "input_shape": (224, 224, 3),
                    # 63 + 2*2 padding -> conv1 15 -> 7 -> 3 -> 1
                    "min_size": 63},
}

#: conv1-5 filters of ZFNet: Fig. 3 of the paper ("a") and its larger model ("b", Table 2).
ZFNET_VARIANTS = {"a": (96, 256, 384, 384, 256), "b": (96, 256, 512, 1024, 512)}


def _check_bool(argument, value):
    if not isinstance(value, bool):
        raise TypeError(f"{argument} must be True or False, got {value!r}.")
    return value


def conv_relu(x, filters, kernel_size, strides=1, padding="same", lrn=False, name="conv"):
    """Conv2D with ReLU, optionally followed by local response normalization (``{name}_lrn``).

    An integer ``padding`` adds that many rows and columns of zeros on every side first
    (``{name}_pad``), as PyTorch's ``padding=p``.
    """
    if isinstance(padding, int):
        if padding:
            x = layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
        padding = "valid"
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, activation="relu",
                      name=name)(x)
    if lrn:
        x = LocalResponseNormalization(name=f"{name}_lrn")(x)
    return x


def ceil_mode_size(size: int, pool_size: int = 3, strides: int = 2) -> int:
    """Output side of PyTorch's / Caffe's ``MaxPool2d(ceil_mode=True)`` without padding.

    Examples:
        >>> ceil_mode_size(110), ceil_mode_size(26), ceil_mode_size(13), ceil_mode_size(2)
        (55, 13, 6, 1)
    """
    out = (size - pool_size + strides - 1) // strides + 1
    if out > 0 and (out - 1) * strides >= size:  # the last window must start inside the input
        out -= 1
    return max(out, 0)


def max_pool_ceil(x, pool_size=3, strides=2, name="pool"):
    """Max pooling that rounds the output size up (``ceil_mode=True``), for non-negative inputs.

    The missing bottom rows and right columns are padded with zeros (``{name}_pad``), which
    never win the maximum after a ReLU, then a valid ``MaxPooling2D`` follows. For a side
    unknown until the model is called, ``strides - 1`` zeros always give the ceil-mode size
    (``floor((n + s - 1 - k) / s) + 1 = ceil((n - k) / s) + 1`` for ``k >= s``).

    Examples:
        >>> from kerascnn.runtime import keras
        >>> tuple(max_pool_ceil(keras.Input((110, 26, 8)), name="p").shape)
        (None, 55, 13, 8)
    """
    pads = []
    for size in x.shape[1:3]:
        if size is None:  # any size (input_shape with None): strides - 1 zeros give ceil mode for every size
            pads.append(strides - 1)
            continue
        out = ceil_mode_size(size, pool_size, strides)
        pads.append(max(0, (out - 1) * strides + pool_size - size) if out else 0)
    if any(pads):
        x = layers.ZeroPadding2D(((0, pads[0]), (0, pads[1])), name=f"{name}_pad")(x)
    return layers.MaxPooling2D(pool_size, strides=strides, name=name)(x)


def alexnet(input_shape=None, num_classes=None, include_top=True, variant="paper", lrn=False,
            fc_units=(4096, 4096), **options):
    """AlexNet as one tower: conv 96@11x11/4, 256@5x5, 384, 384, 256 @3x3, FCs 4096-4096.

    Max pooling 3x3 stride 2 (overlapping) after conv1, conv2 and conv5; ReLU everywhere;
    dropout 0.5 after each hidden FC (``dropout`` changes the rate). The paper states a
    224x224 input, but its 55x55 first map needs 227: (227 - 11) / 4 + 1 = 55, so 227 is the
    default here and gives the 6x6x256 map the FCs expect (torchvision instead pads conv1 by
    2 at 224; osmr/imgclsmob rounds the poolings up).

    Args:
        input_shape: default (227, 227, 3) for ``"paper"``, (224, 224, 3) for ``"torchvision"``;
            the minimum is 67x67 (63x63 for torchvision). Another size changes the map before
            the FCs and so fc6's weight count.
        variant: ``"paper"`` (96-256-384-384-256, 62,378,344 parameters) or ``"torchvision"``
            (64-192-384-256-256, conv1 padded by 2, 61,100,840). torchvision's adaptive
            average pooling to 6x6 is the identity at 224 and is not reproduced: at other
            sizes fc6 follows the map.
        lrn: local response normalization after conv1 and conv2 (paper constants), as in the
            paper; off by default (later work found it does not help). No weights.
        fc_units: widths of the hidden FCs fc6, fc7.

    Examples:
        >>> import kerascnn
        >>> model = kerascnn.alexnet(input_shape=(67, 67, 3), fc_units=(8, 8), num_classes=2)
        >>> tuple(model.get_layer("pool5").output.shape[1:]), model.count_params()  # convs 3,747,200
        ((1, 1, 256), 3749346)
    """
    check_choice("variant", variant, tuple(ALEXNET_VARIANTS))
    spec = ALEXNET_VARIANTS[variant]
    lrn = _check_bool("lrn", lrn)
    fc_units = check_units(fc_units)
    input_shape = spec["input_shape"] if input_shape is None else input_shape
    inputs, head = base.start(input_shape, spec["min_size"], f"alexnet (variant={variant!r})",
                              num_classes, include_top, options, fixed_size=True)
    f1, f2, f3, f4, f5 = spec["filters"]
    x = conv_relu(inputs, f1, 11, strides=4, padding=spec["conv1_padding"], lrn=lrn, name="conv1")
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = conv_relu(x, f2, 5, lrn=lrn, name="conv2")
    x = layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    x = conv_relu(x, f3, 3, name="conv3")
    x = conv_relu(x, f4, 3, name="conv4")
    x = conv_relu(x, f5, 3, name="conv5")
    x = layers.MaxPooling2D(3, strides=2, name="pool5")(x)
    x = dense_top(x, head, options, fc_units, dropout=0.5, first_index=6)
    return base.finish(inputs, x, head, options, default_name="alexnet")


def zfnet(input_shape=(224, 224, 3), num_classes=None, include_top=True, variant="a", lrn=False,
          fc_units=(4096, 4096), **options):
    """ZFNet (Zeiler & Fergus 2013, Fig. 3): AlexNet with a smaller, denser first layer.

    224 -> conv1 96@7x7 stride 2 (padding 1) -> 110 -> max pool 3/2 -> 55 -> conv2 256@5x5
    stride 2 -> 26 -> max pool -> 13 -> conv3-5 3x3 -> 13 -> max pool -> 6x6 -> FCs
    4096-4096 (dropout 0.5) -> classifier. The poolings round up (``ceil_mode``, as Caffe and
    osmr/imgclsmob), which gives the paper's 55 and 13.

    Discrepancy in the reference: the figure 62,357,608 is the Fig. 3 model with conv3-5 of
    384-384-256 (AlexNet's count with a 7x7 instead of 11x11 conv1: 62,378,344 - 34,944 +
    14,208), not the 512-1024-512 widths sometimes quoted for ZFNet; those are the paper's
    larger model (Table 2), here ``variant="b"``: 107,627,624 parameters.

    Args:
        variant: ``"a"`` (Fig. 3, default) or ``"b"`` (conv3-5 512-1024-512).
        lrn: local response normalization after conv1 and conv2 (the paper normalizes both;
            off by default as for :func:`alexnet`).
        fc_units: widths of the hidden FCs fc6, fc7.

    The minimum input is 47x47 (a 1x1 map after pool5).

    Examples:
        >>> import kerascnn
        >>> model = kerascnn.zfnet(input_shape=(47, 47, 3), fc_units=(8, 8), num_classes=2)
        >>> tuple(model.get_layer("pool5").output.shape[1:])
        (1, 1, 256)
    """
    check_choice("variant", variant, tuple(ZFNET_VARIANTS))
    lrn = _check_bool("lrn", lrn)
    fc_units = check_units(fc_units)
    inputs, head = base.start(input_shape, 47, f"zfnet (variant={variant!r})", num_classes,
                              include_top, options, fixed_size=True)
    f1, f2, f3, f4, f5 = ZFNET_VARIANTS[variant]
    x = conv_relu(inputs, f1, 7, strides=2, padding=1, lrn=lrn, name="conv1")
    x = max_pool_ceil(x, name="pool1")
    x = conv_relu(x, f2, 5, strides=2, padding=0, lrn=lrn, name="conv2")
    x = max_pool_ceil(x, name="pool2")
    x = conv_relu(x, f3, 3, name="conv3")
    x = conv_relu(x, f4, 3, name="conv4")
    x = conv_relu(x, f5, 3, name="conv5")
    x = max_pool_ceil(x, name="pool5")
    x = dense_top(x, head, options, fc_units, dropout=0.5, first_index=6)
    return base.finish(inputs, x, head, options, default_name="zfnet")


def alexnet_mini(input_shape=(280, 280, 3), num_classes=None, include_top=True, **options):
    """The AlexNet-shaped binary classifier for 280x280 images of tutorials (7,742,721 parameters).

    280 -> zero padding 3 -> conv 96@13x13 stride 3 -> 92 -> max pool 3/2 -> 45 -> conv
    256@5x5 -> max pool 3/2 -> 22 -> conv 384, 384, 256 @3x3 -> max pool 2 -> 11x11x256 ->
    dense 128 relu -> dense 128 relu -> dense 1 sigmoid (``num_classes`` defaults to 1).
    No dropout unless ``dropout`` is given.

    Examples:
        >>> import kerascnn
        >>> model = kerascnn.alexnet_mini(input_shape=(37, 37, 3))
        >>> tuple(model.get_layer("pool5").output.shape[1:]), tuple(model.output.shape)
        ((1, 1, 256), (None, 1))
    """
    inputs, head = base.start(input_shape, 37, "alexnet_mini", num_classes, include_top, options,
                              default_classes=1, fixed_size=True)
    x = conv_relu(inputs, 96, 13, strides=3, padding=3, name="conv1")
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = conv_relu(x, 256, 5, name="conv2")
    x = layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    x = conv_relu(x, 384, 3, name="conv3")
    x = conv_relu(x, 384, 3, name="conv4")
    x = conv_relu(x, 256, 3, name="conv5")
    x = layers.MaxPooling2D(2, name="pool5")(x)
    x = dense_top(x, head, options, fc_units=(128, 128), dropout=0.0, first_index=6)
    return base.finish(inputs, x, head, options, default_name="alexnet_mini")


#: The variants: name -> builder and card (see kerascnn.registry.register_family).
VARIANTS = {
    "alexnet": dict(
        builder=alexnet,
        family="alexnet",
        description="AlexNet, one tower 96-256-384-384-256, FCs 4096-4096, dropout 0.5, 227x227x3",
        input_shape=(227, 227, 3),
        min_input_size=(67, 67),
        num_classes=1000,
        params=62_378_344,
        trainable_params=62_378_344,
        non_trainable_params=0,
        sources={"params": REFERENCES + ", papers table: AlexNet one-tower 96-256-384-384-256 build, 62,378,344 "
                           "(osmr/imgclsmob alexnet test); the paper says '60 million'"},
    ),
    "zfnet": dict(
        builder=zfnet,
        family="alexnet",
        description="ZFNet (Fig. 3): conv1 96@7x7/2, conv2 256@5x5/2, 384-384-256, FCs 4096-4096, 224x224x3",
        input_shape=(224, 224, 3),
        min_input_size=(47, 47),
        num_classes=1000,
        params=62_357_608,
        trainable_params=62_357_608,
        non_trainable_params=0,
        sources={"params": REFERENCES + ", papers table: ZFNet 62,357,608 (osmr/imgclsmob zfnet); recomputed: "
                           "AlexNet's 62,378,344 - 34,944 (11x11 conv1) + 14,208 (7x7 conv1), "
                           "conv3-5 384-384-256 as in Fig. 3 of the paper"},
    ),
    "alexnet_mini": dict(
        builder=alexnet_mini,
        family="alexnet",
        description="mini AlexNet for 280x280 binary images: conv 96@13x13/3, 256, 384, 384, 256, FCs 128-128",
        input_shape=(280, 280, 3),
        # 37 + 2*3 padding -> conv1 11 -> pool 5 -> pool 2 -> pool(2) 1; at 36 conv1 gives 10 -> 4 -> 1 -> 0
        min_input_size=(37, 37),
        num_classes=1,
        params=7_742_721,
        trainable_params=7_742_721,
        non_trainable_params=0,
        sources={"params": REFERENCES + ", tutorial models: mini AlexNet for 280x280 binary images, 7,742,721"},
    ),
}
register_family(VARIANTS)
