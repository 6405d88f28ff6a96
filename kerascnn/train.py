"""Train, evaluate and predict with any registered model: the training core of ``kerascnn train`` and ``finetune``.

:func:`train` builds a model, loads a dataset (:mod:`kerascnn.data`) for its input, fits it
with the default callbacks (:mod:`kerascnn.callbacks`) and writes a run directory
(:mod:`kerascnn.runs`): ``config.json``, ``history.csv``, ``curves.png``,
``confusion_matrix.png``, ``misclassified.png`` (two classes: ``roc.png``, ``pr.png``;
:mod:`kerascnn.reports`), ``metrics.json`` and the best ``model.keras``. Running the same
call again resumes an interrupted run from its last completed epoch
(``keras.callbacks.BackupAndRestore``), or reports a finished one.

The core is :func:`run`: a :class:`Job` says how to load the data, build the model and split
the training into :class:`Phase` objects (one for ``train``; head, then fine-tuning for
:func:`kerascnn.transfer.fine_tune_run`); :func:`run` does the run directory, the resume of
each phase, the callbacks and one evaluation step (``_finish``: metrics, plots).

The model file is ``model.keras`` in both runtimes (tf-keras 2.21 writes the same zip
format); load it in the runtime that wrote it (``config.json`` records which).

Example (a two-batch run on 64 digits):
    >>> import tempfile
    >>> from kerascnn.train import train
    >>> result = train("lenet5", "digits", epochs=1, batch_size=32, limit=64,
    ...                out=tempfile.mkdtemp() + "/run", verbose=0, log=None)
    >>> result.state, sorted(result.metrics)[:3]
    ('new', ['best_epoch', 'class_names', 'epochs_run'])
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import logging
import os
import shutil
import time
from typing import Callable

import numpy as np

from kerascnn import runs
from kerascnn._keras_internals import build_training_state, clear_backup_state
from kerascnn.callbacks import best_state_path, default_callbacks, read_best, read_history
from kerascnn.data import SOURCES, image_files, load_data, parse_augmentation, read_images
from kerascnn.errors import check_choice, check_fraction, check_int
from kerascnn.deploy.fused_batchnorm import use_fused_batchnorm
from kerascnn.heads import make_optimizer
from kerascnn.registry import build, model_card
from kerascnn.runtime import IS_KERAS3, NAME, describe, keras
from kerascnn.saving import load_model

SCHEDULES = ("cosine", "plateau", "constant")
#: The recipe used when an argument is left at None. Measured in benchmarks/lenet_digits.py.
DEFAULTS = {
    "epochs": 60,
    "batch_size": 32,
    "learning_rate": 3e-3,
    "optimizer": "adam",
    "schedule": "cosine",
    "warmup_epochs": 2,
    "augment": "mild",
    "validation_split": 0.0,
    "patience": None,
    "label_smoothing": 0.0,
}
STATE = runs.STATE
#: In ``backup/``: the weights a finished phase hands to the next one (two-phase fine-tunes).
PHASE_WEIGHTS = "phase.weights.h5"


@dataclasses.dataclass
class RunResult:
    """What :func:`train` did: the run folder, ``"new"``/``"resume"``/``"complete"``, metrics."""

    path: str
    state: str
    metrics: dict
    seconds: float

    @property
    def test_accuracy(self) -> float:
        return self.metrics["test_accuracy"]


def default_out(model: str, data) -> str:
    """``runs/<model>-<data name>``: the folder a run goes to without ``out``."""
    stem = os.path.splitext(os.path.basename(os.path.normpath(os.fspath(data))))[0] if not isinstance(data, tuple) else "arrays"
    return os.path.join("runs", f"{model}-{stem or 'data'}")


def data_name(data) -> str:
    """What a run's recipe records for ``data``: a dataset name, an absolute path, or ``"arrays"``."""
    if isinstance(data, tuple):
        return "arrays"
    if not isinstance(data, (str, os.PathLike)):
        raise TypeError(f"data must be a dataset name, a path or an (x, y) tuple, got {type(data).__name__}.")
    if os.fspath(data) in SOURCES:
        return os.fspath(data)
    if os.path.isdir(data) or (os.fspath(data).endswith(".npz") and os.path.isfile(data)):
        return os.path.abspath(data)
    raise ValueError(
        f"--data {os.fspath(data)!r} is neither a dataset name nor an existing folder or .npz file; "
        f"use one of {', '.join(SOURCES)}, a folder with one sub-folder per class, or an .npz file.")


def make_recipe(model="lenet5", data="digits", *, epochs=None, batch_size=None, learning_rate=None,
                optimizer=None, schedule=None, warmup_epochs=None, image_size=None, augment=None, seed=0,
                validation_split=None, limit=None, label_mode="int", patience=None, label_smoothing=None) -> dict:
    """Resolve defaults and validate every argument of a run; the result goes to config.json."""
    card = model_card(model)
    given = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
             "optimizer": optimizer, "schedule": schedule, "warmup_epochs": warmup_epochs,
             "augment": augment, "validation_split": validation_split, "patience": patience,
             "label_smoothing": label_smoothing}
    recipe = {key: DEFAULTS[key] if value is None else value for key, value in given.items()}
    check_int("epochs", recipe["epochs"])
    check_int("batch_size", recipe["batch_size"])
    check_int("warmup_epochs", recipe["warmup_epochs"], minimum=0)
    check_int("seed", seed, minimum=0)
    check_int("limit", limit, allow_none=True)
    check_int("patience", recipe["patience"], minimum=1, allow_none=True)
    check_choice("schedule", recipe["schedule"], SCHEDULES)
    check_choice("label_mode", label_mode, ("int", "categorical"))
    check_fraction("validation_split", recipe["validation_split"], 0.0, 0.9, inclusive_high=True)
    recipe["label_smoothing"] = check_fraction("label_smoothing", recipe["label_smoothing"], 0.0, 1.0)
    make_optimizer(recipe["optimizer"], recipe["learning_rate"])  # validates both
    parse_augmentation(recipe["augment"])
    height, width, channels = card.input_shape
    if image_size is not None:
        height, width = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        check_int("image_size", height)
        check_int("image_size", width)
    return {"model": model, "data": data_name(data), **recipe, "learning_rate": float(recipe["learning_rate"]),
            "input_shape": [int(height), int(width), int(channels)], "seed": seed, "limit": limit,
            "label_mode": label_mode}


@dataclasses.dataclass
class Phase:
    """One ``fit`` call of a run: its name, its epochs, and what it does to the model first.

    ``prepare(model)`` freezes, unfreezes and compiles (None: the model is ready as built);
    ``report(model)`` returns facts for the phase's entry in ``metrics.json`` (what is trainable).
    """

    name: str
    epochs: int
    learning_rate: float | None = None
    prepare: Callable | None = None
    report: Callable | None = None


class Job:
    """What one kind of run adds to the core :func:`run`: its data, its model, its phases.

    The core does the rest for every kind (``kerascnn train``, ``kerascnn finetune``): the run
    directory, resume after a kill, callbacks, the fit of each phase, evaluation, plots, metrics.
    """

    command = "train"

    def load(self, recipe):
        """The :class:`kerascnn.data.Data` of the run."""
        raise NotImplementedError

    def build(self, recipe, dataset, steps_per_epoch: int):
        """The model, built (and compiled, unless each phase compiles it)."""
        raise NotImplementedError

    def phases(self, recipe, net) -> list:
        """The :class:`Phase` list; one phase of ``recipe["epochs"]`` by default."""
        return [Phase("train", recipe["epochs"], recipe.get("learning_rate"))]

    def callback_options(self, recipe) -> dict:
        """Options of :func:`kerascnn.callbacks.default_callbacks` (patience, lr_factor)."""
        return {}

    def augment(self, recipe):
        """The training batches' augmentation (see :mod:`kerascnn.data`)."""
        return None

    def title(self, recipe) -> str:
        """What the run trains, for its first log line and its plots."""
        raise NotImplementedError


class TrainJob(Job):
    """``kerascnn train``: a registered model, built from scratch with the run's recipe."""

    def __init__(self, arrays=None):
        self.arrays = arrays  # an (x, y) tuple given to train(), which config.json cannot hold

    def load(self, recipe):
        return load_data(self.arrays if self.arrays is not None else recipe["data"], tuple(recipe["input_shape"]),
                         validation_split=recipe["validation_split"], seed=recipe["seed"],
                         limit=recipe["limit"], label_mode=effective_label_mode(recipe))

    def build(self, recipe, dataset, steps_per_epoch):
        smoothing = recipe.get("label_smoothing", 0.0)
        return build(recipe["model"], input_shape=tuple(recipe["input_shape"]), num_classes=dataset.num_classes,
                     label_mode=effective_label_mode(recipe), optimizer=_optimizer(recipe, steps_per_epoch),
                     loss=keras.losses.CategoricalCrossentropy(label_smoothing=smoothing) if smoothing else None)

    def callback_options(self, recipe):
        return {"patience": recipe["patience"], "lr_factor": 0.5 if recipe["schedule"] == "plateau" else None}

    def augment(self, recipe):
        return recipe["augment"]

    def title(self, recipe):
        return f"{recipe['model']} on {os.path.basename(recipe['data'])}"


def train(model="lenet5", data="digits", *, out=None, resume=False, overwrite=False, tensorboard=False,
          verbose=1, log=print, mixed_precision=None, jit_compile=None, distribute="none", coordinator=None,
          num_processes=None, process_id=None, deterministic=False, **options) -> RunResult:
    """Train ``model`` on ``data`` and write the run directory ``out``; see the module docstring.

    ``options``: ``epochs``, ``batch_size``, ``learning_rate``, ``optimizer``, ``schedule``
    (``"cosine"`` with ``warmup_epochs``, ``"plateau"`` = ReduceLROnPlateau, ``"constant"``),
    ``image_size``, ``augment``, ``seed``, ``validation_split``, ``limit``, ``label_mode``,
    ``patience`` (early stopping; None = off), ``label_smoothing`` (> 0: one-hot labels and
    ``CategoricalCrossentropy(label_smoothing=...)``). Left at None they take :data:`DEFAULTS`.
    ``resume`` continues the run in ``out`` with its stored recipe; ``overwrite`` replaces it.
    ``verbose`` is Keras' (1: progress bars); ``log`` prints the start and end lines (None: silent).
    Scaling (:mod:`kerascnn.distribute`, recorded in ``config.json`` under ``"scaling"``):
    ``mixed_precision`` (``"float16"``/``"bfloat16"``, or ``"auto"``: the rule of
    :func:`kerascnn.deploy.training_precision`), ``jit_compile`` (XLA; None = Keras' default),
    ``distribute`` (``"none"``, ``"mirrored"``, ``"multiworker"`` with ``coordinator``,
    ``num_processes``, ``process_id``). ``batch_size`` is the global batch, split across replicas;
    under multiworker, process 0 writes ``out`` and process N writes ``out.workerN``.
    ``deterministic``: the same seed gives the same run, bit for bit (TensorFlow's op
    determinism, on for the rest of the process: :func:`kerascnn.distribute.make_deterministic`).
    """
    from kerascnn.distribute import dtype_policy_kept, setup  # noqa: PLC0415

    with dtype_policy_kept():  # a mixed_precision policy holds for this run only
        # first: JAX's multi-process start must come before anything touches a JAX device
        auto = mixed_precision == "auto"
        plan = setup(distribute, coordinator=coordinator, num_processes=num_processes, process_id=process_id,
                     mixed_precision=None if auto else mixed_precision, jit_compile=jit_compile)
        if auto:  # after setup: the rule may build the model to count its MACs, which starts TensorFlow,
            # and a multi-worker strategy must be configured before that (TF: "at program startup")
            plan.mixed_precision = _auto_precision(model, options.get("image_size"), log if plan.is_chief else None)
        recipe = make_recipe(model, data, **options)
        return run(TrainJob(data if isinstance(data, tuple) else None), recipe, out or default_out(model, data),
                   resume=resume, overwrite=overwrite, tensorboard=tensorboard, verbose=verbose, log=log,
                   plan=plan, jit_compile=jit_compile, deterministic=deterministic)


def _auto_precision(model, image_size, log) -> str | None:
    """``mixed_precision="auto"``: :func:`kerascnn.deploy.training_precision`'s choice, set globally."""
    from kerascnn import registry  # noqa: PLC0415
    from kerascnn.deploy import training_precision  # noqa: PLC0415
    from kerascnn.distribute import set_mixed_precision  # noqa: PLC0415

    if not isinstance(model, str) or model not in registry.list_models():
        return None  # a model object, or an unknown name (reported by the recipe check)
    choice = training_precision(model, image_size)
    if log:
        log(f"--mixed-precision auto: {choice.precision} ({choice.reason})")
    precision = None if choice.precision == "float32" else choice.precision
    set_mixed_precision(precision)
    return precision


def run(job: Job, recipe: dict, out, *, resume=False, overwrite=False, tensorboard=False, verbose=1, log=print,
        plan=None, jit_compile=None, deterministic=False) -> RunResult:
    """The training core: run ``job`` with ``recipe`` into the run directory ``out``.

    A new directory starts the run; an unfinished run of the same recipe resumes (each phase
    from its ``BackupAndRestore`` backup, so no epoch is lost or repeated); a finished one is
    reported; a different recipe is refused unless ``resume`` (continue with the stored
    recipe) or ``overwrite``. ``plan`` is :func:`kerascnn.distribute.setup`'s (default: one process).
    ``deterministic`` turns on :func:`kerascnn.distribute.make_deterministic` before the seed is set.
    """
    from kerascnn.distribute import Plan, make_deterministic, worker_out  # noqa: PLC0415

    started = time.time()
    plan = plan or Plan()
    log = log if log is not None and plan.is_chief else (lambda *_: None)  # one process reports
    if resume and overwrite:
        raise ValueError("--resume and --overwrite contradict each other; give one of them.")
    directory = runs.RunDirectory(worker_out(os.fspath(out), plan))
    state = directory.check(recipe, resume=resume, overwrite=overwrite)
    if state != "new":
        recipe = directory.config()["recipe"]
    if state == "complete":
        metrics = directory.read_json(runs.METRICS)
        log(f"{directory.path} already holds a finished run (test accuracy {metrics['test_accuracy']:.2%}); "
            "use --overwrite to train again or --out for a new run.")
        return RunResult(directory.path, state, metrics, time.time() - started)

    if deterministic:
        make_deterministic()
        plan.deterministic = True
    keras.utils.set_random_seed(recipe["seed"])
    dataset = job.load(recipe)
    if recipe["batch_size"] > dataset.train.count:
        raise ValueError(f"batch_size={recipe['batch_size']} is larger than the {dataset.train.count} "
                         f"training images; use --batch-size {min(32, dataset.train.count)} or less.")
    with plan.scope():
        net = job.build(recipe, dataset, -(-dataset.train.count // recipe["batch_size"]))
    if jit_compile is not None:
        net.jit_compile = bool(jit_compile)
    plan.jit_compile = bool(net.jit_compile)
    plan.fused_batchnorm = use_fused_batchnorm(net)  # bfloat16 only: measured faster there, slower in fp32
    if overwrite:
        directory.clear()
    directory.create(recipe, {"runtime": describe(), "keras": NAME, "class_names": dataset.class_names,
                              "data": dataset.describe(), "params": int(net.count_params()),
                              "scaling": plan.describe()},
                     fresh=state == "new")
    log(f"kerascnn {job.command}: {job.title(recipe)} ({net.count_params():,} parameters); "
        f"{dataset.describe()}; run directory {directory.path}" + (" (resuming)" if state == "resume" else ""))
    if plan.fused_batchnorm:
        log(f"{plan.fused_batchnorm} BatchNormalization layers train through TensorFlow's fused bfloat16 kernel")

    with retracing_warnings_dropped():
        last_epoch = _fit_phases(job, net, dataset, recipe, directory, tensorboard, verbose, plan, log)
        if plan.strategy == "multiworker" and IS_KERAS3:
            keras.distribution.set_distribution(None)  # each process evaluates the whole test set locally
        trained_is_best = _saved_at_last_epoch(directory, last_epoch, plan, since=started)
        metrics = _finish(directory, dataset, recipe, net, job.title(recipe), trained_is_best=trained_is_best)
    metrics["seconds"] = round(time.time() - started, 2)
    directory.write_json(runs.METRICS, metrics)
    if os.path.exists(directory.file(runs.STATE)):
        os.remove(directory.file(runs.STATE))
    log(f"test accuracy {metrics['test_accuracy']:.2%} (loss {metrics['test_loss']:.4f}) on "
        f"{metrics['test_images']} test images after {metrics['epochs_run']} epochs, "
        f"{metrics['seconds']:.0f} s; results in {directory.path}/")
    return RunResult(directory.path, state, metrics, time.time() - started)


class _RetracingWarningFilter(logging.Filter):
    def filter(self, record) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def retracing_warnings_dropped():
    """Inside the block, TensorFlow's "N out of the last M calls ... triggered tf.function
    retracing" warning is not logged.

    The training core compiles each phase anew and evaluates the best model on splits of other
    batch shapes, so each run traces Keras' step functions a few times by design. On a small
    data set (a few steps an epoch) TensorFlow counts those traces against the few calls and
    warns, advising to define the function outside a loop, which a user of ``kerascnn train`` or
    ``finetune`` cannot act on (seen with ``kerascnn finetune DaViT_T`` on 24 images).

    Examples:
        >>> import logging
        >>> with retracing_warnings_dropped():
        ...     logging.getLogger("tensorflow").warning("5 of the last 9 calls triggered tf.function retracing.")
    """
    logger, dropped = logging.getLogger("tensorflow"), _RetracingWarningFilter()
    logger.addFilter(dropped)
    try:
        yield
    finally:
        logger.removeFilter(dropped)


def effective_label_mode(recipe) -> str:
    """Label smoothing needs one-hot labels, whatever ``label_mode`` says. A fine-tuning recipe has
    neither: its heads take integer labels (``FineTuneJob.load``)."""
    return "categorical" if recipe.get("label_smoothing") else recipe.get("label_mode", "int")


def _optimizer(recipe, steps_per_epoch):
    rate = recipe["learning_rate"]
    if recipe["schedule"] == "cosine":
        total = recipe["epochs"] * steps_per_epoch
        warmup = min(recipe["warmup_epochs"] * steps_per_epoch, total - 1)
        rate = keras.optimizers.schedules.CosineDecay(0.0 if warmup else rate, total - warmup,
                                                      warmup_target=rate if warmup else None,
                                                      warmup_steps=warmup)
        optimizer = keras.optimizers.get(recipe["optimizer"])
        return optimizer.__class__(learning_rate=rate)
    return make_optimizer(recipe["optimizer"], rate)


def _completed_phases(run) -> list:
    try:
        return list(run.read_json(runs.STATE)["phases"])
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _fit_phases(job, net, dataset, recipe, run, tensorboard, verbose, plan, log) -> int | None:
    """Fit each phase not yet completed, from its backup if a kill interrupted it.

    A run of several phases says as each begins which epochs it trains and what is trainable
    (Keras' progress bars give no sign of it, and print no "Epoch" line for a one-epoch phase).
    Returns the last epoch this call trained (None when every phase was already done).
    """
    phases = job.phases(recipe, net)
    done = _completed_phases(run)
    last_epoch = None
    if len(done) >= len(phases):
        return last_epoch
    validate = dataset.validation.count > 0
    seed, batch = recipe["seed"], recipe["batch_size"]
    train_batches = dataset.train.batches(batch, shuffle=True, seed=seed, augment=job.augment(recipe))
    validation = dataset.validation.batches(batch) if validate else None
    if plan.strategy == "multiworker" and IS_KERAS3:
        # keras.distribution shards a global batch across processes only when its size is static
        if batch % plan.num_processes:
            raise ValueError(f"batch_size={batch} must be a multiple of the {plan.num_processes} processes "
                             "(it is the global batch, split evenly between them).")
        train_batches = train_batches.rebatch(batch, drop_remainder=True)
        validation = validation.rebatch(batch, drop_remainder=True) if validate else None
    handover = os.path.join(run.file(runs.BACKUP), PHASE_WEIGHTS)
    resumed_at = len(done)
    for index in range(resumed_at, len(phases)):
        phase = phases[index]
        with plan.scope():
            if index == resumed_at > 0:  # a new process, resuming after a finished phase
                _load_phase_weights(net, phases[index - 1], handover)
            if phase.prepare is not None:
                phase.prepare(net)
            build_training_state(net, *train_batches.element_spec)  # one trace of the training step, not two
        first = done[-1]["last_epoch"] + 1 if done else 0
        if len(phases) > 1:
            log(_phase_line(index, phases, first, net))
        backup = os.path.join(run.file(runs.BACKUP), phase.name)
        callbacks = default_callbacks(
            monitor="val_loss" if validate else "loss", **job.callback_options(recipe),
            csv_path=run.file(runs.HISTORY), checkpoint_path=run.file(runs.MODEL),
            tensorboard_dir=run.file("tensorboard") if tensorboard else None, backup_dir=backup)
        if IS_KERAS3:
            repair_backup(backup, net)
        end = PhaseEnd(run, phase, first, handover if index + 1 < len(phases) else None)
        history = net.fit(train_batches, validation_data=validation, initial_epoch=first,
                          epochs=first + phase.epochs, verbose=verbose, shuffle=False,
                          callbacks=[keras.callbacks.TerminateOnNaN(), *callbacks[:-1], end, callbacks[-1]])
        _stop_if_diverged(history, run)
        if history is not None and history.epoch:
            last_epoch = int(history.epoch[-1])
        done = _completed_phases(run)
        clear_backup_state(net)  # a resumed phase's epoch must not become the next phase's start
    return last_epoch


def _phase_line(index, phases, first, net) -> str:
    phase = phases[index]
    trainable = sum(int(np.prod(weight.shape)) for weight in net.trainable_weights)
    rate = f", learning rate {phase.learning_rate:g}" if phase.learning_rate is not None else ""
    return (f"phase {index + 1} of {len(phases)} ({phase.name}): epochs {first + 1}-{first + phase.epochs}{rate}, "
            f"{trainable:,} of {net.count_params():,} parameters trainable")


def _load_phase_weights(net, previous, path):
    """Put back the weights a finished phase ended with, in that phase's trainable state."""
    if previous.prepare is not None:
        previous.prepare(net)  # Keras 2 orders a partly frozen model's weights by trainability
    if IS_KERAS3 and net.optimizer is not None and not net.optimizer.built:
        net.optimizer.build(net.trainable_variables)
    net.load_weights(path)


class PhaseEnd(keras.callbacks.Callback):
    """Record a finished phase in ``state.json`` (and, if another phase follows, its weights).

    Placed just before ``BackupAndRestore``, whose ``on_train_end`` deletes the phase's backup:
    a kill before this record resumes the phase from its backup, a kill after it goes on to the
    next phase, so no moment loses or repeats an epoch. A phase whose last loss is not finite
    is not recorded (it never counts as done).
    """

    def __init__(self, run, phase, first_epoch, weights_path=None):
        super().__init__()
        self.run, self.phase, self.first_epoch, self.weights_path = run, phase, first_epoch, weights_path
        self.finite = True

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        self.finite = loss is None or bool(np.isfinite(float(np.asarray(loss))))

    def on_train_end(self, logs=None):
        if not self.finite:
            return
        if self.weights_path is not None:
            os.makedirs(os.path.dirname(self.weights_path), exist_ok=True)
            runs.atomic_save(self.weights_path, self.model.save_weights)
        epochs = [row["epoch"] for row in read_history(self.run.file(runs.HISTORY)) if isinstance(row.get("epoch"), int)]
        record = {"phase": self.phase.name, "first_epoch": self.first_epoch,
                  "last_epoch": max(epochs, default=self.first_epoch - 1), "learning_rate": self.phase.learning_rate}
        if self.phase.report is not None:
            record.update(self.phase.report(self.model))
        runs.atomic_write_json(self.run.file(runs.STATE), {"phases": [*_completed_phases(self.run), record]})


def _stop_if_diverged(history, run):
    """After ``TerminateOnNaN`` stopped the fit: say so, keep the last good model.keras."""
    losses = (history.history if history is not None else {}).get("loss") or [0.0]
    if np.isfinite(losses[-1]):
        return
    shutil.rmtree(run.file(runs.BACKUP), ignore_errors=True)  # its weights are NaN: never resume from them
    if os.path.exists(run.file(runs.STATE)):
        os.remove(run.file(runs.STATE))
    best = read_best(run.file(runs.MODEL))
    kept = (f"{runs.MODEL} holds the last good model (epoch {best['epoch'] + 1}, {best['monitor']} "
            f"{best['value']:.4f})" if best else f"no epoch ended with a finite loss, so there is no {runs.MODEL}")
    epoch = history.epoch[-1] + 1 if getattr(history, "epoch", None) else len(losses)
    raise ValueError(f"training stopped: the loss became {losses[-1]} (diverged) in epoch {epoch}; "
                     f"{kept} in {run.path}. Lower --learning-rate (or check the data for NaN values) "
                     "and train again with --overwrite.")


def repair_backup(folder: str, model) -> None:
    """Make Keras 3's ``BackupAndRestore`` folder loadable after a kill at any moment.

    Keras 3 writes the weights, then a small JSON with the epoch, in place; a kill during
    either leaves a file that cannot be read (Keras falls back to the previous checkpoint
    only for some errors). Try each checkpoint (latest, then ``double_checkpoint``'s
    previous) by loading it into ``model``; keep the first that loads, or drop the backup
    (the run restarts at epoch 0 and its history is rewritten from there).
    """
    weights = os.path.join(folder, "latest.weights.h5")
    metadata = os.path.join(folder, "training_metadata.json")
    if not os.path.exists(weights) and not os.path.exists(metadata):
        return
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    for suffix in ("", ".bkp"):
        try:
            with open(metadata + suffix, encoding="utf-8") as handle:
                if not isinstance(json.load(handle).get("epoch"), int):
                    continue
            model.load_weights(weights + suffix)
        except Exception:  # noqa: BLE001 - h5py, OSError, JSON errors: this checkpoint is unusable
            continue
        if suffix:
            shutil.copyfile(weights + suffix, weights)
            shutil.copyfile(metadata + suffix, metadata)
        return
    shutil.rmtree(folder, ignore_errors=True)


def load_run_model(run: runs.RunDirectory):
    """The best model of a run directory, with a clear error when it cannot be read."""
    config = run.config()
    if config.get("recipe", {}).get("provider") == "kecam":
        from kerascnn.transfer.catalogue import KECAM  # noqa: PLC0415

        importlib.import_module(KECAM)  # registers kecam's layers for loading
    path = run.file(runs.MODEL)
    if not os.path.exists(path):
        raise ValueError(f"{run.path!r} has no {runs.MODEL} yet (the run has not finished an epoch); "
                         "run `kerascnn train` with the same --out to continue it.")
    try:
        return load_model(path)
    except Exception as error:  # noqa: BLE001 - any loading failure is reported the same way
        hint = ""
        if config.get("keras") and config["keras"] != NAME:
            hint = (" It was written by Keras 2 (tf-keras): set TF_USE_LEGACY_KERAS=1."
                    if config["keras"] == "tf_keras" else " It was written by Keras 3: unset TF_USE_LEGACY_KERAS.")
        raise ValueError(f"cannot load {path}: {type(error).__name__}: {' '.join(str(error).split())[:150]}.{hint}") from None


def _saved_at_last_epoch(run, last_epoch, plan, since: float) -> bool:
    """True if this process saved model.keras at the last epoch it trained: the model in memory is
    then the best one. Only in one process without the fused BatchNorm path (whose results differ
    from the saved plain model's in the last bits)."""
    if last_epoch is None or plan.strategy != "none" or plan.fused_batchnorm:
        return False
    best = read_best(run.file(runs.MODEL))  # None when model.keras or its record is missing
    return (best is not None and best["epoch"] == last_epoch
            and os.path.getmtime(best_state_path(run.file(runs.MODEL))) >= since)


def _finish(run, dataset, recipe, net, title: str, trained_is_best: bool = False) -> dict:
    """The run's one evaluation step: the best model (model.keras) on the test split, plots, metrics.

    ``trained_is_best``: ``net`` holds the weights model.keras was saved with (it saved them at
    the last epoch it trained), so it is evaluated as it is: loading the file again would build
    the model anew and trace its evaluation again (about 15 s for DaViT-T on two cores).
    """
    if os.path.exists(run.file(runs.MODEL)) and not trained_is_best:
        net = load_run_model(run)
    metrics = evaluate_model(net, dataset, recipe["batch_size"])
    rows = read_history(run.file(runs.HISTORY))
    from kerascnn.plots import save_confusion_matrix, save_curves  # noqa: PLC0415 - matplotlib on use
    from kerascnn.reports import report_run  # noqa: PLC0415

    save_curves(rows, run.file(runs.CURVES), title=title)
    save_confusion_matrix(dataset.test.y, metrics.pop("predictions"), run.file(runs.CONFUSION),
                          class_names=dataset.class_names)
    metrics.update(report_run(run.path, net, dataset.test, dataset.class_names, recipe["batch_size"]))
    best = None
    monitor = "val_loss" if rows and "val_loss" in rows[0] else "loss"
    if rows:
        best = min(rows, key=lambda row: row.get(monitor) if row.get(monitor) is not None else np.inf)["epoch"]
    shutil.rmtree(run.file(runs.BACKUP), ignore_errors=True)
    return {**metrics, "epochs_run": len(rows), "best_epoch": best, "phases": _completed_phases(run),
            "runtime": describe()}


def evaluate_model(net, dataset, batch_size: int = 64) -> dict:
    """Test loss and accuracy, per-class precision/recall/F1 (scikit-learn) and the predictions."""
    from sklearn.metrics import classification_report  # noqa: PLC0415

    batches = dataset.test.batches(batch_size)
    values = net.evaluate(batches, verbose=0, return_dict=True)
    probabilities = net.predict(batches, verbose=0)
    predicted = probabilities.argmax(axis=1) if probabilities.shape[-1] > 1 else (probabilities[:, 0] > 0.5).astype(int)
    names = dataset.class_names
    report = classification_report(dataset.test.y, predicted, labels=list(range(len(names))),
                                   target_names=names, output_dict=True, zero_division=0)
    per_class = {name: {"precision": report[name]["precision"], "recall": report[name]["recall"],
                        "f1": report[name]["f1-score"], "support": int(report[name]["support"])} for name in names}
    return {"test_loss": float(values["loss"]), "test_accuracy": float(np.mean(predicted == dataset.test.y)),
            "test_images": int(dataset.test.count), "class_names": list(names), "per_class": per_class,
            "macro_avg": {k: report["macro avg"][k] for k in ("precision", "recall", "f1-score")},
            "predictions": predicted}


def keeps_raw_pixels(recipe: dict) -> bool:
    """True for a ``kerascnn finetune`` run, whose model takes 0-255 pixels (the backbone's own
    preprocessing is inside it); a ``kerascnn train`` model takes pixels scaled to [0, 1].

    Examples:
        >>> keeps_raw_pixels({"model": "lenet5"}), keeps_raw_pixels({"backbone": "DaViT_T"})
        (False, True)
    """
    return "backbone" in recipe


def image_scale(recipe: dict) -> float:
    """The factor image files are multiplied by for a run's model (:func:`kerascnn.data.read_images`)."""
    return 1.0 if keeps_raw_pixels(recipe) else 1.0 / 255.0


def _check_same_classes(dataset, net, trained: list, run_path: str) -> None:
    """Refuse data whose classes are not the ones the model predicts: their number, and their
    names where both sides have names (folders; an array source's classes are just "0", "1"...)."""
    outputs = int(net.output_shape[-1])
    predicted = outputs if outputs > 1 else 2  # one sigmoid unit: two classes
    if dataset.num_classes != predicted:
        raise ValueError(f"--data has {dataset.num_classes} classes but the model of {run_path!r} "
                         f"predicts {predicted}; evaluate on data with the same classes.")

    def named(names) -> bool:
        return list(names) != [str(index) for index in range(len(names))]

    given = list(dataset.class_names)
    if named(given) and named(trained) and given != trained:
        raise ValueError(f"--data has the classes {given} but the model of {run_path!r} was trained on {trained}; "
                         "evaluate on data with the same class folders (names and order).")


def evaluate(run_path, data=None, *, batch_size: int = 64, limit=None, transform=None) -> dict:
    """Evaluate a run's best model on the test split of ``data`` (default: the run's own data).

    ``transform``: applied to the loaded model first (e.g. :func:`kerascnn.deploy.for_evaluation`).
    """
    run = runs.RunDirectory(run_path)
    config = run.config()
    recipe = config["recipe"]
    net = load_run_model(run)
    net = transform(net) if transform else net
    dataset = load_data(recipe["data"] if data is None else data, tuple(recipe["input_shape"]),
                        validation_split=recipe["validation_split"], seed=recipe["seed"],
                        limit=limit, label_mode=effective_label_mode(recipe))
    if keeps_raw_pixels(recipe):
        dataset.scale = 1.0  # Data.scale divides: keep 0-255 as in FineTuneJob.load
    _check_same_classes(dataset, net, config.get("class_names") or [], run.path)
    metrics = evaluate_model(net, dataset, batch_size)
    metrics.pop("predictions")
    return metrics


#: images :func:`predict` reads and classifies at a time (a folder of thousands stays in memory bounds)
PREDICT_CHUNK = 256


def predict(run_path, images, *, top_k: int = 3, transform=None) -> list:
    """Top-k classes and probabilities for image files: ``[(path, [(class, probability), ...]), ...]``.

    ``images``: files and folders (every image under a folder, sorted:
    :func:`kerascnn.data.image_files`). Images are read with ``keras.utils.load_img``,
    converted to the model's channels, resized to its input and scaled as in training
    (:func:`image_scale`), :data:`PREDICT_CHUNK` at a time. A binary model's one sigmoid unit
    gives both classes (:func:`kerascnn.reports.top_classes`). ``transform``: applied to the
    loaded model first (e.g. :func:`kerascnn.deploy.optimize`).
    """
    from kerascnn.reports import top_classes  # noqa: PLC0415 - matplotlib only where needed

    check_int("top_k", top_k)
    run = runs.RunDirectory(run_path)
    config = run.config()
    names = config.get("class_names") or []
    input_shape, scale = tuple(config["recipe"]["input_shape"]), image_scale(config["recipe"])
    paths = image_files(images)
    net = load_run_model(run)
    net = transform(net) if transform else net
    results = []
    for start in range(0, len(paths), PREDICT_CHUNK):
        chunk = paths[start:start + PREDICT_CHUNK]
        batch = read_images(chunk, input_shape, scale)
        probabilities = np.asarray(net.predict(batch, verbose=0))
        results += [(path, top_classes(row, names, top_k)) for path, row in zip(chunk, probabilities)]
    return results
