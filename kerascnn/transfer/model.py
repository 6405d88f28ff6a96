"""``build``: a pretrained backbone with a new head, preprocessing inside, ready to compile.

::

    image (0-255 RGB) -> the backbone's own preprocessing (Rescaling layers)
      -> backbone(x, training=False)   # BatchNorm statistics stay fixed, even once unfrozen
      -> pooling -> [Dense(units, relu) -> dropout]* -> dropout -> Dense(num_classes)

The head follows the zoo's conventions (:mod:`kerascnn.heads`): one unit with a sigmoid
for two classes, softmax otherwise, linear for regression; the loss and metrics match.
"""

from __future__ import annotations

from kerascnn.blocks import classifier_head
from kerascnn.errors import check_choice, check_fraction, check_int
from kerascnn.heads import compile_model, head_spec
from kerascnn.runtime import keras
from kerascnn.transfer.backbones import backbone as make_backbone
from kerascnn.transfer.freezing import apply_plan
from kerascnn.transfer.preprocessing import preprocessing


def build(
    backbone,
    num_classes: int,
    input_shape=None,
    weights="imagenet",
    pooling: str | None = "avg",
    dropout: float | None = 0.3,
    head=(),
    freeze="all",
    batchnorm: bool = False,
    include_preprocessing: bool = True,
    classifier_activation="auto",
    task: str = "classification",
    label_mode: str = "int",
    compile: bool = True,
    optimizer="adam",
    learning_rate: float | None = 1e-3,
    loss=None,
    metrics=None,
    name: str | None = None,
    partial: bool = False,
    **backbone_kwargs,
):
    """A transfer-learning model: preprocessing, a (frozen) pretrained backbone, a new head.

    Arguments:
        backbone: a name for :func:`kerascnn.transfer.backbone` (``"DaViT_T"``, ``"ResNet50"``)
            or a Keras model you built (its preprocessing then defaults to none).
        num_classes: 1 for a binary (sigmoid) head, N for softmax, the outputs of a regression.
        input_shape, weights, partial, backbone_kwargs: for :func:`kerascnn.transfer.backbone`.
        pooling: ``"avg"``, ``"max"``, ``"flatten"`` or None (the backbone's output is flat).
        dropout: before each Dense layer of the head (None or 0: none).
        head: the units of hidden Dense layers (ReLU) between pooling and the classifier.
        freeze: the backbone's freeze plan (``"all"``, ``"none"``, ``"first:80"``, ``"until:name"``,
            ``"fraction:0.5"``, an int, a float; see :mod:`kerascnn.transfer.freezing`).
        batchnorm: False (default) calls the backbone with ``training=False`` and keeps its
            BatchNorm layers frozen in every plan; True lets them train once unfrozen.
        include_preprocessing: put the backbone's preprocessing in the model (default); False
            leaves it to you (``model.preprocess_input`` on arrays).
        compile, optimizer, learning_rate, loss, metrics: as every kerascnn builder.

    Examples:
        >>> model = build("lenet5", num_classes=1, input_shape=(32, 32, 1), weights=None)
        >>> model.count_params()  # C1-C5 of LeNet-5 (156 + 2,416 + 48,120) + the head (120 + 1)
        50813
        >>> len(model.trainable_weights)   # the head only: the backbone is frozen
        2
    """
    spec = head_spec(check_int("num_classes", num_classes, minimum=1), task, classifier_activation, label_mode)
    check_choice("pooling", pooling, ("avg", "max", "flatten", None))
    if dropout is not None:
        check_fraction("dropout", dropout)
    units = (head,) if isinstance(head, int) else tuple(head or ())
    for unit in units:
        check_int("head units", unit, minimum=1)
    if isinstance(backbone, str):
        base = make_backbone(backbone, input_shape=input_shape, weights=weights, partial=partial, **backbone_kwargs)
        process = base.preprocessing
    elif isinstance(backbone, keras.Model):
        if backbone_kwargs:
            raise TypeError(f"unexpected keyword argument(s) {', '.join(sorted(backbone_kwargs))} for a backbone "
                            "given as a model.")
        base = backbone
        process = getattr(base, "preprocessing", None) or preprocessing("none")
    else:
        raise TypeError(f"backbone must be a backbone name or a Keras model, got {backbone!r}.")

    inputs = keras.Input(shape=tuple(base.input_shape[1:]), name="image")
    x = process.apply(inputs) if include_preprocessing else inputs
    x = base(x, training=False) if not batchnorm else base(x)
    if units:
        if pooling == "avg":
            x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        elif pooling == "max":
            x = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
        elif pooling == "flatten":
            x = keras.layers.Flatten(name="flatten")(x)
        for index, unit in enumerate(units, start=1):
            if dropout:
                x = keras.layers.Dropout(dropout, name=f"head_dropout{index}")(x)
            x = keras.layers.Dense(unit, activation="relu", name=f"head_dense{index}")(x)
        pooling = None
    outputs = classifier_head(x, spec.units, classifier_activation, task, pooling=pooling, dropout=dropout)
    model = keras.Model(inputs, outputs, name=name or f"{base.name}_transfer")
    model.backbone_name = base.name
    model.preprocessing = process
    model.preprocess_input = process
    apply_plan(model, freeze, batchnorm=batchnorm)
    if compile:
        compile_model(model, spec, optimizer, learning_rate, loss, metrics)
    model.head_spec = spec
    return model
