"""Staged fine-tuning: the head on a frozen backbone, then the backbone too, more slowly.

:func:`fine_tune` runs two ``fit`` calls on one model and returns one history:

1. **head phase** (``head_epochs``): the whole backbone frozen, learning rate ``lr``;
2. **fine-tuning phase** (``epochs``): the ``freeze`` plan applied (the backbone's layers kept
   frozen: ``"none"`` by default, so the whole backbone trains; ``"first:80"``, ``"last:20"``
   to train the top 20 ...), recompiled with ``fine_tune_lr`` (default ``lr / 10``), epochs
   numbered on from the head phase (``initial_epoch``), so curves and logs are continuous.

Discriminative learning rates (``lr_mult``): the backbone's variables move ``lr_mult`` times as
far as the head's in each step (:mod:`kerascnn.optimizers`).
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np

from kerascnn.data import load_data
from kerascnn.errors import check_fraction, check_int
from kerascnn.heads import compile_model, make_optimizer
from kerascnn._keras_internals import build_training_state
from kerascnn.optimizers import discriminative_optimizer
from kerascnn.runtime import keras
from kerascnn.train import Job, Phase, data_name, run
from kerascnn.transfer.backbones import backbone_info
from kerascnn.transfer.freezing import apply_plan, get_backbone, parse_plan, trainable_report
from kerascnn.transfer.model import build as build_model
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
        build_training_state(model, train[0], train[1])  # one trace of the training step, not two
        return model.fit(train[0], train[1], **arguments)
    spec = getattr(train, "element_spec", None)
    if isinstance(spec, tuple) and len(spec) == 2:  # a tf.data.Dataset of (images, labels)
        build_training_state(model, *spec)
    arguments.setdefault("shuffle", False)  # a dataset shuffles itself
    return model.fit(train, **arguments)


def phases(model, head_epochs=None, epochs=None, freeze=None, lr=None, fine_tune_lr=None, lr_mult=None,
           batchnorm=None, scenario=None, optimizer="adam", loss=None, metrics=None) -> list:
    """The two phases of :func:`fine_tune` (arguments as there), as :class:`kerascnn.train.Phase`.

    Each phase's ``prepare`` sets what is trainable and compiles with the phase's learning rate;
    phases of 0 epochs are left out.

    Examples:
        >>> from kerascnn import transfer
        >>> model = transfer.build("lenet5", num_classes=3, input_shape=(32, 32, 1), weights=None)
        >>> [(p.name, p.epochs, p.learning_rate) for p in phases(model, head_epochs=2, epochs=3, lr=1e-3)]
        [('head', 2, 0.001), ('fine_tune', 3, 0.0001)]
        >>> phases(model)[1].prepare(model)      # freeze="none": the whole backbone trains
        >>> model.count_params() == transfer.trainable_report(model).trainable_params
        True
    """
    plan = get_scenario(scenario).fine_tune_kwargs() if scenario is not None else {}
    head_epochs = check_int("head_epochs", head_epochs if head_epochs is not None else plan.get("head_epochs", 5), 0)
    epochs = check_int("epochs", epochs if epochs is not None else plan.get("epochs", 10), 0)
    freeze = freeze if freeze is not None else plan.get("freeze", "none")
    lr = lr if lr is not None else plan.get("lr", 1e-3)
    fine_tune_lr = fine_tune_lr if fine_tune_lr is not None else plan.get("fine_tune_lr") or lr / 10
    lr_mult = lr_mult if lr_mult is not None else plan.get("lr_mult", 1.0)
    batchnorm = batchnorm if batchnorm is not None else plan.get("batchnorm", False)
    parse_plan(freeze)  # a bad plan fails here, before any training
    spec = getattr(model, "head_spec", None)
    if spec is None and loss is None:
        raise ValueError("loss is needed for a model not built by kerascnn.transfer.build.")

    def head(net):
        apply_plan(net, "all", batchnorm=batchnorm)
        _compile(net, spec, optimizer, lr, loss, metrics)

    def tune(net):
        apply_plan(net, freeze, batchnorm=batchnorm)
        backbone_variables = get_backbone(net).trainable_weights if lr_mult != 1.0 else []
        _compile(net, spec, optimizer, fine_tune_lr, loss, metrics, backbone_variables, lr_mult)

    def report(net):
        return {"trainable": vars(trainable_report(net))}

    return [phase for phase in (Phase("head", head_epochs, lr, head, report),
                                Phase("fine_tune", epochs, fine_tune_lr, tune, report)) if phase.epochs]


def fine_tune(model, train, val=None, head_epochs=None, epochs=None, freeze=None, lr=None,
              fine_tune_lr=None, lr_mult=None, batchnorm=None, scenario=None, callbacks=None,
              optimizer="adam", loss=None, metrics=None, verbose: int = 1, unfreeze=None,
              **fit_kwargs) -> FineTuneHistory:
    """Train the head with the backbone frozen, then unfreeze and continue at a lower rate.

    Arguments:
        model: a model of :func:`kerascnn.transfer.build` (any model with a nested backbone works).
        train, val: what ``model.fit`` takes (a dataset, or an ``(x, y)`` tuple of arrays).
        head_epochs: epochs of the head phase (default 5; 0 skips it).
        epochs: epochs of the fine-tuning phase (default 10; 0 skips it).
        freeze: the backbone's layers kept frozen in that phase, a plan as ``kerascnn finetune
            --freeze`` takes it: ``"none"`` (default: the whole backbone trains), ``"first:N"``
            (N frozen), ``"until:LAYER"``, ``"fraction:F"`` (F frozen), ``"last:N"`` (the last N
            train), ``"from:LAYER"`` (LAYER and above train), ``"all"`` (only the head trains on).
        unfreeze: the former name of ``freeze`` (deprecated); ``unfreeze="all"`` is ``freeze="none"``.
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
    :func:`fine_tune_run` does the same into a run directory that survives a kill.
    """
    freeze = _renamed_unfreeze(freeze, unfreeze)
    callbacks_list = list(callbacks) if callbacks is not None else _default_callbacks()
    result = FineTuneHistory()
    done = 0
    for phase in phases(model, head_epochs, epochs, freeze, lr, fine_tune_lr, lr_mult, batchnorm, scenario,
                        optimizer, loss, metrics):
        phase.prepare(model)
        history = _fit(model, train, val, done + phase.epochs, done, callbacks_list, verbose, fit_kwargs)
        result.add(phase.name, history, phase.learning_rate, trainable_report(model))
        done += len(history.epoch)
    return result


def _renamed_unfreeze(freeze, unfreeze):
    """``fine_tune(unfreeze=...)``, the parameter's first name, read as ``freeze``. It took the same
    plans, but its ``"all"`` froze the whole backbone, the opposite of what the name says; as the
    old docs used it, ``unfreeze="all"`` now means what it says (``freeze="none"``)."""
    if unfreeze is None:
        return freeze
    if freeze is not None:
        raise TypeError("give freeze= or its former name unfreeze=, not both.")
    plan = "none" if unfreeze == "all" else unfreeze
    warnings.warn(f"fine_tune(unfreeze=...) is renamed freeze= (the layers kept frozen); use freeze={plan!r}.",
                  DeprecationWarning, stacklevel=3)
    return plan


#: ``fine_tune_run``'s options and defaults (``kerascnn finetune``'s flags); None = the scenario's or fine_tune's.
RUN_DEFAULTS = {"image_size": None, "weights": "imagenet", "freeze": None, "scenario": None, "head_epochs": None,
                "epochs": None, "lr": None, "fine_tune_lr": None, "lr_mult": None, "batch_size": 16,
                "dropout": 0.3, "validation_split": 0.2, "patience": 7, "limit": None, "seed": 0}


def fine_tune_run(backbone, data, *, out=None, resume=False, overwrite=False, verbose=1, log=print,
                  mixed_precision=None, deterministic=False, **options):
    """:func:`fine_tune` a new head on ``backbone`` with ``data``, into a run directory (``kerascnn finetune``).

    The training core of :func:`kerascnn.train.train` runs it: ``out`` receives ``config.json``,
    ``history.csv``, ``curves.png``, ``confusion_matrix.png``, ``metrics.json`` (with each
    phase's epochs, learning rate and trainable report) and the best ``model.keras``. The same
    call again resumes a killed run in the phase, epoch and learning rate where it stopped,
    or reports a finished one; a different configuration is refused unless ``resume`` (keep
    the stored one) or ``overwrite``. ``options`` and their defaults: :data:`RUN_DEFAULTS`
    (``weights="none"`` for random weights; ``freeze`` as in :func:`fine_tune`).
    ``mixed_precision`` (``"float16"``/``"bfloat16"``) holds for this run only; ``deterministic``
    as in :func:`kerascnn.train.train`.
    Images stay 0-255: the backbone's own preprocessing is inside the model.

    Example (a two-epoch run on generated images):
        >>> import tempfile
        >>> from kerascnn.data import load_data
        >>> folder = tempfile.mkdtemp()
        >>> result = fine_tune_run("lenet5", "digits", out=folder + "/run", weights="none", image_size=32,
        ...                        head_epochs=1, epochs=1, limit=32, verbose=0, log=None)
        >>> [phase["phase"] for phase in result.metrics["phases"]]
        ['head', 'fine_tune']
    """
    unknown = sorted(set(options) - set(RUN_DEFAULTS))
    if unknown:
        raise TypeError(f"fine_tune_run() got unknown options {', '.join(unknown)}; accepted: "
                        f"{', '.join(RUN_DEFAULTS)}.")
    recipe = _run_recipe(backbone, data, {key: value if options.get(key) is None else options[key]
                                          for key, value in RUN_DEFAULTS.items()})
    base = os.path.basename(os.path.normpath(os.fspath(data)))
    out = out or os.path.join("runs", f"finetune-{recipe['backbone']}-{base}")
    from kerascnn.distribute import dtype_policy_kept, set_mixed_precision  # noqa: PLC0415

    with dtype_policy_kept():
        set_mixed_precision(mixed_precision)
        return run(FineTuneJob(), recipe, out, resume=resume, overwrite=overwrite, verbose=verbose, log=log,
                   deterministic=deterministic)


def _run_recipe(backbone, data, options) -> dict:
    info = backbone_info(backbone)
    size = options["image_size"] or info.input_shape[0]
    check_int("image_size", size)
    check_int("batch_size", options["batch_size"])
    check_int("seed", options["seed"], minimum=0)
    check_int("limit", options["limit"], allow_none=True)
    check_int("patience", options["patience"], minimum=1, allow_none=True)
    check_fraction("validation_split", options["validation_split"], 0.0, 0.9, inclusive_high=True)
    if options["freeze"] is not None:
        parse_plan(options["freeze"])
    if options["scenario"] is not None:
        get_scenario(options["scenario"])
    return {"backbone": info.name, "provider": info.provider, **options, "image_size": size,
            "input_shape": [size, size, 3], "data": data_name(data)}


class FineTuneJob(Job):
    """``kerascnn finetune`` for the training core: a backbone, a new head, two phases."""

    command = "finetune"

    def load(self, recipe):
        data = load_data(recipe["data"], tuple(recipe["input_shape"]), validation_split=recipe["validation_split"],
                         seed=recipe["seed"], limit=recipe["limit"])
        data.scale = 1.0  # Data.scale divides: raw 0-255 pixels (keeps_raw_pixels), the backbone preprocesses
        return data

    def build(self, recipe, dataset, steps_per_epoch):
        weights = None if str(recipe["weights"]).lower() == "none" else recipe["weights"]
        classes = dataset.num_classes
        return build_model(recipe["backbone"], num_classes=1 if classes == 2 else classes,
                     input_shape=tuple(recipe["input_shape"]), weights=weights, dropout=recipe["dropout"])

    def phases(self, recipe, net):
        return phases(net, recipe["head_epochs"], recipe["epochs"], recipe["freeze"], recipe["lr"],
                      recipe["fine_tune_lr"], recipe["lr_mult"], scenario=recipe["scenario"])

    def callback_options(self, recipe):
        return {"patience": recipe["patience"]}

    def title(self, recipe):
        return f"{recipe['backbone']} ({recipe['provider']}) on {os.path.basename(recipe['data'])}"


def _compile(model, spec, optimizer, learning_rate, loss, metrics, scaled=(), lr_mult=1.0):
    instance = make_optimizer(optimizer if isinstance(optimizer, str) else type(optimizer).from_config(
        {**optimizer.get_config(), "learning_rate": learning_rate}), learning_rate if isinstance(optimizer, str) else None)
    if scaled:
        instance = discriminative_optimizer(instance, scaled, lr_mult)
    if spec is not None:
        compile_model(model, spec, instance, None, loss, metrics)
    else:
        model.compile(optimizer=instance, loss=loss, metrics=metrics)
