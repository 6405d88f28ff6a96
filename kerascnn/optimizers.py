"""Discriminative learning rates: an optimizer whose steps on some variables are scaled.

The backbone's variables move ``lr_mult`` times as far as the head's in each step. Neither
Keras has per-variable learning rates, so each Keras optimizer class gets a subclass here
(``DiscriminativeAdam``, ...): on Keras 3 its ``update_step`` gets ``learning_rate * lr_mult``
for the chosen variables (every backend); on Keras 2 (tf-keras), whose ``update_step`` has no
rate argument, the step itself is scaled (``v_new = v_old + lr_mult * (update)``), which is the
same for every optimizer whose step is proportional to the learning rate (SGD, Adam, RMSprop,
...). Decoupled weight decay (AdamW) is not scaled.

The subclasses are registered with Keras' serialization when this module is imported
(:func:`kerascnn.saving.load_model` imports it), so a model saved while fine-tuning with
``lr_mult`` loads like any other. A loaded one scales nothing: which variables were the
backbone's is not saved; :func:`discriminative_optimizer` makes a scaling one again.

Examples:
    >>> from kerascnn.runtime import keras
    >>> type(discriminative_optimizer(keras.optimizers.Adam(), [], 0.5)).__name__
    'DiscriminativeAdam'
"""

from __future__ import annotations

import inspect

from kerascnn._keras_internals import variable_key
from kerascnn.runtime import IS_KERAS3, keras

PACKAGE = "kerascnn"


def _keys(variables) -> frozenset:
    """What ``update_step`` can recognise a variable by: its id, in Keras 3 also the backend variable's."""
    keys = set()
    for variable in variables:
        keys.add(id(variable))
        if IS_KERAS3 and hasattr(variable, "value"):
            try:
                keys.add(id(variable.value))  # TensorFlow backend: update_step sees the tf.Variable
            except (AttributeError, ValueError):
                pass
        elif not IS_KERAS3:
            keys.add(variable_key(variable))
    return frozenset(keys)


def _discriminative_class(base):
    """The registered subclass of optimizer class ``base`` that scales the steps of its ``_scaled_keys``."""
    if IS_KERAS3:
        def update_step(self, gradient, variable, learning_rate):
            if id(variable) in self._scaled_keys:
                learning_rate = learning_rate * self.lr_mult
            return base.update_step(self, gradient, variable, learning_rate)
    else:
        def update_step(self, gradient, variable):
            key = variable_key(variable)
            if key not in self._scaled_keys or self.lr_mult == 1.0:
                return base.update_step(self, gradient, variable)
            import tensorflow as tf  # noqa: PLC0415

            before = tf.identity(variable)
            base.update_step(self, gradient, variable)
            return variable.assign(before + self.lr_mult * (variable - before))

    name = f"Discriminative{base.__name__}"
    # class attributes: an instance restored from a saved model scales nothing
    cls = type(name, (base,), {"update_step": update_step, "lr_mult": 1.0, "_scaled_keys": frozenset(),
                               "__module__": __name__})
    cls = keras.saving.register_keras_serializable(package=PACKAGE, name=name)(cls)
    keras.saving.get_custom_objects().setdefault(name, cls)  # as files written before 2026-12-03 name it
    return cls


def _optimizer_classes() -> list:
    """Every optimizer class ``keras.optimizers`` exports (not the base class, not the loss-scaling wrapper)."""
    return [value for value in vars(keras.optimizers).values()
            if inspect.isclass(value) and issubclass(value, keras.optimizers.Optimizer)
            and value is not keras.optimizers.Optimizer and value.__name__ != "LossScaleOptimizer"]


#: optimizer class -> its discriminative subclass, for every Keras optimizer (more made on demand)
DISCRIMINATIVE = {base: _discriminative_class(base) for base in _optimizer_classes()}


def discriminative_optimizer(optimizer, variables, lr_mult: float):
    """A copy of ``optimizer`` whose steps on ``variables`` are scaled by ``lr_mult``.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> opt = discriminative_optimizer(keras.optimizers.SGD(0.1), [], 0.5)
        >>> type(opt).__name__, opt.lr_mult
        ('DiscriminativeSGD', 0.5)
    """
    if isinstance(lr_mult, bool) or not isinstance(lr_mult, (int, float)) or not lr_mult > 0:
        raise ValueError(f"lr_mult must be a positive number, got {lr_mult!r}.")
    base = next((plain for plain, scaled in DISCRIMINATIVE.items() if scaled is type(optimizer)), type(optimizer))
    if base not in DISCRIMINATIVE:
        DISCRIMINATIVE[base] = _discriminative_class(base)
    config = optimizer.get_config()
    if not IS_KERAS3:
        config["jit_compile"] = False  # update_step's test of the variable is Python, run while tracing
    new = DISCRIMINATIVE[base].from_config(config)
    new._scaled_keys = _keys(variables)
    new.lr_mult = float(lr_mult)
    return new
