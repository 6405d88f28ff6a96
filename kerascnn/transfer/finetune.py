"""Staged fine-tuning: the head on a frozen backbone, then the backbone too, more slowly.

:func:`fine_tune` runs two ``fit`` calls on one model and returns one history:

1. **head phase** (``head_epochs``): the whole backbone frozen, learning rate ``lr``;
2. **fine-tuning phase** (``epochs``): the ``unfreeze`` plan applied (``"all"``, down to a
   layer, a fraction ...), recompiled with ``fine_tune_lr`` (default ``lr / 10``), epochs
   numbered on from the head phase (``initial_epoch``), so curves and logs are continuous.

Discriminative learning rates (``lr_mult``): the backbone's variables move ``lr_mult`` times as
far as the head's in each step. Neither Keras has per-variable learning rates, so kerascnn
subclasses the optimizer: on Keras 3 its ``update_step`` gets ``learning_rate * lr_mult`` for
the backbone's variables (every backend); on Keras 2 (tf-keras), whose ``update_step`` has no
rate argument, the step itself is scaled (``v_new = v_old + lr_mult * (update)``), which is the
same for every optimizer whose step is proportional to the learning rate (SGD, Adam, RMSprop,
...). Decoupled weight decay (AdamW) is not scaled.
"""

from __future__ import annotations

import math

import numpy as np

from kerascnn.errors import check_int
from kerascnn.heads import compile_model, make_optimizer
from kerascnn.runtime import IS_KERAS3, keras
from kerascnn.transfer.freezing import apply_plan, get_backbone, trainable_report
from kerascnn.transfer.scenarios import scenario as get_scenario


def callbacks(**kwargs) -> list:
    """:func:`kerascnn.callbacks.default_callbacks`: EarlyStopping(val_loss, patience 7, best weights
    restored) and ReduceLROnPlateau(factor 0.5, patience 3, min_lr 1e-5), all overridable, plus
    ``csv_path`` / ``checkpoint_path`` / ``tensorboard_dir`` / ``backup_dir`` on request.

    Examples:
        >>> [type(c).__name__ for c in callbacks()]
        ['EarlyStopping', 'ReduceLROnPlateau']
    """
    from kerascnn.callbacks import default_callbacks  # noqa: PLC0415

    return default_callbacks(**kwargs)


_default_callbacks = callbacks  # fine_tune's argument of the same name shadows it


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
    base = type(optimizer)
    keys = set()
    for variable in variables:
        keys.add(id(variable))
        if IS_KERAS3 and hasattr(variable, "value"):
            try:
                keys.add(id(variable.value))  # TensorFlow backend: update_step sees the tf.Variable
            except (AttributeError, ValueError):
                pass
        elif not IS_KERAS3:
            keys.add(getattr(variable, "_unique_id", id(variable)))

    if IS_KERAS3:
        def update_step(self, gradient, variable, learning_rate):
            if id(variable) in self._scaled_keys:
                learning_rate = learning_rate * self.lr_mult
            return base.update_step(self, gradient, variable, learning_rate)
    else:
        def update_step(self, gradient, variable):
            key = getattr(variable, "_unique_id", id(variable))
            if key not in self._scaled_keys or self.lr_mult == 1.0:
                return base.update_step(self, gradient, variable)
            import tensorflow as tf  # noqa: PLC0415

            before = tf.identity(variable)
            base.update_step(self, gradient, variable)
            return variable.assign(before + self.lr_mult * (variable - before))

    cls = type(f"Discriminative{base.__name__}", (base,), {"update_step": update_step})
    config = optimizer.get_config()
    if not IS_KERAS3:
        config["jit_compile"] = False  # the variable test above runs in Python while tracing
    new = cls.from_config(config)
    new._scaled_keys = frozenset(keys)
    new.lr_mult = float(lr_mult)
    return new


class FineTuneHistory:
    """The combined history of both phases, like ``keras.callbacks.History``.

    ``history`` maps each metric to one value per epoch (NaN where a phase did not log it),
    ``epoch`` numbers the epochs continuously, ``phases`` says which epochs each phase ran,
    with its learning rate and trainable report.
    """

    def __init__(self):
        self.history: dict = {}
        self.epoch: list = []
        self.phases: list = []

    def add(self, phase: str, history, lr, report):
        if history is None or not history.epoch:
            return
        before = len(self.epoch)
        for key in history.history:
            self.history.setdefault(key, [math.nan] * before)
        for key in self.history:
            values = [float(np.asarray(v)) for v in history.history.get(key, [math.nan] * len(history.epoch))]
            self.history[key].extend(values)
        self.epoch.extend(int(e) for e in history.epoch)
        self.phases.append({"phase": phase, "first_epoch": int(history.epoch[0]),
                            "last_epoch": int(history.epoch[-1]), "learning_rate": lr, "trainable": report})

    def __repr__(self) -> str:
        return f"FineTuneHistory(epochs={len(self.epoch)}, phases={[p['phase'] for p in self.phases]})"


def _fit(model, train, val, epochs, initial_epoch, callbacks_list, verbose, fit_kwargs):
    arguments = dict(validation_data=val, epochs=epochs, initial_epoch=initial_epoch,
                     callbacks=callbacks_list, verbose=verbose, **fit_kwargs)
    if isinstance(train, tuple) and len(train) == 2:
        return model.fit(train[0], train[1], **arguments)
    arguments.setdefault("shuffle", False)  # a dataset shuffles itself
    return model.fit(train, **arguments)


def fine_tune(model, train, val=None, head_epochs=None, epochs=None, unfreeze=None, lr=None,
              fine_tune_lr=None, lr_mult=None, batchnorm=None, scenario=None, callbacks=None,
              optimizer="adam", loss=None, metrics=None, verbose: int = 1, **fit_kwargs) -> FineTuneHistory:
    """Train the head with the backbone frozen, then unfreeze and continue at a lower rate.

    Arguments:
        model: a model of :func:`kerascnn.transfer.build` (any model with a nested backbone works).
        train, val: what ``model.fit`` takes (a dataset, or an ``(x, y)`` tuple of arrays).
        head_epochs: epochs of the head phase (default 5; 0 skips it).
        epochs: epochs of the fine-tuning phase (default 10; 0 skips it).
        unfreeze: the backbone's plan in that phase: ``"all"`` (default), ``"from:LAYER"`` (down to
            a layer), ``"last:N"``, ``"fraction:F"`` (F frozen), ``"first:N"`` (N frozen) ...
        lr, fine_tune_lr: learning rates of the two phases (default 1e-3 and lr / 10).
        lr_mult: backbone rate / head rate in the fine-tuning phase (default 1, see module doc).
        batchnorm: train BatchNorm layers once unfrozen (default False; needs a model built with
            ``batchnorm=True`` to take effect, the backbone being called with ``training=False``).
        scenario: a name of :mod:`kerascnn.transfer.scenarios` supplying the defaults above.
        callbacks: a list, or None for :func:`callbacks` (early stopping + plateau); the same
            objects serve both phases.
        optimizer, loss, metrics: compile options (loss and metrics default to the head's).
        fit_kwargs: more arguments of ``model.fit`` (``batch_size``, ``class_weight`` ...).

    Returns a :class:`FineTuneHistory` with both phases' epochs, numbered continuously.
    """
    plan = get_scenario(scenario).fine_tune_kwargs() if scenario is not None else {}
    head_epochs = check_int("head_epochs", head_epochs if head_epochs is not None else plan.get("head_epochs", 5), 0)
    epochs = check_int("epochs", epochs if epochs is not None else plan.get("epochs", 10), 0)
    unfreeze = unfreeze if unfreeze is not None else plan.get("unfreeze") or "all"
    lr = lr if lr is not None else plan.get("lr", 1e-3)
    fine_tune_lr = fine_tune_lr if fine_tune_lr is not None else plan.get("fine_tune_lr") or lr / 10
    lr_mult = lr_mult if lr_mult is not None else plan.get("lr_mult", 1.0)
    batchnorm = batchnorm if batchnorm is not None else plan.get("batchnorm", False)
    spec = getattr(model, "head_spec", None)
    if spec is None and loss is None:
        raise ValueError("loss is needed for a model not built by kerascnn.transfer.build.")
    callbacks_list = list(callbacks) if callbacks is not None else _default_callbacks()
    result = FineTuneHistory()
    done = 0
    if head_epochs:
        apply_plan(model, "all", batchnorm=batchnorm)
        _compile(model, spec, optimizer, lr, loss, metrics)
        history = _fit(model, train, val, head_epochs, 0, callbacks_list, verbose, fit_kwargs)
        result.add("head", history, lr, trainable_report(model))
        done = len(history.epoch)
    if epochs:
        apply_plan(model, unfreeze, batchnorm=batchnorm)
        backbone_variables = get_backbone(model).trainable_weights if lr_mult != 1.0 else []
        _compile(model, spec, optimizer, fine_tune_lr, loss, metrics, backbone_variables, lr_mult)
        history = _fit(model, train, val, done + epochs, done, callbacks_list, verbose, fit_kwargs)
        result.add("fine_tune", history, fine_tune_lr, trainable_report(model))
    return result


def _compile(model, spec, optimizer, learning_rate, loss, metrics, scaled=(), lr_mult=1.0):
    instance = make_optimizer(optimizer if isinstance(optimizer, str) else type(optimizer).from_config(
        {**optimizer.get_config(), "learning_rate": learning_rate}), learning_rate if isinstance(optimizer, str) else None)
    if scaled:
        instance = discriminative_optimizer(instance, scaled, lr_mult)
    if spec is not None:
        compile_model(model, spec, instance, None, loss, metrics)
    else:
        model.compile(optimizer=instance, loss=loss, metrics=metrics)
