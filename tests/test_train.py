"""kerascnn.train, callbacks, runs and plots: a tiny training, its files, resume after SIGKILL, bad input."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from kerascnn import runs
from kerascnn.callbacks import BestModelCheckpoint, HistoryCSV, best_state_path, default_callbacks, read_history
from kerascnn.train import evaluate, load_run_model, predict, train

# also in the Keras 2 run: the training core, its callbacks and resume differ in Keras 2
pytestmark = pytest.mark.keras2

PNG = b"\x89PNG\r\n\x1a\n"
TINY = {"epochs": 2, "batch_size": 16, "limit": 48}  # 3 batches per epoch


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("runs") / "tiny")
    return train("lenet5", "digits", out=out, verbose=0, log=lambda *_: None, **TINY)


@pytest.mark.every_runtime
def test_tiny_run_writes_every_file(tiny_run):
    run = runs.RunDirectory(tiny_run.path)
    assert tiny_run.state == "new"
    assert sorted(os.listdir(run.path)) == sorted(
        ["config.json", "history.csv", "curves.png", "confusion_matrix.png", "metrics.json", "model.keras",
         "model.keras.best.json", "misclassified.png"])  # no backup/, no temporary files left
    config = run.config()
    assert config["recipe"]["model"] == "lenet5" and config["recipe"]["input_shape"] == [32, 32, 1]
    assert config["class_names"] == [str(i) for i in range(10)]
    assert [row["epoch"] for row in read_history(run.file("history.csv"))] == [0, 1]
    for name in ("curves.png", "confusion_matrix.png", "misclassified.png"):
        with open(run.file(name), "rb") as handle:
            assert handle.read(8) == PNG
    metrics = run.read_json("metrics.json")
    assert metrics["test_images"] == 48 and 0.0 <= metrics["test_accuracy"] <= 1.0
    assert sum(row["support"] for row in metrics["per_class"].values()) == 48
    assert metrics["epochs_run"] == 2


@pytest.mark.every_runtime
def test_evaluate_and_predict(tiny_run, tmp_path):
    metrics = evaluate(tiny_run.path, limit=48)
    assert metrics["test_accuracy"] == pytest.approx(tiny_run.test_accuracy, abs=1e-6)
    from PIL import Image

    path = str(tmp_path / "digit.png")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(path)
    [(image, top)] = predict(tiny_run.path, [path], top_k=3)
    assert image == path and len(top) == 3
    probabilities = [p for _, p in top]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.0 + 1e-6
    assert all(name in [str(i) for i in range(10)] for name, _ in top)


@pytest.mark.every_runtime
def test_a_run_that_saved_its_last_epoch_is_evaluated_without_loading_it_again(tmp_path, monkeypatch):
    """One epoch: model.keras is saved at the last epoch trained, so the model in memory is the
    best one; its metrics are those of the saved file, loaded as `kerascnn evaluate` loads it."""
    import kerascnn.train as core

    loads = []
    monkeypatch.setattr(core, "load_run_model", lambda run: loads.append(run) or load_run_model(run))
    result = train("lenet5", "digits", out=str(tmp_path / "one"), verbose=0, log=None, **{**TINY, "epochs": 1})
    assert loads == [] and result.metrics["best_epoch"] == 0
    monkeypatch.undo()
    again = evaluate(result.path, limit=48)  # model.keras, loaded
    assert again["test_loss"] == pytest.approx(result.metrics["test_loss"], rel=1e-5)
    assert again["test_accuracy"] == pytest.approx(result.metrics["test_accuracy"], abs=1e-6)


def test_the_model_in_memory_is_used_only_when_it_saved_the_last_epoch(tmp_path):
    from kerascnn.distribute import Plan
    from kerascnn.train import _saved_at_last_epoch

    run = runs.RunDirectory(tmp_path)
    with open(run.file(runs.MODEL), "w") as handle:
        handle.write("stands for a model file")
    with open(best_state_path(run.file(runs.MODEL)), "w") as handle:
        json.dump({"monitor": "val_loss", "value": 0.5, "epoch": 3}, handle)
    started = time.time() - 5
    assert _saved_at_last_epoch(run, 3, Plan(), since=started)
    assert not _saved_at_last_epoch(run, 4, Plan(), since=started)  # a later epoch did not improve
    assert not _saved_at_last_epoch(run, None, Plan(), since=started)  # nothing trained in this process
    assert not _saved_at_last_epoch(run, 3, Plan(), since=time.time() + 5)  # saved by an earlier process
    assert not _saved_at_last_epoch(run, 3, Plan(strategy="mirrored"), since=started)
    assert not _saved_at_last_epoch(run, 3, Plan(fused_batchnorm=20), since=started)


def test_same_recipe_reports_finished_run_and_other_recipe_is_refused(tiny_run):
    before = {name: os.path.getmtime(os.path.join(tiny_run.path, name)) for name in os.listdir(tiny_run.path)}
    again = train("lenet5", "digits", out=tiny_run.path, verbose=0, log=lambda *_: None, **TINY)
    assert again.state == "complete" and again.metrics == tiny_run.metrics
    with pytest.raises(ValueError, match=r"different configuration \(epochs: 2 in the directory, 3 now\)"):
        train("lenet5", "digits", out=tiny_run.path, verbose=0, **{**TINY, "epochs": 3})
    after = {name: os.path.getmtime(os.path.join(tiny_run.path, name)) for name in os.listdir(tiny_run.path)}
    assert after == before


def test_bad_input_writes_nothing(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="larger than the 48 training images"):
        train("lenet5", "digits", out=str(out), batch_size=64, limit=48, verbose=0)
    with pytest.raises(ValueError, match="Unknown model 'lenet'"):
        train("lenet", out=str(out), verbose=0)
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match="is a file"):
        train("lenet5", out=str(blocker / "run"), verbose=0)
    with pytest.raises(ValueError, match="not writable"):
        train("lenet5", out="/proc/kerascnn-run", verbose=0)
    with pytest.raises(ValueError, match="--resume and --overwrite"):
        train("lenet5", out=str(out), resume=True, overwrite=True, verbose=0)
    assert sorted(os.listdir(tmp_path)) == ["file.txt"]


def test_history_csv_keeps_each_epoch_once_when_resumed(tmp_path):
    path = str(tmp_path / "history.csv")
    first = HistoryCSV(path, learning_rate=False)
    for epoch in range(3):
        first.on_epoch_begin(epoch)
        first.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1)})
    # a process killed after logging epoch 2 but before its backup resumes at epoch 2
    second = HistoryCSV(path, learning_rate=False)
    second.on_epoch_begin(2)
    second.on_epoch_end(2, {"loss": 0.3})
    second.on_epoch_begin(3)
    second.on_epoch_end(3, {"loss": 0.2})
    assert [(row["epoch"], row["loss"]) for row in read_history(path)] == [(0, 1.0), (1, 0.5), (2, 0.3), (3, 0.2)]


def test_default_callbacks_values_and_order(tmp_path):
    callbacks = default_callbacks(csv_path=str(tmp_path / "h.csv"), checkpoint_path=str(tmp_path / "m.keras"),
                                  tensorboard_dir=str(tmp_path / "tb"), backup_dir=str(tmp_path / "b"))
    names = [type(c).__name__ for c in callbacks]
    assert names == ["HistoryCSV", "BestModelCheckpoint", "EarlyStopping", "ReduceLROnPlateau",
                     "TensorBoard", "ResumedCounters", "BackupAndRestore"]
    early, plateau = callbacks[2], callbacks[3]
    assert (early.monitor, early.patience, early.restore_best_weights) == ("val_loss", 7, True)
    assert (plateau.monitor, plateau.factor, plateau.patience, plateau.min_lr) == ("val_loss", 0.5, 3, 1e-5)
    with pytest.raises(ValueError, match="lr_factor"):
        default_callbacks(lr_factor=2)
    assert os.listdir(tmp_path) == []  # building callbacks writes nothing


def test_best_checkpoint_remembers_best_value(tmp_path):
    path = str(tmp_path / "m.keras")
    runs.atomic_write_text(path, "stands for a model file")
    runs.atomic_write_json(path + ".best.json", {"monitor": "val_loss", "value": 0.25, "epoch": 4})
    checkpoint = BestModelCheckpoint(path)
    checkpoint.on_train_begin()
    assert (checkpoint.best, checkpoint.best_epoch) == (0.25, 4)
    checkpoint.on_epoch_end(5, {"val_loss": 0.5})  # worse: nothing is saved (no model needed)
    with open(path) as handle:
        assert handle.read() == "stands for a model file"


VAL_LOSSES = [1.0, 0.8, 0.85, 0.9, 0.95, 0.99]  # best at epoch 1, then four epochs without improvement


def _plateau_run(tmp_path, epochs, resume_after=None):
    """Drive the default callbacks (no BackupAndRestore: it needs a real fit) through ``epochs`` epochs
    of fixed validation losses; the kernel holds the epoch number, standing for training. With
    ``resume_after=k`` the callbacks are rebuilt after epoch k, as a new process would."""
    from kerascnn.runtime import keras

    tmp_path.mkdir()
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")

    def fresh_callbacks():
        callbacks = [c for c in default_callbacks(patience=3, lr_patience=1, min_lr=0.0,
                                                  checkpoint_path=str(tmp_path / "m.keras"),
                                                  backup_dir=str(tmp_path / "backup"))
                     if not isinstance(c, keras.callbacks.BackupAndRestore)]
        for callback in callbacks:
            callback.set_model(model)
            callback.on_train_begin()
        return callbacks

    callbacks, epoch = fresh_callbacks(), 0
    while epoch < epochs and not model.stop_training:
        if epoch == resume_after:
            callbacks = fresh_callbacks()
        kernel, bias = model.get_weights()
        model.set_weights([np.full_like(kernel, epoch), bias])
        for callback in callbacks:
            callback.on_epoch_begin(epoch)
        for callback in callbacks:
            callback.on_epoch_end(epoch, {"loss": 1.0, "val_loss": VAL_LOSSES[epoch]})
        epoch += 1
    for callback in callbacks:
        callback.on_train_end()
    stopped = next(c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)).stopped_epoch
    rate = float(np.asarray(keras.ops.convert_to_numpy(model.optimizer.learning_rate)
                            if hasattr(keras, "ops") else keras.backend.get_value(model.optimizer.learning_rate)))
    return stopped, rate, float(model.get_weights()[0].flat[0])


def test_resumed_run_keeps_early_stopping_and_plateau_counters(tmp_path):
    # Uninterrupted: patience 3 stops at epoch 4; the plateau halves the rate at epochs 2, 3, 4;
    # early stopping puts back the weights of the best epoch (1).
    assert _plateau_run(tmp_path / "whole", len(VAL_LOSSES)) == (4, pytest.approx(0.0125), 1.0)
    # Interrupted after epoch 2 and resumed at 3: the same, because the counters came back
    # (Keras alone would start counting again and train on past epoch 4).
    assert _plateau_run(tmp_path / "resumed", len(VAL_LOSSES), resume_after=3) == (4, pytest.approx(0.0125), 1.0)


def _history_rows(path):
    try:
        return read_history(path)
    except (OSError, ValueError):
        return []


@pytest.mark.full
@pytest.mark.tensorflow_only
def test_sigkill_mid_run_then_resume_has_every_epoch_once(tmp_path):
    out = str(tmp_path / "killed")
    command = [sys.executable, "-m", "kerascnn.cli", "train", "--epochs", "4", "--limit", "96",
               "--batch-size", "8", "--out", out, "--quiet"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = os.path.join(out, "history.csv")
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None and len(_history_rows(history)) < 1:
        time.sleep(0.05)
    time.sleep(0.3)  # somewhere inside epoch 2 (or its backup)
    assert process.poll() is None, "training finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not os.path.exists(os.path.join(out, "metrics.json"))
    done = len(_history_rows(history))
    assert 1 <= done < 4
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "resuming" in result.stdout
    assert [row["epoch"] for row in read_history(history)] == [0, 1, 2, 3]
    with open(os.path.join(out, "metrics.json")) as handle:
        metrics = json.load(handle)
    assert metrics["epochs_run"] == 4 and metrics["test_images"] == 96
    assert not os.path.exists(os.path.join(out, "backup"))
    leftovers = [name for name in os.listdir(out) if name.startswith(".")]
    assert leftovers == []


def test_tensorflows_retracing_warning_is_dropped_inside_the_training_core_only():
    """The core traces each phase's step anew, by design; on a few images an epoch TensorFlow warned
    (seen: `kerascnn finetune DaViT_T` on 24 images, fully unfrozen) with advice a user cannot act on."""
    import logging

    from kerascnn.train import retracing_warnings_dropped

    class Collect(logging.Handler):
        def __init__(self):
            super().__init__()
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    logger, collect = logging.getLogger("tensorflow"), Collect()
    warning = ("5 out of the last 9 calls to <function multi_step_on_iterator> triggered tf.function retracing. "
               "Tracing is expensive ...")
    logger.addHandler(collect)
    try:
        with retracing_warnings_dropped():
            logger.warning(warning)
            logger.warning("another warning")
        logger.warning(warning)
    finally:
        logger.removeHandler(collect)
    assert collect.messages == ["another warning", warning]
