"""`kerascnn train`, `evaluate`, `predict` from the shell: a tiny run, and one-line errors with exit 2."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kerascnn import cli
from kerascnn.commands.train import progress_verbosity

pytestmark = pytest.mark.tensorflow_only
TINY = ["--epochs", "1", "--limit", "32", "--batch-size", "16", "--quiet"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("cli") / "run")
    assert cli.main(["train", *TINY, "--out", out]) == 0
    return out


def test_help_lists_train_evaluate_predict(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in ("train", "evaluate", "predict"):
        assert command in out
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = capsys.readouterr().out
    for flag in ("--data", "--epochs", "--batch-size", "--lr", "--optimizer", "--image-size", "--augment",
                 "--seed", "--out", "--resume", "--overwrite", "--tensorboard"):
        assert flag in out


def test_progress_bars_live_on_a_terminal_and_one_line_per_epoch_elsewhere(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdout", Terminal())
    assert progress_verbosity(quiet=False) == 1  # Keras' live bar
    assert progress_verbosity(quiet=True) == 0
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # a file or a pipe
    assert progress_verbosity(quiet=False) == 2


def test_train_prints_what_happened(run_dir, capsys):
    assert sorted(os.listdir(run_dir)) == ["config.json", "confusion_matrix.png", "curves.png", "history.csv",
                                           "metrics.json", "misclassified.png", "model.keras",
                                           "model.keras.best.json"]
    # the same command again reports the finished run instead of training
    assert cli.main(["train", *TINY, "--out", run_dir]) == 0
    out = capsys.readouterr().out
    assert "already holds a finished run" in out and "test accuracy" in out and "precision" in out


def test_evaluate_and_predict_commands(run_dir, capsys, tmp_path):
    assert cli.main(["evaluate", run_dir, "--limit", "32", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    with open(os.path.join(run_dir, "metrics.json")) as handle:
        assert metrics["test_accuracy"] == pytest.approx(json.load(handle)["test_accuracy"])
    from PIL import Image

    image = str(tmp_path / "seven.png")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(image)
    assert cli.main(["predict", run_dir, image, "--top-k", "2"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(image + ": ") and line.count("%") == 2


def test_predict_takes_folders(run_dir, capsys, tmp_path):
    """A folder stands for every image under it, sorted (sub-folders too, other files left out)."""
    from PIL import Image

    for name in ("b/two.png", "a/one.jpg", "a/deeper/three.bmp"):
        os.makedirs(tmp_path / "scans" / os.path.dirname(name), exist_ok=True)
        Image.fromarray(np.full((40, 40), 200, np.uint8)).save(tmp_path / "scans" / name)
    (tmp_path / "scans" / "a" / "notes.txt").write_text("not an image")
    alone = str(tmp_path / "alone.png")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(alone)
    assert cli.main(["predict", run_dir, alone, str(tmp_path / "scans"), "--json"]) == 0
    shown = [entry["image"] for entry in json.loads(capsys.readouterr().out)]
    scans = str(tmp_path / "scans")
    assert shown == [alone] + [os.path.join(scans, name) for name in ("a/deeper/three.bmp", "a/one.jpg", "b/two.png")]
    (tmp_path / "nothing").mkdir()
    _fails(capsys, ["predict", run_dir, str(tmp_path / "nothing")], "holds no images", str(tmp_path / "nothing"))


@pytest.mark.full
def test_evaluate_command_with_cached_onednn_weights_gives_the_runs_accuracy(run_dir):
    # A fresh `kerascnn evaluate` process lets oneDNN cache the weights (TF_ONEDNN_ASSUME_FROZEN_WEIGHTS):
    # the figures must still be the model's own.
    env = {k: v for k, v in os.environ.items() if k != "TF_ONEDNN_ASSUME_FROZEN_WEIGHTS"}
    result = subprocess.run([sys.executable, "-m", "kerascnn.cli", "evaluate", run_dir, "--limit", "32", "--json"],
                            capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    with open(os.path.join(run_dir, "metrics.json")) as handle:
        saved = json.load(handle)
    assert metrics["test_accuracy"] == pytest.approx(saved["test_accuracy"])
    assert metrics["test_loss"] == pytest.approx(saved["test_loss"], rel=1e-4)


def _fails(capsys, argv, *fragments):
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.count("\n") == 0 and err.startswith(f"kerascnn {argv[0]}: error: "), err
    for fragment in fragments:
        assert fragment in err
    return err


def test_bad_input_is_one_line_exit_2_and_writes_nothing(capsys, tmp_path, run_dir):
    out = str(tmp_path / "new")
    _fails(capsys, ["train", "lenet", "--out", out], "Did you mean 'lenet5'")
    _fails(capsys, ["train", "--data", "digitz", "--out", out], "neither a dataset name")
    _fails(capsys, ["train", "--batch-size", "64", "--limit", "32", "--out", out], "--batch-size")
    (tmp_path / "empty" / "cats").mkdir(parents=True)
    _fails(capsys, ["train", "--data", str(tmp_path / "empty"), "--out", out], "no images")
    _fails(capsys, ["train", "--out", "/proc/kerascnn/run"], "not writable")
    _fails(capsys, ["train", "--augment", "spin", "--out", out], "augmentation")
    _fails(capsys, ["train", *TINY, "--epochs", "2", "--out", run_dir], "different configuration", "--overwrite")
    _fails(capsys, ["evaluate", str(tmp_path)], "not a kerascnn run directory")
    _fails(capsys, ["predict", run_dir, str(tmp_path / "missing.png")], "does not exist")
    assert sorted(os.listdir(tmp_path)) == ["empty"]
