"""Train, evaluate and predict with any registered model: the engine of ``kerascnn train``.

:func:`train` builds a model, loads a dataset (:mod:`kerascnn.data`) for its input, fits it
with the default callbacks (:mod:`kerascnn.callbacks`) and writes a run directory
(:mod:`kerascnn.runs`): ``config.json``, ``history.csv``, ``curves.png``,
``confusion_matrix.png``, ``metrics.json`` and the best ``model.keras``. Running the same
call again resumes an interrupted run from its last completed epoch
(``keras.callbacks.BackupAndRestore``), or reports a finished one.

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

import dataclasses
import json
import os
import shutil
import time

import numpy as np

from kerascnn import runs
from kerascnn.callbacks import default_callbacks, read_history
from kerascnn.data import SOURCES, load_data, parse_augmentation
from kerascnn.errors import check_choice, check_fraction, check_int
from kerascnn.heads import make_optimizer
from kerascnn.registry import build, model_card
from kerascnn.runtime import IS_KERAS3, NAME, describe, keras

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
STATE = "state.json"


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
    if isinstance(data, tuple):
        data_name = "arrays"
    elif not isinstance(data, (str, os.PathLike)):
        raise TypeError(f"data must be a dataset name, a path or an (x, y) tuple, got {type(data).__name__}.")
    elif os.fspath(data) in SOURCES:
        data_name = os.fspath(data)
    elif os.path.isdir(data) or (os.fspath(data).endswith(".npz") and os.path.isfile(data)):
        data_name = os.path.abspath(data)
    else:
        raise ValueError(
            f"--data {os.fspath(data)!r} is neither a dataset name nor an existing folder or .npz file; "
            f"use one of {', '.join(SOURCES)}, a folder with one sub-folder per class, or an .npz file.")
    return {"model": model, "data": data_name, **recipe, "learning_rate": float(recipe["learning_rate"]),
            "input_shape": [int(height), int(width), int(channels)], "seed": seed, "limit": limit,
            "label_mode": label_mode}


def train(model="lenet5", data="digits", *, out=None, resume=False, overwrite=False, tensorboard=False,
          verbose=1, log=print, mixed_precision=None, jit_compile=None, distribute="none", coordinator=None,
          num_processes=None, process_id=None, **options) -> RunResult:
    """Train ``model`` on ``data`` and write the run directory ``out``; see the module docstring.

    ``options``: ``epochs``, ``batch_size``, ``learning_rate``, ``optimizer``, ``schedule``
    (``"cosine"`` with ``warmup_epochs``, ``"plateau"`` = ReduceLROnPlateau, ``"constant"``),
    ``image_size``, ``augment``, ``seed``, ``validation_split``, ``limit``, ``label_mode``,
    ``patience`` (early stopping; None = off), ``label_smoothing`` (> 0: one-hot labels and
    ``CategoricalCrossentropy(label_smoothing=...)``). Left at None they take :data:`DEFAULTS`.
    ``resume`` continues the run in ``out`` with its stored recipe; ``overwrite`` replaces it.
    ``verbose`` is Keras' (1: progress bars); ``log`` prints the start and end lines (None: silent).
    Scaling (:mod:`kerascnn.distribute`, recorded in ``config.json`` under ``"scaling"``):
    ``mixed_precision`` (``"float16"``/``"bfloat16"``), ``jit_compile`` (XLA; None = Keras'
    default), ``distribute`` (``"none"``, ``"mirrored"``, ``"multiworker"`` with ``coordinator``,
    ``num_processes``, ``process_id``). ``batch_size`` is the global batch, split across replicas;
    under multiworker, process 0 writes ``out`` and process N writes ``out.workerN``.
    """
    started = time.time()
    log = log or (lambda *_: None)
    from kerascnn.distribute import setup, worker_out  # noqa: PLC0415

    # mixed_precision sets Keras' global dtype policy for this run only; the caller's comes back after
    previous_policy = keras.mixed_precision.global_policy()
    try:
        # first: JAX's multi-process start must come before anything touches a JAX device
        plan = setup(distribute, coordinator=coordinator, num_processes=num_processes, process_id=process_id,
                     mixed_precision=mixed_precision, jit_compile=jit_compile)
        recipe = make_recipe(model, data, **options)
        if resume and overwrite:
            raise ValueError("--resume and --overwrite contradict each other; give one of them.")
        if not plan.is_chief:
            log = lambda *_: None  # noqa: E731 - one process reports
        run = runs.RunDirectory(worker_out(out or default_out(model, data), plan))
        state = run.check(recipe, resume=resume, overwrite=overwrite)
        if state != "new":
            recipe = run.config()["recipe"]
        if state == "complete":
            metrics = run.read_json(runs.METRICS)
            log(f"{run.path} already holds a finished run (test accuracy {metrics['test_accuracy']:.2%}); "
                "use --overwrite to train again or --out for a new run.")
            return RunResult(run.path, state, metrics, time.time() - started)

        keras.utils.set_random_seed(recipe["seed"])
        dataset = load_data(data if isinstance(data, tuple) else recipe["data"], tuple(recipe["input_shape"]),
                            validation_split=recipe["validation_split"], seed=recipe["seed"],
                            limit=recipe["limit"], label_mode=effective_label_mode(recipe))
        if recipe["batch_size"] > dataset.train.count:
            raise ValueError(f"batch_size={recipe['batch_size']} is larger than the {dataset.train.count} "
                             f"training images; use --batch-size {min(32, dataset.train.count)} or less.")
        steps = -(-dataset.train.count // recipe["batch_size"])
        smoothing = recipe.get("label_smoothing", 0.0)
        with plan.scope():
            net = build(recipe["model"], input_shape=tuple(recipe["input_shape"]), num_classes=dataset.num_classes,
                        label_mode=effective_label_mode(recipe), optimizer=_optimizer(recipe, steps),
                        loss=keras.losses.CategoricalCrossentropy(label_smoothing=smoothing) if smoothing else None)
        if jit_compile is not None:
            net.jit_compile = bool(jit_compile)
        plan.jit_compile = bool(net.jit_compile)
        if overwrite:
            run.clear()
        run.create(recipe, {"runtime": describe(), "keras": NAME, "class_names": dataset.class_names,
                            "data": dataset.describe(), "params": int(net.count_params()),
                            "scaling": plan.describe()},
                   fresh=state == "new")
        log(f"kerascnn train: {recipe['model']} ({net.count_params():,} parameters) on {dataset.describe()}; "
            f"run directory {run.path}" + (" (resuming)" if state == "resume" else ""))

        if not os.path.exists(run.file(STATE)):
            _fit(net, dataset, recipe, run, tensorboard, verbose, plan)
            runs.atomic_write_json(run.file(STATE), {"fit_complete": True})
        if plan.strategy == "multiworker" and IS_KERAS3:
            keras.distribution.set_distribution(None)  # each process evaluates the whole test set locally
        metrics = _finish(run, dataset, recipe, net, verbose)
        metrics["seconds"] = round(time.time() - started, 2)
        run.write_json(runs.METRICS, metrics)
        os.remove(run.file(STATE))
        log(f"test accuracy {metrics['test_accuracy']:.2%} (loss {metrics['test_loss']:.4f}) on "
            f"{metrics['test_images']} test images after {metrics['epochs_run']} epochs, "
            f"{metrics['seconds']:.0f} s; results in {run.path}/")
        return RunResult(run.path, state, metrics, time.time() - started)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def effective_label_mode(recipe) -> str:
    """Label smoothing needs one-hot labels, whatever ``label_mode`` says."""
    return "categorical" if recipe.get("label_smoothing") else recipe["label_mode"]


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


def _fit(net, dataset, recipe, run, tensorboard, verbose, plan=None):
    validate = dataset.validation.count > 0
    callbacks = default_callbacks(
        monitor="val_loss" if validate else "loss",
        patience=recipe["patience"],
        lr_factor=0.5 if recipe["schedule"] == "plateau" else None,
        csv_path=run.file(runs.HISTORY), checkpoint_path=run.file(runs.MODEL),
        tensorboard_dir=run.file("tensorboard") if tensorboard else None,
        backup_dir=run.file(runs.BACKUP))
    if IS_KERAS3:
        repair_backup(run.file(runs.BACKUP), net)
    seed, batch = recipe["seed"], recipe["batch_size"]
    train_batches = dataset.train.batches(batch, shuffle=True, seed=seed, augment=recipe["augment"])
    validation = dataset.validation.batches(batch) if validate else None
    if plan is not None and plan.strategy == "multiworker" and IS_KERAS3:
        # keras.distribution shards a global batch across processes only when its size is static
        if batch % plan.num_processes:
            raise ValueError(f"batch_size={batch} must be a multiple of the {plan.num_processes} processes "
                             "(it is the global batch, split evenly between them).")
        train_batches = train_batches.rebatch(batch, drop_remainder=True)
        validation = validation.rebatch(batch, drop_remainder=True) if validate else None
    history = net.fit(train_batches, validation_data=validation, epochs=recipe["epochs"],
                      callbacks=[keras.callbacks.TerminateOnNaN(), *callbacks], verbose=verbose, shuffle=False)
    _stop_if_diverged(history, run)


def _stop_if_diverged(history, run):
    """After ``TerminateOnNaN`` stopped the fit: say so, keep the last good model.keras."""
    losses = (history.history if history is not None else {}).get("loss") or [0.0]
    if np.isfinite(losses[-1]):
        return
    shutil.rmtree(run.file(runs.BACKUP), ignore_errors=True)  # its weights are NaN: never resume from them
    try:
        best = run.read_json(runs.MODEL + ".best.json")
        kept = (f"{runs.MODEL} holds the last good model (epoch {best['epoch'] + 1}, "
                f"{best['monitor']} {best['value']:.4f})")
    except (OSError, ValueError, KeyError, TypeError):
        kept = f"no epoch ended with a finite loss, so there is no {runs.MODEL}"
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
    import kerascnn.layers  # noqa: F401,PLC0415 - registers kerascnn's custom layers for loading

    config = run.config()
    path = run.file(runs.MODEL)
    if not os.path.exists(path):
        raise ValueError(f"{run.path!r} has no {runs.MODEL} yet (the run has not finished an epoch); "
                         "run `kerascnn train` with the same --out to continue it.")
    try:
        return keras.models.load_model(path)
    except Exception as error:  # noqa: BLE001 - any loading failure is reported the same way
        hint = ""
        if config.get("keras") and config["keras"] != NAME:
            hint = (" It was written by Keras 2 (tf-keras): set TF_USE_LEGACY_KERAS=1."
                    if config["keras"] == "tf_keras" else " It was written by Keras 3: unset TF_USE_LEGACY_KERAS.")
        raise ValueError(f"cannot load {path}: {type(error).__name__}: {' '.join(str(error).split())[:150]}.{hint}") from None


def _finish(run, dataset, recipe, net, verbose) -> dict:
    if os.path.exists(run.file(runs.MODEL)):
        net = load_run_model(run)
    metrics = evaluate_model(net, dataset, recipe["batch_size"])
    rows = read_history(run.file(runs.HISTORY))
    from kerascnn.plots import save_confusion_matrix, save_curves  # noqa: PLC0415 - matplotlib on use

    save_curves(rows, run.file(runs.CURVES), title=f"{recipe['model']} on {os.path.basename(recipe['data'])}")
    save_confusion_matrix(dataset.test.y, metrics.pop("predictions"), run.file(runs.CONFUSION),
                          class_names=dataset.class_names)
    best = None
    monitor = "val_loss" if rows and "val_loss" in rows[0] else "loss"
    if rows:
        best = min(rows, key=lambda row: row.get(monitor) if row.get(monitor) is not None else np.inf)["epoch"]
    shutil.rmtree(run.file(runs.BACKUP), ignore_errors=True)
    return {**metrics, "epochs_run": len(rows), "best_epoch": best, "runtime": describe()}


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
    if dataset.num_classes != int(net.output_shape[-1]) and int(net.output_shape[-1]) > 1:
        raise ValueError(f"--data has {dataset.num_classes} classes but the model of {run.path!r} "
                         f"predicts {net.output_shape[-1]}; evaluate on data with the same classes.")
    metrics = evaluate_model(net, dataset, batch_size)
    metrics.pop("predictions")
    return metrics


def predict(run_path, images, *, top_k: int = 3, transform=None) -> list:
    """Top-k classes and probabilities for image files: ``[(path, [(class, probability), ...]), ...]``.

    Images are read with ``keras.utils.load_img``, converted to the model's channels,
    resized to its input and scaled to [0, 1] as in training. ``transform``: applied to the
    loaded model first (e.g. :func:`kerascnn.deploy.optimize`).
    """
    check_int("top_k", top_k)
    run = runs.RunDirectory(run_path)
    config = run.config()
    names = config.get("class_names") or []
    height, width, channels = config["recipe"]["input_shape"]
    batch = []
    for path in images:
        if not os.path.isfile(path):
            raise ValueError(f"image {path!r} does not exist.")
        try:
            image = keras.utils.load_img(path, color_mode="grayscale" if channels == 1 else "rgb",
                                         target_size=(height, width), interpolation="bilinear")
        except Exception as error:  # noqa: BLE001 - PIL raises many types for unreadable files
            raise ValueError(f"cannot read image {path!r}: {error}") from None
        batch.append(keras.utils.img_to_array(image) / 255.0)
    net = load_run_model(run)
    net = transform(net) if transform else net
    probabilities = np.asarray(net.predict(np.stack(batch), verbose=0))
    results = []
    for path, row in zip(images, probabilities):
        order = np.argsort(row)[::-1][:top_k]
        results.append((path, [(names[i] if i < len(names) else str(i), float(row[i])) for i in order]))
    return results
