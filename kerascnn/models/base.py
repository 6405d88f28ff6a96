"""What every builder shares: argument checks, the optional top, pooling, compiling, weights.

A builder does three things: check its ``input_shape`` (:func:`start`), build its trunk
from the blocks, then either add its own classifier top or the features-only pooling
(:func:`features_or_top`) and hand over to :func:`finish`, which wraps the tensors in a
``keras.Model``, loads weights and compiles by the conventions of :mod:`kerascnn.heads`.

A complete, tiny builder:

Examples:
    >>> from kerascnn.models import base
    >>> from kerascnn.runtime import keras
    >>> def tiny(input_shape=(8, 8, 1), num_classes=None, include_top=True, **options):
    ...     inputs, head = base.start(input_shape, 4, "tiny", num_classes, include_top,
    ...                               options, default_classes=10)
    ...     x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    ...     x = base.features_or_top(x, head, options, top_pooling="flatten")
    ...     return base.finish(inputs, x, head, options, default_name="tiny")
    >>> tiny().count_params()  # conv 3*3*1*4+4, dense 6*6*4*10+10
    1490
"""

from __future__ import annotations

from kerascnn.blocks import classifier_head
from kerascnn.errors import check_choice, check_fraction, check_input_shape
from kerascnn.heads import LABEL_MODES, POOLINGS, TASKS, HeadSpec, compile_model, head_spec, resolve_num_classes
from kerascnn.runtime import keras

#: The keyword arguments every builder accepts besides input_shape, num_classes and include_top.
COMMON_OPTIONS = {
    "pooling": None,
    "classifier_activation": "auto",
    "task": "classification",
    "label_mode": "int",
    "dropout": None,
    "weights": None,
    "compile": True,
    "optimizer": "adam",
    "learning_rate": None,
    "loss": None,
    "metrics": None,
    "name": None,
}


def _options(options: dict) -> dict:
    unknown = sorted(set(options) - set(COMMON_OPTIONS))
    if unknown:
        raise TypeError(
            f"unexpected keyword argument(s) {', '.join(unknown)}; every builder also accepts "
            f"{', '.join(sorted(COMMON_OPTIONS))}."
        )
    merged = {**COMMON_OPTIONS, **options}
    check_choice("pooling", merged["pooling"], POOLINGS)
    check_choice("task", merged["task"], TASKS)
    check_choice("label_mode", merged["label_mode"], LABEL_MODES)
    if merged["dropout"] is not None:
        check_fraction("dropout", merged["dropout"])
    return merged


def start(
    input_shape,
    min_size,
    model: str,
    num_classes,
    include_top: bool,
    options: dict,
    default_classes: int = 1000,
    channels=None,
):
    """Validate the arguments of a builder and create its input.

    Returns ``(inputs, head)``, where ``head`` is the :class:`HeadSpec` of the top or None
    when the model is features-only (``include_top=False`` or ``num_classes=0``).
    ``options`` (the builder's ``**options``) is validated and completed in place.
    """
    options.update(_options(options))
    check_input_shape(input_shape, min_size, model, channels)
    if not isinstance(include_top, bool):
        raise TypeError(f"include_top must be True or False, got {include_top!r}.")
    units = resolve_num_classes(num_classes, options["task"], default_classes)
    head = None
    if include_top and units > 0:
        head = head_spec(units, options["task"], options["classifier_activation"], options["label_mode"])
    elif options["weights"] is None and options["compile"] and options["loss"] is None:
        options["compile"] = False  # a feature extractor has no loss to compile with
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    return inputs, head


def features_or_top(x, head: HeadSpec | None, options: dict, top_pooling: str | None = "avg", dropout=None):
    """The standard ending: the classifier (pooling -> dropout -> Dense) or features-only pooling.

    Builders whose top has hidden layers (AlexNet, VGG) add them themselves and call
    :func:`kerascnn.blocks.classifier_head` for the last layer.
    """
    if head is None:
        return pool_features(x, options["pooling"])
    rate = options["dropout"] if options["dropout"] is not None else dropout
    return classifier_head(x, head.units, options["classifier_activation"], head.task,
                           pooling=top_pooling, dropout=rate)


def pool_features(x, pooling):
    """``pooling`` of keras.applications for features-only models: None, "avg" or "max"."""
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def finish(inputs, outputs, head: HeadSpec | None, options: dict, default_name: str,
           loss_weights=None, imagenet_loader=None):
    """Wrap in a Model, load ``options["weights"]``, compile unless ``compile=False``."""
    from kerascnn.weights import load_model_weights  # noqa: PLC0415 - weights imports models lazily

    model = keras.Model(inputs, outputs, name=options["name"] or default_name)
    load_model_weights(model, options["weights"], imagenet_loader)
    if options["compile"]:
        spec = head or HeadSpec(units=1, activation="linear", task="regression")
        compile_model(model, spec, options["optimizer"], options["learning_rate"],
                      options["loss"], options["metrics"], loss_weights)
    return model
