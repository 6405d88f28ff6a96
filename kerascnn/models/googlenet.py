"""GoogLeNet / Inception-v1 (Szegedy et al. 2014, arXiv 1409.4842), as in the paper's Table 1.

Stem: 7x7/2 conv 64, 3x3/2 max pool, LRN, 1x1 conv 64, 3x3 conv 192, LRN, 3x3/2 max pool.
Then inception 3a, 3b, max pool, 4a-4e, max pool, 5a, 5b with the paper's filter table,
global average pooling (the paper's 7x7 average pool at 224x224), dropout 0.4 and a
fully connected classifier. ``aux_classifiers=True`` adds the two training-only heads after
4a and 4d, compiled with loss weight 0.3 each; :func:`googlenet_inference_model` removes
them again, sharing the weights.

Max pools between stages use ceil mode, as the original Caffe model (and torchvision) do:
224 -> 112 -> 56 -> 28 -> 14 -> 7 as in Table 1. The pools follow ReLUs, so the zero
padding that implements ceil mode never wins a maximum.
"""

from __future__ import annotations

from kerascnn.blocks import classifier_head, conv_bn_act, inception
from kerascnn.errors import check_choice
from kerascnn.graph import producing_layer
from kerascnn.layers import LocalResponseNormalization
from kerascnn.models import base
from kerascnn.registry import register_family
from kerascnn.runtime import keras

layers = keras.layers

#: Table 1 of the paper: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
INCEPTION_TABLE = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
STAGES = (("3a", "3b"), ("4a", "4b", "4c", "4d", "4e"), ("5a", "5b"))
AUX_AFTER = {"4a": "aux1", "4d": "aux2"}
AUX_LOSS_WEIGHT = 0.3
BUILD_VARIANTS = ("paper", "torchvision")
#: Exported by kerascnn.models besides the builder.
PUBLIC = ("googlenet_inference_model",)

#: What differs between the paper (Caffe) build and torchvision's ``googlenet``:
#: max pool between stages 4 and 5, kernel of the "5x5" branch, dropout before the classifier.
_VARIANT_SETTINGS = {
    "paper": {"last_pool": 3, "kernel_5x5": 5, "dropout": 0.4},
    "torchvision": {"last_pool": 2, "kernel_5x5": 3, "dropout": 0.2},
}


def _ceil_pool_side(side: int, pool: int, stride: int) -> int:
    """Output side of a max pool in ceil mode (Caffe; PyTorch ``ceil_mode=True``), 0 if empty."""
    out = (side - pool + stride - 1) // stride + 1
    if (out - 1) * stride >= side:  # the last window must start inside the input
        out -= 1
    return max(out, 0)


def _feature_sides(side: int, variant: str) -> tuple[int, int]:
    """Sides after stage 4a's pool (pool3) and after the last pool, for an input side."""
    side = (side + 2 * 3 - 7) // 2 + 1  # conv1 7x7/2, padding 3
    for _ in range(2):  # pool1, pool2 (the 1x1 and 3x3 "same" convolutions keep the side)
        side = _ceil_pool_side(side, 3, 2)
    before_stage4 = _ceil_pool_side(side, 3, 2)  # pool3
    last = _ceil_pool_side(before_stage4, _VARIANT_SETTINGS[variant]["last_pool"], 2)  # pool4
    return before_stage4, last


def min_input_side(variant: str = "paper", aux_classifiers: bool = False) -> int:
    """The smallest input side GoogLeNet accepts: below it a pool (or an aux head's 5x5/3
    average pool) has nothing left to pool.

    Examples:
        >>> min_input_side(), min_input_side(aux_classifiers=True), min_input_side("torchvision")
        (31, 79, 15)
    """
    check_choice("variant", variant, BUILD_VARIANTS)
    for side in range(1, 4096):
        before_stage4, last = _feature_sides(side, variant)
        if last >= 1 and (not aux_classifiers or before_stage4 >= 5):
            return side
    raise AssertionError("unreachable")  # pragma: no cover


def _ceil_max_pool(x, pool: int, name: str):
    """Stride-2 max pool in ceil mode: zeros at the bottom and right, then a valid pool."""
    pads = []
    for side in x.shape[1:3]:
        if side is None:  # any size: one zero row/column gives ceil mode (alexnet.max_pool_ceil says why)
            pads.append((0, 1))
            continue
        out = _ceil_pool_side(side, pool, 2)
        pads.append((0, max((out - 1) * 2 + pool - side, 0)))
    x = layers.ZeroPadding2D(tuple(pads), name=f"{name}_pad")(x)
    return layers.MaxPooling2D(pool, strides=2, name=f"{name}_pool")(x)


def _lrn(x, name: str):
    # Caffe's LRN of the GoogLeNet prototxt: local_size 5, alpha 1e-4 (divided by the size), beta 0.75, k 1.
    return LocalResponseNormalization(depth_radius=2, bias=1.0, alpha=1e-4 / 5, beta=0.75, name=name)(x)


def _aux_head(x, head, options, batch_norm: bool, name: str):
    """Auxiliary classifier: 5x5/3 average pool, 1x1 conv 128, FC 1024, dropout 0.7, FC."""
    x = layers.AveragePooling2D(5, strides=3, name=f"{name}_pool")(x)
    x = conv_bn_act(x, 128, 1, batch_norm=batch_norm, name=name)
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(1024, activation="relu", name=f"{name}_fc")(x)
    return classifier_head(x, head.units, options["classifier_activation"], head.task,
                           dropout=0.7, name=f"{name}_predictions")


def googlenet(
    input_shape=(224, 224, 3),
    num_classes=None,
    include_top=True,
    aux_classifiers: bool = False,
    batch_norm: bool | None = None,
    variant: str = "paper",
    **options,
):
    """GoogLeNet (Inception-v1), Szegedy et al. 2014.

    Args:
        aux_classifiers: add the two auxiliary heads after 4a and 4d as extra outputs
            ``[main, aux1, aux2]``, compiled with loss weights ``[1, 0.3, 0.3]``. They need at
            least 79x79 inputs. :func:`googlenet_inference_model` returns the model without them.
        batch_norm: BatchNorm after every convolution (convolutions lose their bias) and no
            LRN, as in torchvision; default False for the paper, True for torchvision.
        variant: ``"paper"`` (Table 1, Caffe pooling) or ``"torchvision"``: torchvision's
            ``googlenet`` (BatchNorm, a 3x3 kernel in the "5x5" branch, a 2x2 last pool,
            dropout 0.2): 6,639,464 parameters, as torchvision's 6,624,904 plus BN statistics.

    Dropout before the classifier is the paper's 0.4 unless ``dropout`` says otherwise.
    The smallest input is 31x31 (79x79 with auxiliary heads, 15x15 for torchvision).

    Examples:
        >>> import kerascnn
        >>> model = kerascnn.googlenet(input_shape=(96, 96, 3), num_classes=10, aux_classifiers=True)
        >>> [tuple(output.shape) for output in model.outputs]
        [(None, 10), (None, 10), (None, 10)]
        >>> kerascnn.googlenet_inference_model(model).output.shape[-1]
        10
    """
    check_choice("variant", variant, BUILD_VARIANTS)
    if not isinstance(aux_classifiers, bool):
        raise TypeError(f"aux_classifiers must be True or False, got {aux_classifiers!r}.")
    if batch_norm is None:
        batch_norm = variant == "torchvision"
    elif variant == "torchvision" and batch_norm is not True:
        raise ValueError("batch_norm=False does not exist for variant='torchvision' "
                         "(torchvision's GoogLeNet has BatchNorm); use variant='paper'.")
    settings = _VARIANT_SETTINGS[variant]
    minimum = min_input_side(variant, aux_classifiers)
    inputs, head = base.start(input_shape, minimum, "googlenet" + (" with aux_classifiers" if
                              aux_classifiers else ""), num_classes, include_top, options)
    if aux_classifiers and head is None:
        raise ValueError("aux_classifiers=True needs a classifier: use include_top=True and "
                         "num_classes >= 1 (the auxiliary heads classify too).")

    x = conv_bn_act(inputs, 64, 7, strides=2, padding=3, batch_norm=batch_norm, name="conv1")
    x = _ceil_max_pool(x, 3, "pool1")
    if not batch_norm:
        x = _lrn(x, "norm1")
    x = conv_bn_act(x, 64, 1, batch_norm=batch_norm, name="conv2_reduce")
    x = conv_bn_act(x, 192, 3, batch_norm=batch_norm, name="conv2")
    if not batch_norm:
        x = _lrn(x, "norm2")
    x = _ceil_max_pool(x, 3, "pool2")
    aux_outputs = []
    for number, stage in enumerate(STAGES, start=3):
        if number > 3:
            pool = 3 if number == 4 else settings["last_pool"]
            x = _ceil_max_pool(x, pool, f"pool{number - 1}")  # pool3 before 4a, pool4 before 5a
        for module in stage:
            x = inception(x, *INCEPTION_TABLE[module], name=f"inception_{module}",
                          batch_norm=batch_norm, kernel_5x5=settings["kernel_5x5"])
            if aux_classifiers and module in AUX_AFTER:
                aux_outputs.append(_aux_head(x, head, options, batch_norm, AUX_AFTER[module]))
    x = base.features_or_top(x, head, options, top_pooling="avg", dropout=settings["dropout"])
    if aux_outputs:
        return base.finish(inputs, [x, *aux_outputs], head, options, default_name="googlenet",
                           loss_weights=[1.0, AUX_LOSS_WEIGHT, AUX_LOSS_WEIGHT])
    return base.finish(inputs, x, head, options, default_name="googlenet")


def googlenet_inference_model(model):
    """The GoogLeNet ``model`` without its auxiliary heads, sharing every weight.

    The paper uses the auxiliary classifiers in training only. The returned model is made
    of the same layer objects (training one trains the other) and has the main output only;
    it is not compiled (compile it to ``evaluate``). A model without auxiliary heads is
    returned unchanged.

    Examples:
        >>> import kerascnn
        >>> train = kerascnn.googlenet(input_shape=(96, 96, 3), num_classes=5, aux_classifiers=True)
        >>> infer = kerascnn.googlenet_inference_model(train)
        >>> len(train.outputs), len(infer.outputs), infer.get_layer("predictions") is train.get_layer("predictions")
        (3, 1, True)
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a Keras GoogLeNet model, got {type(model).__name__}.")
    names = [_output_layer_name(tensor) for tensor in model.outputs]
    if len(names) == 1:
        return model
    if not names or names[0] != "predictions" or not all(n.startswith("aux") for n in names[1:]):
        raise ValueError(
            f"model {model.name!r} is not a GoogLeNet with auxiliary heads: its outputs come from "
            f"layers {names}, expected 'predictions' then 'aux1_predictions', 'aux2_predictions'."
        )
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, model.outputs[0], name=model.name)


def _output_layer_name(tensor) -> str:
    """The name of the layer that produced a functional-model tensor (Keras 2 and 3)."""
    layer = producing_layer(tensor)
    return layer.name if layer is not None else tensor.name.split("/")[0]


#: The variants: name -> builder and card (see kerascnn.registry.register_family).
VARIANTS = {
    "googlenet": dict(
        builder=googlenet,
        family="googlenet",
        description="GoogLeNet (Inception-v1) as in the paper: LRN stem, inception 3a-5b, dropout 0.4",
        input_shape=(224, 224, 3),
        min_input_size=(31, 31),
        num_classes=1000,
        params=6_998_552,
        trainable_params=6_998_552,
        non_trainable_params=0,
        gmacs=1.5,
        sources={
            "params": "recomputed layer by layer from Table 1 of Szegedy et al. 2014, convolutions "
                      "with biases (tests/models/test_googlenet.py)",
            "gmacs": "Szegedy et al. 2014, arXiv 1409.4842: budget of 1.5 billion multiply-adds at inference",
            "top1": "not published: the paper reports top-5 error only (10.07% single model, one crop)",
            "min_input_size": "derived: googlenet.min_input_side() (ceil-mode pools, 7x7/2 stem)",
        },
    ),
}
register_family(VARIANTS)
