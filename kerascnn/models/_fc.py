"""The fully connected top shared by AlexNet, ZFNet, VGG and the tutorial CNNs.

``Flatten -> [Dense(units, relu) -> Dropout(rate)] for each hidden layer -> classifier``,
or, for a features-only model, keras.applications' ``pooling``. The flatten size follows
the input: at another input size than the default, the first hidden layer has another
number of weights (keras.applications' VGG behaves the same with ``weights=None``).

Examples:
    >>> from kerascnn.runtime import keras
    >>> from kerascnn.heads import head_spec
    >>> from kerascnn.models._fc import dense_top
    >>> x = keras.Input((3, 3, 64))
    >>> options = {"pooling": None, "dropout": None, "classifier_activation": "auto"}
    >>> y = dense_top(x, head_spec(10), options, fc_units=(64,), dropout=0.2)
    >>> [l.name for l in keras.Model(x, y).layers[1:]], keras.Model(x, y).count_params()
    (['flatten', 'fc1', 'fc1_dropout', 'predictions'], 37578)
"""

from __future__ import annotations

import numbers

from kerascnn.blocks import classifier_head
from kerascnn.models import base
from kerascnn.runtime import keras

layers = keras.layers


def check_units(fc_units) -> tuple:
    """``fc_units`` as a tuple of positive ints (the hidden Dense layers; may be empty)."""
    if not isinstance(fc_units, (tuple, list)) or not all(
        isinstance(u, numbers.Integral) and not isinstance(u, bool) and u >= 1 for u in fc_units
    ):
        raise ValueError(
            f"fc_units must be a tuple of positive integers (the widths of the hidden fully "
            f"connected layers, e.g. (4096, 4096); () for none), got {fc_units!r}."
        )
    return tuple(int(u) for u in fc_units)


def dense_top(x, head, options: dict, fc_units, dropout: float, first_index: int = 1):
    """Flatten, the hidden Dense layers ``fc{first_index}``, ... with dropout, then the classifier.

    ``options["dropout"]`` (the builder argument), when given, replaces the family's
    ``dropout`` rate; 0 removes the dropout layers. Without a head (``include_top=False``
    or ``num_classes=0``) the feature map is returned, pooled as ``options["pooling"]``.
    """
    if head is None:
        return base.pool_features(x, options["pooling"])
    rate = options["dropout"] if options["dropout"] is not None else dropout
    x = layers.Flatten(name="flatten")(x)
    for index, units in enumerate(check_units(fc_units), start=first_index):
        x = layers.Dense(units, activation="relu", name=f"fc{index}")(x)
        if rate:
            x = layers.Dropout(rate, name=f"fc{index}_dropout")(x)
    return classifier_head(x, head.units, options["classifier_activation"], head.task)
