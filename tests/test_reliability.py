"""Integrity under interruption (issue 11): a training process SIGKILLed at several random
moments resumes each time with no lost or duplicated epoch and no corrupt file.

tests/test_train.py kills once, inside epoch 2; here three kill moments are drawn from a
seeded RNG (a number of finished epochs to wait for, then a delay that lands anywhere in
the next epoch, its checkpoint or its backup), and every file is checked after each kill.
A two-phase ``kerascnn finetune`` is killed once in each phase (issue 18) and must resume
in the right phase, with that phase's learning rate and frozen layers.
"""

import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from kerascnn import runs
from kerascnn.callbacks import read_history

EPOCHS = 6
KILLS = 3


def _rows(path):
    try:
        return read_history(path)
    except (OSError, ValueError):
        return []


def _check_files(out, finished):
    """Whatever the moment of the kill, each file that exists is complete and consistent."""
    history = read_history(os.path.join(out, runs.HISTORY)) if os.path.exists(os.path.join(out, runs.HISTORY)) else []
    epochs = [row["epoch"] for row in history]
    assert epochs == list(range(len(epochs))), f"lost or duplicated epochs in history.csv: {epochs}"
    assert all(np.isfinite(row["loss"]) for row in history)
    with open(os.path.join(out, "config.json")) as handle:
        assert json.load(handle)["recipe"]["epochs"] == EPOCHS
    model = os.path.join(out, runs.MODEL)
    if os.path.exists(model):
        assert zipfile.is_zipfile(model) and zipfile.ZipFile(model).testzip() is None, "corrupt model.keras"
        with open(model + ".best.json") as handle:
            best = json.load(handle)
        assert 0 <= best["epoch"] < max(len(epochs), 1) + 1 and np.isfinite(best["value"])
    if not finished:
        assert not os.path.exists(os.path.join(out, runs.METRICS)), "metrics.json before the run finished"
    return epochs


def _start_and_kill(command, env, history, finished_epochs, delay, config):
    """Start ``command``, wait for ``finished_epochs`` rows in ``history`` (0: for ``config``), sleep ``delay``, kill."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180

    def waiting():
        return len(_rows(history)) < finished_epochs if finished_epochs else not os.path.exists(config)

    while time.time() < deadline and process.poll() is None and waiting():
        time.sleep(0.02)
    time.sleep(delay)
    assert process.poll() is None, "training finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.full
@pytest.mark.tensorflow_only
def test_sigkill_at_random_moments_then_resume(tmp_path):
    rng = np.random.default_rng(11)
    out = str(tmp_path / "run")
    command = [sys.executable, "-m", "kerascnn.cli", "train", "--epochs", str(EPOCHS), "--limit", "48",
               "--batch-size", "8", "--validation-split", "0.2", "--out", out, "--quiet"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    history = os.path.join(out, runs.HISTORY)
    killed_after = []
    for kill in range(KILLS):
        before = len(_rows(history))
        # wait for 0 or 1 more finished epoch, then kill somewhere inside the following one
        target = min(before + int(rng.integers(0, 2)), EPOCHS - 2)
        delay = float(rng.uniform(0.0, 0.8))
        # target 0: until the run directory exists (kill in start-up or epoch 1)
        _start_and_kill(command, env, history, target, delay, os.path.join(out, "config.json"))
        killed_after.append(len(_check_files(out, finished=False)))
    assert killed_after[-1] < EPOCHS
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "resuming" in result.stdout
    assert _check_files(out, finished=True) == list(range(EPOCHS))
    with open(os.path.join(out, runs.METRICS)) as handle:
        metrics = json.load(handle)
    assert metrics["epochs_run"] == EPOCHS
    assert not os.path.exists(os.path.join(out, runs.BACKUP))
    assert [name for name in os.listdir(out) if name.startswith(".")] == [], "temporary files left over"


HEAD, TUNE, HEAD_LR = 3, 3, 2e-3


@pytest.mark.full
@pytest.mark.tensorflow_only
def test_finetune_killed_in_each_phase_resumes_in_that_phase(tmp_path):
    out = str(tmp_path / "finetune")
    command = [sys.executable, "-m", "kerascnn.cli", "finetune", "lenet5", "--data", "digits", "--weights", "none",
               "--image-size", "32", "--head-epochs", str(HEAD), "--epochs", str(TUNE), "--lr", str(HEAD_LR),
               "--freeze", "first:2", "--batch-size", "8", "--limit", "96", "--out", out]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    history, state = os.path.join(out, runs.HISTORY), os.path.join(out, runs.STATE)
    _start_and_kill(command + ["--quiet"], env, history, 1, 0.3, None)  # inside the head phase
    assert 1 <= len(_rows(history)) < HEAD and not os.path.exists(state)
    _start_and_kill(command + ["--quiet"], env, history, HEAD + 1, 0.3, None)  # inside the fine-tuning phase
    assert HEAD + 1 <= len(_rows(history)) < HEAD + TUNE
    with open(state) as handle:
        assert [phase["phase"] for phase in json.load(handle)["phases"]] == ["head"]

    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)  # with progress bars
    assert result.returncode == 0, result.stderr[-2000:]
    assert "resuming" in result.stdout
    output = result.stdout + result.stderr
    assert "ran out of data" not in output and "Unknown" not in output, output[-2000:]
    rows = read_history(history)
    assert [row["epoch"] for row in rows] == list(range(HEAD + TUNE))
    # no ReduceLROnPlateau step is possible in 3 epochs (patience 3): each phase keeps its own rate
    assert np.allclose([row["learning_rate"] for row in rows], [HEAD_LR] * HEAD + [HEAD_LR / 10] * TUNE)
    with open(os.path.join(out, runs.METRICS)) as handle:
        metrics = json.load(handle)
    head, tune = metrics["phases"]
    assert (head["phase"], head["first_epoch"], head["last_epoch"]) == ("head", 0, HEAD - 1)
    assert (tune["phase"], tune["first_epoch"], tune["last_epoch"]) == ("fine_tune", HEAD, HEAD + TUNE - 1)
    assert head["trainable"]["frozen_layers"] == head["trainable"]["backbone_layers"]  # all frozen
    assert tune["trainable"]["frozen_layers"] == 2  # --freeze first:2, applied again after the kill
    assert metrics["epochs_run"] == HEAD + TUNE
    assert not os.path.exists(os.path.join(out, runs.BACKUP)) and not os.path.exists(state)
