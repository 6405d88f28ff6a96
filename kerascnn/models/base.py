"""What every builder shares: argument checks, the optional top, pooling, compiling, weights.

A builder does three things: check its ``input_shape`` (:func:`start`), build its trunk
from the blocks, then either add its own classifier top or the features-only pooling
(:func:`features_or_top`) and hand over to :func:`finish`, which wraps the tensors in a
``keras.Model``, loads weights and compiles by the conventions of :mod:`kerascnn.heads`.

Through these three functions every builder follows the contract of ``keras.applications``:
``input_tensor`` (any Keras tensor; the model's inputs are its sources), ``input_shape``
with ``None`` height and width when ``include_top=False`` (and with the top when it pools
globally; a top that flattens says it needs a fixed size), any number of input channels
without pretrained weights, ``pooling`` and ``classifier_activation``. A pretrained tag
(``weights="imagenet"``) is checked against the model's :class:`~kerascnn.registry.Weights`
record before anything is built: its channels, its classes, and with the top its size.

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

from kerascnn import registry
from kerascnn.blocks import classifier_head
from kerascnn.errors import WeightsNotAvailable, check_choice, check_fraction, check_input_shape, closest
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
    "input_tensor": None,
    "compile": True,
    "optimizer": "adam",
    "learning_rate": None,
    "loss": None,
    "metrics": None,
    "name": None,
}


#: Arguments of keras.applications and timm that kerascnn's builders spell differently:
#: ``{their name: (kerascnn's, whose name it is)}``.
OTHER_NAMES = {
    "classes": ("num_classes", "keras.applications'"),
    "pretrained": ("weights='imagenet'", "timm's"),
    "in_chans": ("input_shape=(height, width, channels)", "timm's"),
    "drop_rate": ("dropout", "timm's"),
    "global_pool": ("pooling", "timm's"),
}
#: The arguments every builder has before ``**options``.
SHARED_ARGUMENTS = ("input_shape", "num_classes", "include_top")


def _unknown_argument(name: str) -> str:
    """``name`` with what was probably meant: another library's spelling, or a near miss."""
    if name in OTHER_NAMES:
        ours, whose = OTHER_NAMES[name]
        return f"{name} ({whose} name; here {ours})"
    near = closest(name, [*SHARED_ARGUMENTS, *COMMON_OPTIONS])
    return f"{name} (did you mean {' or '.join(near)}?)" if near else name


def _options(options: dict) -> dict:
    unknown = sorted(set(options) - set(COMMON_OPTIONS))
    if unknown:
        raise TypeError(
            f"unexpected keyword argument(s) {', '.join(_unknown_argument(name) for name in unknown)}; every "
            f"builder accepts {', '.join(SHARED_ARGUMENTS)} and {', '.join(sorted(COMMON_OPTIONS))}."
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
    fixed_size: bool = False,
    weights_options: dict | None = None,
):
    """Validate the arguments of a builder and create its input.

    Returns ``(inputs, head)``, where ``head`` is the :class:`HeadSpec` of the top or None
    when the model is features-only (``include_top=False`` or ``num_classes=0``), and
    ``inputs`` is a new ``keras.Input`` or the caller's ``input_tensor``. ``options`` (the
    builder's ``**options``) is validated and completed in place. ``fixed_size=True`` says
    the top flattens the feature map, so with the top height and width cannot be None.
    ``model`` names the model in messages; when it is a registered name, a pretrained tag in
    ``options["weights"]`` is checked against its :class:`~kerascnn.registry.Weights` record,
    with ``weights_options`` the builder's arguments the record's application also takes
    (MobileNet's ``alpha``; give :func:`finish` the same).
    """
    options.update(_options(options))
    if not isinstance(include_top, bool):
        raise TypeError(f"include_top must be True or False, got {include_top!r}.")
    tensor = options["input_tensor"]
    if tensor is not None:
        if not _is_keras_tensor(tensor):
            raise TypeError(f"input_tensor must be a Keras tensor (keras.Input(...) or a layer's output), "
                            f"got {type(tensor).__name__}.")
        input_shape = tuple(tensor.shape[1:])  # the tensor decides, as in keras.applications
    card = registry.card_or_none(model)
    if input_shape is None:
        if card is None:
            raise ValueError(f"input_shape=None: give input_shape=(height, width, channels) or input_tensor "
                             f"for {model}.")
        input_shape = card.input_shape
    units = resolve_num_classes(num_classes, options["task"], default_classes)
    with_top = include_top and units > 0
    if fixed_size and with_top and isinstance(input_shape, (tuple, list)) and None in tuple(input_shape)[:2]:
        raise ValueError(
            f"input_shape={tuple(input_shape)!r}: the top of {model} flattens the feature map, so its height "
            "and width must be fixed (the first dense layer's size depends on them); give them, or use "
            "include_top=False for a fully convolutional model that accepts any size.")
    check_input_shape(input_shape, min_size, model, channels, allow_none=True)
    if isinstance(options["weights"], str) and card is not None and is_pretrained_tag(options["weights"]):
        _check_pretrained(card, options, input_shape, units if with_top else None, fixed_size,
                          weights_options or {})
    head = None
    if with_top:
        head = head_spec(units, options["task"], options["classifier_activation"], options["label_mode"])
    elif options["weights"] is None and options["compile"] and options["loss"] is None:
        options["compile"] = False  # a feature extractor has no loss to compile with
    inputs = tensor if tensor is not None else keras.Input(shape=tuple(input_shape), name="input")
    return inputs, head


def _is_keras_tensor(value) -> bool:
    try:
        return bool(keras.backend.is_keras_tensor(value))
    except ValueError:  # tf-keras raises for anything that is not a tensor at all
        return False


def is_pretrained_tag(weights) -> bool:
    """True for a pretrained set's name (``"imagenet"``), False for a file path."""
    from kerascnn.weights import is_tag  # noqa: PLC0415 - weights imports the registry lazily

    return is_tag(weights)


def _check_pretrained(card, options, input_shape, units, fixed_size, weights_options):
    """Refuse, before building, a configuration the pretrained set cannot fill."""
    record = card.weights_record(options["weights"])  # WeightsNotAvailable when there is none
    problems = []
    if input_shape[-1] != record.input_shape[-1]:
        problems.append(f"{input_shape[-1]} input channels (the weights need {record.input_shape[-1]} channels)")
    if units is not None:
        if units != record.num_classes:
            problems.append(f"num_classes={units} with include_top=True (the top has {record.num_classes} "
                            f"classes; use include_top=False and add your own head)")
        if fixed_size and tuple(input_shape[:2]) != tuple(record.input_shape[:2]):
            problems.append(f"input_shape={tuple(input_shape)} with include_top=True (the top flattens "
                            f"a map of size {tuple(record.input_shape)}; use include_top=False for features at "
                            "other sizes)")
    if problems:
        raise WeightsNotAvailable(f"weights={options['weights']!r} does not fit {card.name} with "
                                  + "; ".join(problems) + ".")
    record.application_kwargs(card.name, input_shape, units is not None, **weights_options)


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
           loss_weights=None, weights_options: dict | None = None):
    """Wrap in a Model, load ``options["weights"]``, compile unless ``compile=False``.

    A pretrained tag is loaded from the :class:`~kerascnn.registry.Weights` record of
    ``default_name`` (the registered name). With an ``input_tensor``, the
    model's inputs are the tensor's source inputs (``keras.utils.get_source_inputs``).
    ``weights_options``: as :func:`start`.
    """
    from kerascnn.weights import load_model_weights  # noqa: PLC0415 - weights imports models lazily

    if options["input_tensor"] is not None:
        sources = keras.utils.get_source_inputs(inputs)
        inputs = sources[0] if len(sources) == 1 else sources
    model = keras.Model(inputs, outputs, name=options["name"] or default_name)
    load_model_weights(model, options["weights"], registered=default_name, options=weights_options)
    if options["compile"]:
        spec = head or HeadSpec(units=1, activation="linear", task="regression")
        compile_model(model, spec, options["optimizer"], options["learning_rate"],
                      options["loss"], options["metrics"], loss_weights)
    return model
