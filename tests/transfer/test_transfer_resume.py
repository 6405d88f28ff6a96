"""A two-phase fine-tune interrupted inside each phase resumes there (in-process, every runtime).

The SIGKILL version, with real processes, is tests/test_reliability.py (full tier); here an
exception raised at the start of an epoch stands for the kill, which leaves the same files.
"""

import json
import os

import numpy as np
import pytest

from kerascnn import runs
from kerascnn import train as core
from kerascnn.callbacks import read_history
from kerascnn.runtime import keras
from kerascnn.transfer import fine_tune_run

pytestmark = pytest.mark.every_runtime

HEAD, TUNE, LR = 2, 2, 2e-3
OPTIONS = {"weights": "none", "image_size": 32, "head_epochs": HEAD, "epochs": TUNE, "lr": LR, "freeze": "first:2",
           "batch_size": 8, "limit": 32, "verbose": 0, "log": None}


class Killed(Exception):
    pass


def _interrupt_at(monkeypatch, epoch):
    """The next run stops when ``epoch`` begins, after everything before it was written."""

    class Kill(keras.callbacks.Callback):
        def on_epoch_begin(self, number, logs=None):
            if number == epoch:
                raise Killed

    real = core.default_callbacks
    monkeypatch.setattr(core, "default_callbacks", lambda **kwargs: [Kill(), *real(**kwargs)])


def test_interrupted_in_each_phase_resumes_in_that_phase(tmp_path, monkeypatch):
    out = str(tmp_path / "run")
    with monkeypatch.context() as patch:
        _interrupt_at(patch, 1)  # inside the head phase
        with pytest.raises(Killed):
            fine_tune_run("lenet5", "digits", out=out, **OPTIONS)
    assert [row["epoch"] for row in read_history(os.path.join(out, runs.HISTORY))] == [0]
    with monkeypatch.context() as patch:
        _interrupt_at(patch, HEAD + 1)  # inside the fine-tuning phase
        with pytest.raises(Killed):
            fine_tune_run("lenet5", "digits", out=out, **OPTIONS)
    with open(os.path.join(out, runs.STATE)) as handle:
        assert [phase["phase"] for phase in json.load(handle)["phases"]] == ["head"]

    result = fine_tune_run("lenet5", "digits", out=out, **OPTIONS)
    assert result.state == "resume"
    rows = read_history(os.path.join(out, runs.HISTORY))
    assert [row["epoch"] for row in rows] == list(range(HEAD + TUNE))
    assert np.allclose([row["learning_rate"] for row in rows], [LR] * HEAD + [LR / 10] * TUNE)
    head, tune = result.metrics["phases"]
    assert (head["first_epoch"], head["last_epoch"], tune["first_epoch"], tune["last_epoch"]) == (0, 1, 2, 3)
    assert tune["trainable"]["frozen_layers"] == 2 < head["trainable"]["frozen_layers"]
    assert not os.path.exists(os.path.join(out, runs.BACKUP)) and not os.path.exists(os.path.join(out, runs.STATE))
