"""Inception v3 (Szegedy et al. 2016, "Rethinking the Inception Architecture", arXiv 1512.00567).

The paper's modules in the layout of the released model (TF-slim, keras.applications
``InceptionV3``, torchvision ``inception_v3``), whose weights exist:

* stem: 3x3/2 conv 32, 3x3 conv 32, 3x3 conv 64 ("same"), 3x3/2 max pool, 1x1 conv 80,
  3x3 conv 192, 3x3/2 max pool: 299x299 -> 35x35x192 (every unpadded layer "valid");
* three 35x35 modules (:func:`inception_a`, figure 5: a 5x5 factorised into two 3x3),
  ``mixed0``-``mixed2``;
* a grid reduction to 17x17 (:func:`inception_b`, figure 10: strided convolutions and a
  pool side by side), ``mixed3``;
* four 17x17 modules (:func:`inception_c`, figure 6: 7x7 factorised into 1x7 and 7x1),
  ``mixed4``-``mixed7``; the optional auxiliary classifier sits on ``mixed7``;
* a grid reduction to 8x8 (:func:`inception_d`), ``mixed8``;
* two 8x8 modules with expanded filter banks (:func:`inception_e`, figure 7: 3x3 split into
  parallel 1x3 and 3x1), ``mixed9``, ``mixed10``; global average pooling and the classifier.

Every convolution is followed by BatchNorm without scale (``scale=False``, epsilon 1e-3, as
TF-slim and keras.applications: a ReLU follows, so gamma adds nothing a later layer cannot
absorb) and a ReLU, and has no bias. The concatenations carry keras.applications' names
(``mixed0`` ... ``mixed10``); the other layers are named after torchvision's modules and
branches (``conv2d_1a_3x3``, ``mixed0_branch5x5_2_conv``), where keras.applications lets Keras
number them (``conv2d_57``). ``weights="imagenet"`` therefore copies keras.applications'
weights layer by layer in graph order (:func:`kerascnn.weights.copy_weights_in_order`),
which is how Keras' own HDF5 loader reads them.
"""

from __future__ import annotations

from kerascnn.blocks import classifier_head
from kerascnn.errors import WeightsNotAvailable, check_int
from kerascnn.models import base
from kerascnn.models._card import applications_card
from kerascnn.models.googlenet import googlenet_inference_model
from kerascnn.registry import keras_weights, register_family
from kerascnn.runtime import keras

layers = keras.layers
PUBLIC = ("inception_v3_inference_model",)

#: BatchNorm epsilon of TF-slim's (and keras.applications', torchvision's) Inception v3.
BN_EPSILON = 1e-3
#: keras.applications asks for 75x75: at 74 the 8x8 grid reduction (mixed8) gets an empty map.
MIN_INPUT_SIZE = 75
#: The auxiliary head pools 5x5/3 and convolves 5x5 without padding on mixed7 (17x17 at 299):
#: it needs mixed7 at least 17x17, hence 299x299 inputs.
MIN_INPUT_SIZE_AUX = 299
#: Loss weight of the auxiliary classifier: TF-slim's train_image_classifier.py (the training
#: of the released model) and PyTorch's fine-tuning tutorial (``loss1 + 0.4 * loss2``).
AUX_LOSS_WEIGHT = 0.4
#: 7x7-branch widths of the four 17x17 modules (torchvision's ``channels_7x7``), mixed4..mixed7.
CHANNELS_7X7 = (128, 160, 160, 192)
#: Pool-projection widths of the three 35x35 modules, mixed0..mixed2.
POOL_FILTERS = (32, 64, 64)


def conv_bn(x, filters: int, kernel_size, strides=1, padding="same", name: str = "conv"):
    """Convolution without bias, BatchNorm without scale (epsilon 1e-3), ReLU: every Inception v3 layer.

    Layers ``{name}_conv``, ``{name}_bn``, ``{name}_relu``. ``kernel_size`` may be
    rectangular, ``(1, 7)``: the factorised convolutions of the paper's section 3.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((17, 17, 128))
        >>> y = conv_bn(x, 192, (7, 1), name="b")
        >>> keras.Model(x, y).count_params()  # 7*1*128*192 + 192 beta + 2*192 statistics
        172608
    """
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=False,
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(scale=False, epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _concat(tensors, name):
    return layers.Concatenate(axis=-1, name=name)(tensors)


def _pool_branch(x, filters, name):
    """3x3/1 average pool ("same") then a 1x1 projection: the pool branch of the A, C, E modules."""
    pooled = layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    return conv_bn(pooled, filters, 1, name=f"{name}_branch_pool")


def inception_a(x, pool_filters: int, name: str = "mixed0"):
    """35x35 module (figure 5; torchvision ``InceptionA``): 224 + ``pool_filters`` channels.

    Branches: 1x1 64; 1x1 48 -> 5x5 64; 1x1 64 -> 3x3 96 -> 3x3 96 (the paper's 5x5
    factorised into two 3x3); 3x3 average pool -> 1x1 ``pool_filters``. The released model
    keeps a real 5x5 branch next to the factorised one (the paper's figure shows only the latter).

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((35, 35, 192))
        >>> tuple(inception_a(x, 32, name="mixed0").shape)
        (None, 35, 35, 256)
    """
    pool_filters = check_int("pool_filters", pool_filters, minimum=1)
    branch1x1 = conv_bn(x, 64, 1, name=f"{name}_branch1x1")
    branch5x5 = conv_bn(x, 48, 1, name=f"{name}_branch5x5_1")
    branch5x5 = conv_bn(branch5x5, 64, 5, name=f"{name}_branch5x5_2")
    branch3x3dbl = conv_bn(x, 64, 1, name=f"{name}_branch3x3dbl_1")
    branch3x3dbl = conv_bn(branch3x3dbl, 96, 3, name=f"{name}_branch3x3dbl_2")
    branch3x3dbl = conv_bn(branch3x3dbl, 96, 3, name=f"{name}_branch3x3dbl_3")
    branch_pool = _pool_branch(x, pool_filters, name)
    return _concat([branch1x1, branch5x5, branch3x3dbl, branch_pool], name)


def inception_b(x, name: str = "mixed3"):
    """Grid reduction 35x35 -> 17x17 (figure 10; torchvision ``InceptionB``): 480 + C_in channels.

    Three parallel stride-2 paths, concatenated, instead of a pool that loses information or
    an expansion that costs three times more (section 5): 3x3/2 384; 1x1 64 -> 3x3 96 ->
    3x3/2 96; 3x3/2 max pool.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((35, 35, 288))
        >>> tuple(inception_b(x).shape)
        (None, 17, 17, 768)
    """
    branch3x3 = conv_bn(x, 384, 3, strides=2, padding="valid", name=f"{name}_branch3x3")
    branch3x3dbl = conv_bn(x, 64, 1, name=f"{name}_branch3x3dbl_1")
    branch3x3dbl = conv_bn(branch3x3dbl, 96, 3, name=f"{name}_branch3x3dbl_2")
    branch3x3dbl = conv_bn(branch3x3dbl, 96, 3, strides=2, padding="valid", name=f"{name}_branch3x3dbl_3")
    branch_pool = layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    return _concat([branch3x3, branch3x3dbl, branch_pool], name)


def inception_c(x, filters_7x7: int, name: str = "mixed4"):
    """17x17 module (figure 6 with n = 7; torchvision ``InceptionC``): 768 channels.

    Branches: 1x1 192; 1x1 c -> 1x7 c -> 7x1 192; 1x1 c -> 7x1 c -> 1x7 c -> 7x1 c ->
    1x7 192; 3x3 average pool -> 1x1 192, with c = ``filters_7x7`` (128, 160, 160, 192 in
    mixed4-mixed7). A 1x7 followed by a 7x1 sees a 7x7 window for 2/7 of its cost.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((17, 17, 768))
        >>> tuple(inception_c(x, 128).shape)
        (None, 17, 17, 768)
    """
    c = check_int("filters_7x7", filters_7x7, minimum=1)
    branch1x1 = conv_bn(x, 192, 1, name=f"{name}_branch1x1")
    branch7x7 = conv_bn(x, c, 1, name=f"{name}_branch7x7_1")
    branch7x7 = conv_bn(branch7x7, c, (1, 7), name=f"{name}_branch7x7_2")
    branch7x7 = conv_bn(branch7x7, 192, (7, 1), name=f"{name}_branch7x7_3")
    branch7x7dbl = conv_bn(x, c, 1, name=f"{name}_branch7x7dbl_1")
    layers_7x7dbl = ((c, (7, 1)), (c, (1, 7)), (c, (7, 1)), (192, (1, 7)))
    for index, (filters, kernel) in enumerate(layers_7x7dbl, start=2):
        branch7x7dbl = conv_bn(branch7x7dbl, filters, kernel, name=f"{name}_branch7x7dbl_{index}")
    branch_pool = _pool_branch(x, 192, name)
    return _concat([branch1x1, branch7x7, branch7x7dbl, branch_pool], name)


def inception_d(x, name: str = "mixed8"):
    """Grid reduction 17x17 -> 8x8 (torchvision ``InceptionD``): 512 + C_in channels.

    Branches: 1x1 192 -> 3x3/2 320; 1x1 192 -> 1x7 192 -> 7x1 192 -> 3x3/2 192; 3x3/2 max pool.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((17, 17, 768))
        >>> tuple(inception_d(x).shape)
        (None, 8, 8, 1280)
    """
    branch3x3 = conv_bn(x, 192, 1, name=f"{name}_branch3x3_1")
    branch3x3 = conv_bn(branch3x3, 320, 3, strides=2, padding="valid", name=f"{name}_branch3x3_2")
    branch7x7x3 = conv_bn(x, 192, 1, name=f"{name}_branch7x7x3_1")
    branch7x7x3 = conv_bn(branch7x7x3, 192, (1, 7), name=f"{name}_branch7x7x3_2")
    branch7x7x3 = conv_bn(branch7x7x3, 192, (7, 1), name=f"{name}_branch7x7x3_3")
    branch7x7x3 = conv_bn(branch7x7x3, 192, 3, strides=2, padding="valid", name=f"{name}_branch7x7x3_4")
    branch_pool = layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    return _concat([branch3x3, branch7x7x3, branch_pool], name)


def _split_3x3(x, name):
    """1x3 and 3x1 side by side on the same input, concatenated (figure 7)."""
    a = conv_bn(x, 384, (1, 3), name=f"{name}a")
    b = conv_bn(x, 384, (3, 1), name=f"{name}b")
    return _concat([a, b], name)


def inception_e(x, name: str = "mixed9"):
    """8x8 module with expanded filter banks (figure 7; torchvision ``InceptionE``): 2048 channels.

    Branches: 1x1 320; 1x1 384 -> [1x3 384, 3x1 384]; 1x1 448 -> 3x3 384 -> [1x3 384,
    3x1 384]; 3x3 average pool -> 1x1 192. The bracketed pairs run in parallel on the same
    input and are concatenated (``{name}_branch3x3_2``, ``{name}_branch3x3dbl_3``): wider
    representations at the coarsest grid (the paper's principle 2).

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((8, 8, 1280))
        >>> tuple(inception_e(x).shape)
        (None, 8, 8, 2048)
    """
    branch1x1 = conv_bn(x, 320, 1, name=f"{name}_branch1x1")
    branch3x3 = conv_bn(x, 384, 1, name=f"{name}_branch3x3_1")
    branch3x3 = _split_3x3(branch3x3, f"{name}_branch3x3_2")
    branch3x3dbl = conv_bn(x, 448, 1, name=f"{name}_branch3x3dbl_1")
    branch3x3dbl = conv_bn(branch3x3dbl, 384, 3, name=f"{name}_branch3x3dbl_2")
    branch3x3dbl = _split_3x3(branch3x3dbl, f"{name}_branch3x3dbl_3")
    branch_pool = _pool_branch(x, 192, name)
    return _concat([branch1x1, branch3x3, branch3x3dbl, branch_pool], name)


def inception_aux(x, num_classes: int, classifier_activation="auto", task="classification", name="aux"):
    """The auxiliary classifier on the last 17x17 map (torchvision ``InceptionAux``).

    5x5/3 average pool, 1x1 conv 128, 5x5 conv 768 (both with BatchNorm and ReLU), global
    average pooling (a 1x1 map at 299x299), fully connected ``num_classes``. The paper
    (section 4) finds it acts as a regulariser, better with BatchNorm; it is used in
    training only. Layers ``{name}_pool``, ``{name}_conv0_*``, ``{name}_conv1_*``,
    ``{name}_gap``, ``{name}_predictions``.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((17, 17, 768))
        >>> # 98,304 + 3*128 + 2,457,600 + 3*768 + 769,000
        >>> keras.Model(x, inception_aux(x, 1000)).count_params()
        3327592
    """
    x = layers.AveragePooling2D(5, strides=3, name=f"{name}_pool")(x)
    x = conv_bn(x, 128, 1, name=f"{name}_conv0")
    x = conv_bn(x, 768, 5, padding="valid", name=f"{name}_conv1")
    x = layers.GlobalAveragePooling2D(name=f"{name}_gap")(x)
    return classifier_head(x, num_classes, classifier_activation, task, name=f"{name}_predictions")


def _stem(inputs):
    x = conv_bn(inputs, 32, 3, strides=2, padding="valid", name="conv2d_1a_3x3")
    x = conv_bn(x, 32, 3, padding="valid", name="conv2d_2a_3x3")
    x = conv_bn(x, 64, 3, name="conv2d_2b_3x3")
    x = layers.MaxPooling2D(3, strides=2, name="maxpool_3a_3x3")(x)
    x = conv_bn(x, 80, 1, padding="valid", name="conv2d_3b_1x1")
    x = conv_bn(x, 192, 3, padding="valid", name="conv2d_4a_3x3")
    return layers.MaxPooling2D(3, strides=2, name="maxpool_5a_3x3")(x)


def _build(input_shape, num_classes, include_top, aux_classifier, options):
    if not isinstance(aux_classifier, bool):
        raise TypeError(f"aux_classifier must be True or False, got {aux_classifier!r}.")
    imagenet = isinstance(options.get("weights"), str) and options["weights"] == "imagenet"
    minimum = MIN_INPUT_SIZE_AUX if aux_classifier else MIN_INPUT_SIZE
    if imagenet and aux_classifier:
        raise WeightsNotAvailable("weights='imagenet' with aux_classifier=True: keras.applications' "
                                  "InceptionV3 weights have no auxiliary head; build with aux_classifier=False.")
    inputs, head = base.start(input_shape, minimum, "inception_v3" + (" with aux_classifier" if
                              aux_classifier else ""), num_classes, include_top, options)
    if aux_classifier and head is None:
        raise ValueError("aux_classifier=True needs a classifier: use include_top=True and "
                         "num_classes >= 1 (the auxiliary head classifies too).")
    x = _stem(inputs)
    for index, pool_filters in enumerate(POOL_FILTERS):
        x = inception_a(x, pool_filters, name=f"mixed{index}")
    x = inception_b(x, name="mixed3")
    for index, filters_7x7 in enumerate(CHANNELS_7X7, start=4):
        x = inception_c(x, filters_7x7, name=f"mixed{index}")
    aux = None
    if aux_classifier:
        aux = inception_aux(x, head.units, options["classifier_activation"], head.task)
    x = inception_d(x, name="mixed8")
    x = inception_e(x, name="mixed9")
    x = inception_e(x, name="mixed10")
    x = base.features_or_top(x, head, options, top_pooling="avg")
    if aux is not None:
        return base.finish(inputs, [x, aux], head, options, default_name="inception_v3",
                           loss_weights=[1.0, AUX_LOSS_WEIGHT])
    return base.finish(inputs, x, head, options, default_name="inception_v3")


def inception_v3(input_shape=(299, 299, 3), num_classes=None, include_top=True, aux_classifier=False,
                 **options):
    """Inception v3 (Szegedy et al. 2016): 23,851,784 parameters, keras.applications' layout.

    Args:
        aux_classifier: add the auxiliary head on ``mixed7`` as a second output
            ``[main, aux]``, compiled with loss weights ``[1, 0.4]``; it needs 299x299
            inputs or larger. :func:`inception_v3_inference_model` returns the model without it.
        weights: None, ``"imagenet"`` (keras.applications InceptionV3's weights, copied layer
            by layer; inputs scaled to [-1, 1] by ``keras.applications.inception_v3.preprocess_input``)
            or the path of a file saved by kerascnn.

    The other arguments are those of every builder. Inputs of at least 75x75.

    Examples:
        >>> import kerascnn
        >>> model = kerascnn.inception_v3(input_shape=(75, 75, 3), num_classes=10)
        >>> tuple(model.get_layer("mixed10").output.shape), tuple(model.output.shape)
        ((None, 1, 1, 2048), (None, 10))
    """
    return _build(input_shape, num_classes, include_top, aux_classifier, options)


#: The variant: reference figures at 299x299x3, 1000 classes: Keras total and non-trainable
#: (keras.applications InceptionV3 built with weights=None, checked in
#: tests/models/test_inception_v3.py), GMACs (torchvision ``_ops``), top-1 (keras.io).
VARIANTS = {
    "inception_v3": applications_card(
        inception_v3, "inception", "Inception v3: factorised 35x35 / 17x17 / 8x8 modules (mixed0-mixed10), "
        "BN without scale, no conv bias, 299x299x3", (299, 299, 3), MIN_INPUT_SIZE,
        (23_851_784, 34_432, 5.71, 77.9),
        {"params": "keras.applications.InceptionV3(weights=None): the same count "
                   "(docs/models/inception_v3.md; torchvision's 27,161,264 = this trainable count "
                   "+ 17,216 BN gammas + its aux head)",
         "gmacs": "torchvision inception_v3 IMAGENET1K_V1 _ops: 5.71 GMACs at 299x299 "
                  "(docs/models/inception_v3.md)",
         "top1": "keras.io/api/applications: keras.applications InceptionV3 (the weights of "
                 "weights='imagenet'), one 299 crop",
         "min_input_size": "keras.applications InceptionV3 (75x75); derived: inception_v3.MIN_INPUT_SIZE"},
        keras_weights("InceptionV3", "tf", match="order", input_shape=(299, 299, 3), top1=77.9)),
}
register_family(VARIANTS)


def inception_v3_inference_model(model):
    """The Inception v3 ``model`` without its auxiliary head, sharing every weight.

    The same layer objects, the main output only, not compiled; a model without the
    auxiliary head is returned unchanged.

    Examples:
        >>> import kerascnn
        >>> train = kerascnn.inception_v3(num_classes=5, aux_classifier=True)
        >>> [len(m.outputs) for m in (train, kerascnn.inception_v3_inference_model(train))]
        [2, 1]
    """
    return googlenet_inference_model(model)
