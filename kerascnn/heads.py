"""Output conventions: from a task and a class count to the last activation, loss and metrics.

============================  ===========  ==============================  ========
situation                     activation   loss                            metric
============================  ===========  ==============================  ========
regression (``task``)         linear       mean squared error              mae
binary (``num_classes=1``)    sigmoid      binary cross-entropy            accuracy
multi-class, integer labels   softmax      sparse categorical x-entropy    accuracy
multi-class, one-hot labels   softmax      categorical cross-entropy       accuracy
============================  ===========  ==============================  ========

``classifier_activation=None`` keeps logits; the loss is then built with
``from_logits=True`` (and binary accuracy thresholds at 0), so training stays correct.

Examples:
    >>> from kerascnn.heads import head_spec
    >>> head_spec(1).activation, head_spec(10).activation, head_spec(1, task="regression").activation
    ('sigmoid', 'softmax', 'linear')
"""

from __future__ import annotations

from dataclasses import dataclass

from kerascnn.errors import check_choice, check_int
from kerascnn.runtime import IS_KERAS3, keras

TASKS = ("classification", "regression")
LABEL_MODES = ("int", "categorical")
POOLINGS = (None, "avg", "max")


@dataclass(frozen=True)
class HeadSpec:
    """What the last layer of a model looks like and how it is trained."""

    units: int
    activation: str
    task: str = "classification"
    label_mode: str = "int"

    @property
    def from_logits(self) -> bool:
        return self.task == "classification" and self.activation == "linear"

    def loss(self):
        """A fresh Keras loss object for this head."""
        losses = keras.losses
        if self.task == "regression":
            return losses.MeanSquaredError()
        if self.units == 1:
            return losses.BinaryCrossentropy(from_logits=self.from_logits)
        if self.label_mode == "categorical":
            return losses.CategoricalCrossentropy(from_logits=self.from_logits)
        return losses.SparseCategoricalCrossentropy(from_logits=self.from_logits)

    def metrics(self) -> list:
        """Fresh metric objects for this head (one set per output of a model)."""
        metrics = keras.metrics
        if self.task == "regression":
            return [metrics.MeanAbsoluteError(name="mae")]
        if self.units == 1:
            return [metrics.BinaryAccuracy(name="accuracy", threshold=0.0 if self.from_logits else 0.5)]
        if self.label_mode == "categorical":
            return [metrics.CategoricalAccuracy(name="accuracy")]
        return [metrics.SparseCategoricalAccuracy(name="accuracy")]


def resolve_num_classes(num_classes, task: str, default: int) -> int:
    """``num_classes=None`` means the family's default for classification, 1 for regression."""
    check_choice("task", task, TASKS)
    if num_classes is None:
        return 1 if task == "regression" else default
    return check_int("num_classes", num_classes, minimum=0)


def head_spec(
    num_classes: int,
    task: str = "classification",
    classifier_activation="auto",
    label_mode: str = "int",
) -> HeadSpec:
    """Decide the last layer's units and activation, validating every argument.

    Examples:
        >>> head_spec(10, classifier_activation=None).from_logits
        True
    """
    check_choice("task", task, TASKS)
    check_choice("label_mode", label_mode, LABEL_MODES)
    units = check_int("num_classes", num_classes, minimum=1)
    if classifier_activation == "auto":
        if task == "regression":
            activation = "linear"
        else:
            activation = "sigmoid" if units == 1 else "softmax"
    elif classifier_activation is None:
        activation = "linear"
    elif isinstance(classifier_activation, str):
        try:
            keras.activations.get(classifier_activation)
        except (ValueError, KeyError, TypeError):
            raise ValueError(
                f"classifier_activation={classifier_activation!r} is not a Keras activation; use "
                "'auto', None (logits), 'softmax', 'sigmoid', 'linear' or another activation name."
            ) from None
        activation = classifier_activation
    else:
        raise TypeError(
            f"classifier_activation must be a string or None, got {classifier_activation!r}."
        )
    if task == "classification" and label_mode == "categorical" and units == 1:
        raise ValueError(
            "label_mode='categorical' needs num_classes >= 2; a binary head (num_classes=1) "
            "takes 0/1 labels with label_mode='int'."
        )
    return HeadSpec(units=units, activation=activation, task=task, label_mode=label_mode)


def make_optimizer(optimizer="adam", learning_rate=None):
    """A Keras optimizer from a name (``"adam"``, ``"sgd"``, ...) or an optimizer instance.

    Examples:
        >>> make_optimizer("sgd", 0.1).__class__.__name__
        'SGD'
        >>> type(make_optimizer("adam", 1e-3)) is type(keras.optimizers.Adam())  # not a legacy one in Keras 2
        True
    """
    if not isinstance(optimizer, str):
        if learning_rate is not None:
            raise ValueError(
                "learning_rate can only be combined with an optimizer given by name; "
                f"set the learning rate on the {type(optimizer).__name__} instance instead."
            )
        return optimizer
    config = {"class_name": optimizer, "config": {}}
    if not IS_KERAS3:
        # tf-keras turns a config without this key into a legacy (Keras 2.10) optimizer, unlike
        # get("adam") and keras.optimizers.Adam(); a legacy one has no update_step to scale
        # (transfer.discriminative_optimizer) and would differ from a run with a schedule
        config["config"]["is_legacy_optimizer"] = False
    if learning_rate is not None:
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or learning_rate <= 0:
            raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}.")
        config["config"]["learning_rate"] = float(learning_rate)
    try:
        return keras.optimizers.get(config)
    except (ValueError, TypeError):
        raise ValueError(
            f"optimizer={optimizer!r} is not a Keras optimizer; use e.g. 'adam', 'adamw', 'sgd', "
            "'rmsprop', 'nadam' or an optimizer instance."
        ) from None


def compile_model(
    model,
    spec: HeadSpec,
    optimizer="adam",
    learning_rate=None,
    loss=None,
    metrics=None,
    loss_weights=None,
):
    """Compile ``model`` by the conventions of ``spec``; each output gets its own loss and metrics.

    ``loss_weights`` (one per output) is how GoogLeNet weighs its auxiliary heads (0.3).
    Returns the model.
    """
    outputs = len(model.outputs)
    if outputs == 1:
        compiled_loss = loss if loss is not None else spec.loss()
        compiled_metrics = metrics if metrics is not None else spec.metrics()
    else:
        compiled_loss = [loss if loss is not None else spec.loss() for _ in range(outputs)]
        compiled_metrics = [list(metrics) if metrics is not None else spec.metrics() for _ in range(outputs)]
    model.compile(
        optimizer=make_optimizer(optimizer, learning_rate),
        loss=compiled_loss,
        metrics=compiled_metrics,
        loss_weights=loss_weights,
    )
    return model
