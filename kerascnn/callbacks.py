"""Training callbacks: the default set (early stopping, learning-rate plateaus) and resume-safe loggers.

:func:`default_callbacks` is what ``kerascnn train`` and ``kerascnn finetune`` use:
``EarlyStopping(monitor="val_loss", patience=7, restore_best_weights=True)`` and
``ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3, min_lr=1e-5)``, plus, on
request, a history CSV, the best model, TensorBoard logs and ``BackupAndRestore``. Every
callback comes from :mod:`kerascnn.runtime`'s Keras, so a Keras 2 model gets Keras 2 callbacks.

Two callbacks of kerascnn's own replace Keras' ``CSVLogger`` and ``ModelCheckpoint`` because
a run must survive ``SIGKILL`` at any moment:

* :class:`HistoryCSV` rewrites the whole CSV atomically after each epoch, and when training
  resumes at epoch *k* it drops the rows of epochs >= *k* first, so every epoch appears once;
* :class:`BestModelCheckpoint` saves the best model to a temporary name and renames it, and
  remembers the best value in ``<path>.best.json`` so that a resumed run keeps comparing
  against the best epoch before the interruption.

A third, :class:`ResumedCounters`, keeps ``EarlyStopping``'s and ``ReduceLROnPlateau``'s
counters with the backup, which Keras would otherwise reset when a run resumes.

All three are placed *before* ``BackupAndRestore`` in the list: an epoch is recorded before the
backup declares it done, so an interruption between the two repeats the epoch (and replaces
its row) instead of losing it.

Examples:
    >>> from kerascnn.callbacks import default_callbacks
    >>> names = [type(c).__name__ for c in default_callbacks()]
    >>> names
    ['EarlyStopping', 'ReduceLROnPlateau']
    >>> names = [type(c).__name__ for c in default_callbacks(patience=None, csv_path="/tmp/h.csv")]
    >>> names
    ['HistoryCSV', 'ReduceLROnPlateau']
"""

from __future__ import annotations

import csv
import io
import json
import math
import os

import numpy as np

from kerascnn.errors import check_choice, check_int
from kerascnn.runs import atomic_save, atomic_write_text
from kerascnn.runtime import IS_KERAS3, keras
from kerascnn.saving import load_model


def _number(value):
    try:
        return float(np.asarray(value))
    except (TypeError, ValueError):
        return value


def current_learning_rate(model) -> float | None:
    """The learning rate the model's optimizer uses now (schedules evaluated at this step)."""
    optimizer = getattr(model, "optimizer", None)
    rate = getattr(optimizer, "learning_rate", None)
    if rate is None:
        return None
    if callable(rate) and not hasattr(rate, "numpy") and not hasattr(rate, "value"):
        rate = rate(optimizer.iterations)
    try:
        return float(np.asarray(keras.backend.get_value(rate) if not IS_KERAS3 else rate))
    except (TypeError, ValueError):
        return None


def _counter(value):
    """A callback counter as JSON can hold it: ints stay ints, numbers become floats."""
    if isinstance(value, (bool, int, np.integer)):
        return int(value)
    return _number(value)


def read_history(path: str) -> list[dict]:
    """The rows of a history CSV written by :class:`HistoryCSV` (numbers parsed), [] if absent.

    Examples:
        >>> read_history("/nonexistent/history.csv")
        []
    """
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    parsed = []
    for row in rows:
        parsed.append({key: _parse(value) for key, value in row.items() if key is not None})
    return parsed


def _parse(text):
    if text in (None, ""):
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in text else number


def history_to_csv(rows: list[dict]) -> str:
    """Render history rows (dicts with an ``epoch`` key) as CSV text, columns in first-seen order."""
    columns = ["epoch"]
    for row in rows:
        columns += [key for key in row if key not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: ("" if row.get(key) is None else row[key]) for key in columns})
    return buffer.getvalue()


class HistoryCSV(keras.callbacks.Callback):
    """Log each epoch's metrics (and learning rate) to a CSV, atomically and resume-safely.

    Unlike ``keras.callbacks.CSVLogger(append=True)``, a resumed run never duplicates an
    epoch: at the first epoch of a ``fit`` call, rows of that epoch and later are dropped.

    Examples:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "history.csv")
        >>> logger = HistoryCSV(path)
        >>> logger.on_epoch_begin(0); logger.on_epoch_end(0, {"loss": 0.5})
        >>> logger.on_epoch_begin(1); logger.on_epoch_end(1, {"loss": 0.25})
        >>> resumed = HistoryCSV(path)          # a new process resuming at epoch 1
        >>> resumed.on_epoch_begin(1); resumed.on_epoch_end(1, {"loss": 0.2})
        >>> rows = [(row["epoch"], row["loss"]) for row in read_history(path)]
        >>> rows
        [(0, 0.5), (1, 0.2)]
    """

    def __init__(self, path: str, learning_rate: bool = True):
        super().__init__()
        self.path = path
        self.learning_rate = learning_rate
        self._rows = None

    def on_train_begin(self, logs=None):
        self._rows = None

    def on_epoch_begin(self, epoch, logs=None):
        if self._rows is None:
            self._rows = [row for row in read_history(self.path)
                          if isinstance(row.get("epoch"), int) and row["epoch"] < epoch]

    def on_epoch_end(self, epoch, logs=None):
        if self._rows is None:
            self.on_epoch_begin(epoch)
        row = {"epoch": int(epoch)}
        for key, value in (logs or {}).items():
            row[key] = _number(value)
        if self.learning_rate and "learning_rate" not in row and "lr" not in row:
            rate = current_learning_rate(getattr(self, "model", None))
            if rate is not None:
                row["learning_rate"] = rate
        self._rows = [r for r in self._rows if r["epoch"] != epoch] + [row]
        atomic_write_text(self.path, history_to_csv(self._rows))


def best_state_path(model_path: str) -> str:
    """Where :class:`BestModelCheckpoint` remembers the best value of ``model_path``."""
    return os.fspath(model_path) + ".best.json"


def read_best(model_path: str) -> dict | None:
    """``{"monitor", "value", "epoch"}`` of the model saved at ``model_path``, or None.

    None when the model or its ``.best.json`` is missing or unreadable (a run killed before
    its first checkpoint): the caller then knows no best epoch.

    Examples:
        >>> read_best("/nonexistent/model.keras") is None
        True
    """
    if not os.path.exists(model_path):
        return None
    try:
        with open(best_state_path(model_path), encoding="utf-8") as handle:
            state = json.load(handle)
        return {"monitor": str(state["monitor"]), "value": float(state["value"]), "epoch": int(state["epoch"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _better(mode: str, monitor: str):
    if mode == "auto":
        mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
    return (lambda new, best: new > best) if mode == "max" else (lambda new, best: new < best)


class BestModelCheckpoint(keras.callbacks.Callback):
    """Save the whole model whenever ``monitor`` improves; atomic, and resume-aware.

    The model goes to a temporary ``.keras`` file that is renamed over ``path``; the best
    value and its epoch go to ``<path>.best.json``, read back when training resumes.

    Examples:
        >>> checkpoint = BestModelCheckpoint("/tmp/never_written.keras")
        >>> checkpoint.best is None, checkpoint.monitor
        (True, 'val_loss')
    """

    def __init__(self, path: str, monitor: str = "val_loss", mode: str = "auto", verbose: int = 0):
        super().__init__()
        check_choice("mode", mode, ("auto", "min", "max"))
        self.path = path
        self.monitor = monitor
        self.verbose = verbose
        self._improves = _better(mode, monitor)
        self.best = None
        self.best_epoch = None

    @property
    def state_path(self) -> str:
        return best_state_path(self.path)

    def on_train_begin(self, logs=None):
        state = read_best(self.path)
        self.best, self.best_epoch = (state["value"], state["epoch"]) if state else (None, None)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        value = float(np.asarray(value))
        if math.isnan(value) or (self.best is not None and not self._improves(value, self.best)):
            return
        atomic_save(self.path, self.model.save)
        self.best, self.best_epoch = value, int(epoch)
        atomic_write_text(self.state_path, json.dumps({"monitor": self.monitor, "value": value,
                                                       "epoch": int(epoch)}))
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: {self.monitor} improved to {value:.5f}, saved {self.path}")


class ResumedCounters(keras.callbacks.Callback):
    """Carry ``EarlyStopping``'s and ``ReduceLROnPlateau``'s counters across an interrupted run.

    ``BackupAndRestore`` brings back the weights, the optimizer and the epoch, but the
    plateau callbacks start counting afresh in the new ``fit`` call: a run killed every few
    epochs would never stop early nor lower its learning rate. After every epoch this callback
    writes each watched callback's counters (``wait``, ``best``, ``best_epoch``,
    ``stopped_epoch``, ``cooldown_counter``) under the epoch's number to ``path`` (JSON,
    atomically); when a ``fit`` call starts at epoch *k* > 0 it puts back those of epoch
    *k* - 1. ``EarlyStopping``'s best weights come back from ``best_model_path`` (a
    :class:`BestModelCheckpoint` watching the same quantity) when that file holds the same
    epoch. It must run after the watched callbacks and before ``BackupAndRestore``
    (:func:`default_callbacks` places it so).

    Examples:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "counters.json")
        >>> stop = keras.callbacks.EarlyStopping(patience=3)
        >>> first = ResumedCounters(path, [stop])
        >>> stop.wait, stop.best = 2, 0.5
        >>> first.on_epoch_begin(0); first.on_epoch_end(0)
        >>> stop.wait, stop.best = 0, None                  # a new fit call resets them ...
        >>> ResumedCounters(path, [stop]).on_epoch_begin(1)  # ... resumed at epoch 1
        >>> stop.wait, stop.best
        (2, 0.5)
    """

    FIELDS = ("wait", "best", "best_epoch", "stopped_epoch", "cooldown_counter")

    def __init__(self, path: str, watched, best_model_path: str | None = None):
        super().__init__()
        self.path = path
        self.watched = list(watched)
        self.best_model_path = best_model_path
        self._states = None

    def on_train_begin(self, logs=None):
        self._states = None

    def on_epoch_begin(self, epoch, logs=None):
        if self._states is not None:
            return
        self._states = {number: state for number, state in self._read().items() if number < epoch}
        if epoch - 1 in self._states:
            for callback, state in zip(self.watched, self._states[epoch - 1]):
                for name, value in state.items():
                    setattr(callback, name, value)
                self._restore_best_weights(callback)

    def on_epoch_end(self, epoch, logs=None):
        if self._states is None:
            self.on_epoch_begin(epoch)
        self._states[int(epoch)] = [{name: _counter(getattr(callback, name)) for name in self.FIELDS
                                     if hasattr(callback, name)} for callback in self.watched]
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        atomic_write_text(self.path, json.dumps({str(number): state for number, state in sorted(self._states.items())}))

    def _read(self) -> dict:
        try:
            with open(self.path, encoding="utf-8") as handle:
                return {int(number): state for number, state in json.load(handle).items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def _restore_best_weights(self, callback) -> None:
        if not getattr(callback, "restore_best_weights", False) or self.best_model_path is None:
            return
        callback.best_weights = None  # unknown unless the checkpoint holds the same epoch
        state = read_best(self.best_model_path)
        if state is None or state["epoch"] != callback.best_epoch:
            return
        try:
            callback.best_weights = load_model(self.best_model_path, compile=False).get_weights()
        except (OSError, ValueError):
            pass


def default_callbacks(
    *,
    monitor: str = "val_loss",
    mode: str = "auto",
    patience: int | None = 7,
    restore_best_weights: bool = True,
    lr_factor: float | None = 0.5,
    lr_patience: int = 3,
    min_lr: float = 1e-5,
    csv_path: str | None = None,
    checkpoint_path: str | None = None,
    tensorboard_dir: str | None = None,
    backup_dir: str | None = None,
    verbose: int = 0,
) -> list:
    """The callbacks kerascnn trains with, every value overridable.

    The options, all keyword-only:

        monitor, mode: the quantity that early stopping, the learning-rate plateau and the
            best-model checkpoint watch (``"val_loss"``; ``mode="auto"`` maximises names
            containing ``acc``).
        patience, restore_best_weights: ``EarlyStopping``; ``patience=None`` leaves it out.
        lr_factor, lr_patience, min_lr: ``ReduceLROnPlateau``; ``lr_factor=None`` leaves it out.
        csv_path: add a :class:`HistoryCSV` (resume-safe history).
        checkpoint_path: add a :class:`BestModelCheckpoint` (the best model, ``.keras``).
        tensorboard_dir: add ``keras.callbacks.TensorBoard(log_dir=...)``.
        backup_dir: add ``keras.callbacks.BackupAndRestore`` (last in the list, so the epoch
            is logged and checkpointed before the backup marks it complete), preceded by a
            :class:`ResumedCounters` keeping the early-stopping and plateau counters in it.

    Examples:
        >>> callbacks = default_callbacks(patience=3, lr_factor=0.2, min_lr=1e-6)
        >>> callbacks[0].patience, callbacks[1].factor, callbacks[1].min_lr
        (3, 0.2, 1e-06)
        >>> names = [type(c).__name__ for c in default_callbacks(
        ...     csv_path="/tmp/history.csv", checkpoint_path="/tmp/model.keras",
        ...     backup_dir="/tmp/backup")]
        >>> names
        ['HistoryCSV', 'BestModelCheckpoint', 'EarlyStopping', 'ReduceLROnPlateau', 'ResumedCounters', 'BackupAndRestore']
    """
    check_choice("mode", mode, ("auto", "min", "max"))
    if not isinstance(monitor, str) or not monitor:
        raise TypeError(f"monitor must be a metric name such as 'val_loss', got {monitor!r}.")
    callbacks = []
    if csv_path is not None:
        callbacks.append(HistoryCSV(os.fspath(csv_path)))
    if checkpoint_path is not None:
        callbacks.append(BestModelCheckpoint(os.fspath(checkpoint_path), monitor, mode, verbose))
    if patience is not None:
        check_int("patience", patience, minimum=0)
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=monitor, mode=mode, patience=patience,
            restore_best_weights=bool(restore_best_weights), verbose=verbose))
    if lr_factor is not None:
        if isinstance(lr_factor, bool) or not isinstance(lr_factor, (int, float)) or not 0 < lr_factor < 1:
            raise ValueError(f"lr_factor must be a number in (0, 1), got {lr_factor!r}.")
        check_int("lr_patience", lr_patience, minimum=0)
        if isinstance(min_lr, bool) or not isinstance(min_lr, (int, float)) or min_lr < 0:
            raise ValueError(f"min_lr must be a number >= 0, got {min_lr!r}.")
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor=monitor, mode=mode, factor=float(lr_factor), patience=lr_patience,
            min_lr=float(min_lr), verbose=verbose))
    if tensorboard_dir is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=os.fspath(tensorboard_dir)))
    if backup_dir is not None:
        watched = [c for c in callbacks if isinstance(c, (keras.callbacks.EarlyStopping,
                                                           keras.callbacks.ReduceLROnPlateau))]
        if watched:
            callbacks.append(ResumedCounters(os.path.join(os.fspath(backup_dir), "counters.json"), watched,
                                             best_model_path=checkpoint_path and os.fspath(checkpoint_path)))
        options = {"double_checkpoint": True} if IS_KERAS3 else {}
        callbacks.append(keras.callbacks.BackupAndRestore(os.fspath(backup_dir), **options))
    return callbacks
