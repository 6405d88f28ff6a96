"""``--deterministic``: the same seed gives the same run, bit for bit, in every runtime.

Each run is its own process: TensorFlow's op determinism, once on, stays on for the process
(it would change the kernels of every later test on the same worker). Without the flag two
runs of one seed differ in the per-epoch losses (threaded kernels and tf.data's parallel
map; measured on the default job in all three runtimes, docs/training.md), which no test
asserts, since it is the absence of a guarantee.
"""

import json
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.full, pytest.mark.every_runtime]
SMALL = ["--epochs", "2", "--limit", "96", "--batch-size", "16", "--quiet", "--seed", "3"]


def _train(out):
    done = subprocess.run([sys.executable, "-m", "kerascnn.cli", "train", *SMALL, "--deterministic", "--out", out],
                          capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert done.returncode == 0, done.stderr[-3000:]
    with open(os.path.join(out, "history.csv")) as handle:
        history = handle.read()
    with open(os.path.join(out, "metrics.json")) as handle:
        metrics = json.load(handle)
    with open(os.path.join(out, "config.json")) as handle:
        config = json.load(handle)
    return history, metrics, config


def test_two_deterministic_runs_of_one_seed_are_identical(tmp_path):
    first, second = _train(str(tmp_path / "first")), _train(str(tmp_path / "second"))
    assert first[0].count("\n") == 3  # a header and two epochs
    assert first[0] == second[0]  # every epoch's loss and accuracy, as written
    assert first[1]["test_loss"] == second[1]["test_loss"]
    assert first[1]["test_accuracy"] == second[1]["test_accuracy"]
    assert first[2]["scaling"]["deterministic"] is True
