"""VGG (Simonyan & Zisserman 2014): configurations A, B, D and E as vgg11, vgg13, vgg16, vgg19.

Five stages of 3x3 convolutions ("same", ReLU), each closed by a 2x2 max pooling; the
stages are ``base_dim * (1, 2, 4, 8, 8)`` wide (64-128-256-512-512 in the paper) and hold
the number of convolutions of :data:`CONFIGS`. Then flatten, two hidden FCs of 4096 with
dropout 0.5, and the classifier. ``batch_norm=True`` puts BatchNorm between each
convolution and its ReLU (torchvision's ``vgg*_bn``, which keeps the convolution biases).

Layer names are those of ``keras.applications`` (``block1_conv1`` ... ``block5_pool``,
``flatten``, ``fc1``, ``fc2``, ``predictions``), so ``weights="imagenet"`` takes the
weights of ``keras.applications.VGG16`` / ``VGG19`` layer by layer.

Examples:
    >>> from kerascnn.models.vgg import CONFIGS
    >>> CONFIGS[16]
    ('D', (2, 2, 3, 3, 3))
"""

from __future__ import annotations

from kerascnn.blocks import BN_EPSILON
from kerascnn.errors import WeightsNotAvailable, check_int
from kerascnn.models import base
from kerascnn.models._fc import check_units, dense_top
from kerascnn.registry import REFERENCES, keras_weights, model_card, register_family
from kerascnn.runtime import keras
from kerascnn.weights import copy_weights_by_name

layers = keras.layers

#: depth -> (configuration of Table 1 of the paper, convolutions in each of the five stages)
CONFIGS = {
    11: ("A", (1, 1, 2, 2, 2)),
    13: ("B", (2, 2, 2, 2, 2)),
    16: ("D", (2, 2, 3, 3, 3)),
    19: ("E", (2, 2, 4, 4, 4)),
}
#: width of each stage in units of ``base_dim``
STAGE_WIDTHS = (1, 2, 4, 8, 8)
#: five 2x2 poolings: 32 is the smallest side that leaves a 1x1 map (31 -> 15 -> 7 -> 3 -> 1 -> 0)
MIN_SIZE = 32

# docs/references.md, torchvision table (224x224x3, 1000 classes): Keras total (BN statistics
# included), non-trainable (2 x BatchNorm channels), GMACs (torchvision _ops), acc@1.
_FIGURES = {
    "vgg11": (132_863_336, 0, 7.609, 69.020),
    "vgg11_bn": (132_874_344, 5_504, 7.609, 70.370),
    "vgg13": (133_047_848, 0, 11.308, 69.928),
    "vgg13_bn": (133_059_624, 5_888, 11.308, 71.586),
    "vgg16": (138_357_544, 0, 15.470, 71.592),
    "vgg16_bn": (138_374_440, 8_448, 15.470, 73.360),
    "vgg19": (143_667_240, 0, 19.632, 72.376),
    "vgg19_bn": (143_689_256, 11_008, 19.632, 74.218),
}


def _card(name: str, builder, weights=()) -> dict:
    """The table entry of one VGG variant: builder, bound arguments and card."""
    params, frozen, gmacs, top1 = _FIGURES[name]
    depth = int(name[3:5])
    batch_norm = name.endswith("_bn")
    config, _ = CONFIGS[depth]
    sources = {
        "params": f"{REFERENCES}, torchvision table: {name} Keras total {params:,}"
                  + (" (torchvision count + 2 x BatchNorm channels; conv biases kept)" if batch_norm
                     else "; keras.applications and the paper (Table 2) agree"),
        "gmacs": f"{REFERENCES}, torchvision table: {name.replace('_bn', '')} _ops {gmacs} GMACs",
        "top1": f"{REFERENCES}, torchvision table: {name} acc@1 (IMAGENET1K_V1 weights)",
    }
    return {
        "builder": builder,
        "defaults": {"batch_norm": True} if batch_norm else {},
        "family": "vgg",
        "description": f"VGG-{depth}{' with BatchNorm' if batch_norm else ''}, configuration {config}, "
                       "FCs 4096-4096, dropout 0.5, 224x224x3",
        "input_shape": (224, 224, 3),
        "min_input_size": (MIN_SIZE, MIN_SIZE),
        "num_classes": 1000,
        "params": params,
        "trainable_params": params - frozen,
        "non_trainable_params": frozen,
        "gmacs": gmacs,
        "top1": top1,
        "sources": sources,
        "weights": weights,
    }


def _conv(x, filters, batch_norm, name):
    if not batch_norm:
        return layers.Conv2D(filters, 3, padding="same", activation="relu", name=name)(x)
    x = layers.Conv2D(filters, 3, padding="same", name=name)(x)  # torchvision's vgg*_bn keeps the bias
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _check_imagenet_layout(name, base_dim, fc_units, head):
    """Fail before building when the ImageNet weights cannot fit this width (the card checks the rest)."""
    problems = []
    if base_dim != 64:
        problems.append(f"base_dim={base_dim} (the weights need 64)")
    if head is not None and fc_units != (4096, 4096):
        problems.append(f"fc_units={fc_units} (the top has (4096, 4096))")
    if problems:
        raise WeightsNotAvailable(f"weights='imagenet' does not fit {name} with " + "; ".join(problems) + ".")


def keras_applications_vgg(depth: int, include_top: bool = True, input_shape=(224, 224, 3), weights="imagenet"):
    """The ``keras.applications`` VGG16 or VGG19 of the active runtime (Keras 3 or tf-keras).

    The application is the one of the card's weights record (``vgg16`` -> ``VGG16``). With
    ``weights="imagenet"`` keras.applications downloads the weights once into
    ``~/.keras/models`` and checks their hash.
    """
    factory = getattr(keras.applications, model_card(f"vgg{depth}").weights_record("imagenet").application)
    return factory(include_top=include_top, weights=weights, input_shape=tuple(input_shape))


def load_keras_applications_weights(model, source):
    """Copy the weights of a keras.applications VGG16/VGG19 ``source`` into a kerascnn VGG.

    Layer by layer, by name (``block1_conv1`` ... ``predictions``); all or nothing: any
    layer without a counterpart of the same shapes raises a ValueError naming it (see
    :func:`kerascnn.weights.copy_weights_by_name`). Returns ``model``.

    Examples:
        >>> import numpy as np
        >>> import kerascnn
        >>> from kerascnn.models.vgg import keras_applications_vgg, load_keras_applications_weights
        >>> source = keras_applications_vgg(16, include_top=False, input_shape=(32, 32, 3), weights=None)
        >>> ours = kerascnn.vgg16(input_shape=(32, 32, 3), include_top=False)
        >>> x = np.random.default_rng(0).random((1, 32, 32, 3), "float32")
        >>> _ = load_keras_applications_weights(ours, source)
        >>> float(np.abs(np.asarray(ours(x)) - np.asarray(source(x))).max()) <= 1e-5
        True
    """
    return copy_weights_by_name(source, model)


def _vgg(depth, input_shape, num_classes, include_top, batch_norm, base_dim, fc_units, options):
    if not isinstance(batch_norm, bool):
        raise TypeError(f"batch_norm must be True or False, got {batch_norm!r}.")
    base_dim = check_int("base_dim", base_dim, minimum=1)
    fc_units = check_units(fc_units)
    name = f"vgg{depth}{'_bn' if batch_norm else ''}"
    inputs, head = base.start(input_shape, MIN_SIZE, name, num_classes, include_top, options, fixed_size=True)
    if options["weights"] == "imagenet":
        _check_imagenet_layout(name, base_dim, fc_units, head)
    x = inputs
    for stage, (convs, width) in enumerate(zip(CONFIGS[depth][1], STAGE_WIDTHS), start=1):
        for index in range(1, convs + 1):
            x = _conv(x, base_dim * width, batch_norm, f"block{stage}_conv{index}")
        x = layers.MaxPooling2D(2, strides=2, name=f"block{stage}_pool")(x)
    x = dense_top(x, head, options, fc_units, dropout=0.5, first_index=1)
    return base.finish(inputs, x, head, options, default_name=name)


def vgg11(input_shape=(224, 224, 3), num_classes=None, include_top=True, batch_norm=False,
          base_dim=64, fc_units=(4096, 4096), **options):
    """VGG-11, configuration A: 1-1-2-2-2 convolutions (132,863,336 parameters). Arguments as :func:`vgg16`.

    Examples:
        >>> import kerascnn
        >>> kerascnn.vgg11(input_shape=(32, 32, 3), base_dim=4, fc_units=(), num_classes=10).count_params()
        36610
    """
    return _vgg(11, input_shape, num_classes, include_top, batch_norm, base_dim, fc_units, options)


def vgg13(input_shape=(224, 224, 3), num_classes=None, include_top=True, batch_norm=False,
          base_dim=64, fc_units=(4096, 4096), **options):
    """VGG-13, configuration B: 2-2-2-2-2 convolutions (133,047,848 parameters). Arguments as :func:`vgg16`."""
    return _vgg(13, input_shape, num_classes, include_top, batch_norm, base_dim, fc_units, options)


def vgg16(input_shape=(224, 224, 3), num_classes=None, include_top=True, batch_norm=False,
          base_dim=64, fc_units=(4096, 4096), **options):
    """VGG-16, configuration D: 2-2-3-3-3 convolutions (138,357,544 parameters).

    Args:
        input_shape: at least 32x32 (five 2x2 poolings). With the top, the flatten size
            follows the input, ``(H // 32) * (W // 32) * 8 * base_dim``, and so does fc1's
            weight count (102,764,544 weights at 224; 2,097,152 at 32x32).
        batch_norm: BatchNorm after every convolution (``vgg16_bn``: 138,374,440 in Keras,
            8,448 of them non-trainable moving statistics).
        base_dim: width of stage 1 (64); tutorials shrink VGG with 16 or 32.
        fc_units: widths of the hidden FCs fc1, fc2 (``(4096, 4096)``); ``()`` for none.
        dropout: rate of the dropout after fc1 and fc2 (default 0.5; 0 removes them).
        weights: ``"imagenet"`` takes keras.applications' VGG16 weights (downloaded and
            cached by Keras; a failed download raises
            :class:`~kerascnn.errors.WeightsDownloadError`). The top needs the default
            224x224x3 input and 1000 classes; ``include_top=False`` accepts any input of at
            least 32x32 with 3 channels. Inputs must be prepared as
            ``keras.applications.vgg16.preprocess_input`` does (BGR, ImageNet means).

    Examples:
        >>> import kerascnn
        >>> model = kerascnn.vgg16(input_shape=(64, 96, 3), base_dim=8, fc_units=(32, 32), num_classes=10)
        >>> model.get_layer("flatten").output.shape[-1]  # 2 x 3 positions x 64 channels
        384
        >>> kerascnn.vgg16(input_shape=(64, 64, 3), batch_norm=True, base_dim=8, include_top=False).name
        'vgg16_bn'
    """
    return _vgg(16, input_shape, num_classes, include_top, batch_norm, base_dim, fc_units, options)


def vgg19(input_shape=(224, 224, 3), num_classes=None, include_top=True, batch_norm=False,
          base_dim=64, fc_units=(4096, 4096), **options):
    """VGG-19, configuration E: 2-2-4-4-4 convolutions (143,667,240 parameters). Arguments as :func:`vgg16`.

    ``weights="imagenet"`` takes keras.applications' VGG19 weights.
    """
    return _vgg(19, input_shape, num_classes, include_top, batch_norm, base_dim, fc_units, options)


#: The variants: name -> builder, bound arguments, card and pretrained weights.
VARIANTS = {
    "vgg11": _card("vgg11", vgg11),
    "vgg11_bn": _card("vgg11_bn", vgg11),
    "vgg13": _card("vgg13", vgg13),
    "vgg13_bn": _card("vgg13_bn", vgg13),
    "vgg16": _card("vgg16", vgg16, weights=(keras_weights("VGG16", "caffe", top1=71.3),)),
    "vgg16_bn": _card("vgg16_bn", vgg16),
    "vgg19": _card("vgg19", vgg19, weights=(keras_weights("VGG19", "caffe", top1=71.3),)),
    "vgg19_bn": _card("vgg19_bn", vgg19),
}
register_family(VARIANTS)
