"""Integrity under interruption (issue 11): a training process SIGKILLed at several random
moments resumes each time with no lost or duplicated epoch and no corrupt file.

tests/test_train.py kills once, inside epoch 2; here three kill moments are drawn from a
seeded RNG (a number of finished epochs to wait for, then a delay that lands anywhere in
the next epoch, its checkpoint or its backup), and every file is checked after each kill.
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
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 180
        def waiting():  # target 0: until the run directory exists (kill in start-up or epoch 1)
            return len(_rows(history)) < target if target else not os.path.exists(os.path.join(out, "config.json"))

        while time.time() < deadline and process.poll() is None and waiting():
            time.sleep(0.02)
        time.sleep(delay)
        assert process.poll() is None, f"kill {kill + 1}: training finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait()
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
