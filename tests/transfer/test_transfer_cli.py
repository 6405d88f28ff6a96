"""``kerascnn finetune``: the Keras 2 hand-over for kecam backbones, and a whole run on a zoo backbone."""

import contextlib
import io
import json
import os
import subprocess
import warnings

import pytest

from kerascnn import cli, runtime
from kerascnn.commands import finetune

pytestmark = pytest.mark.tensorflow_only


def test_kecam_backbone_reruns_itself_on_keras2(monkeypatch, tmp_path):
    calls = []

    def fake_run(command, env, check):
        calls.append((command, env))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    argv = ["finetune", "kecam:DaViT_T", "--data", str(tmp_path), "--image-size", "280", "--freeze", "first:80",
            "--epochs", "3", "--out", str(tmp_path / "run"), "--quiet"]
    assert cli.main(argv) == 0
    [(command, env)] = calls
    assert env["TF_USE_LEGACY_KERAS"] == "1"
    assert command[1:3] == ["-m", "kerascnn.cli"]
    rerun = command[3:]
    parsed = cli.build_parser().parse_args(rerun)
    assert (parsed.backbone, parsed.image_size, parsed.freeze, parsed.epochs, parsed.quiet) == (
        "kecam:DaViT_T", 280, "first:80", 3, True)
    assert finetune.argv_of(parsed) == rerun


@pytest.fixture(scope="module")
def finished(image_folder, tmp_path_factory):
    """One whole `kerascnn finetune` with progress bars: its run directory, output and warnings."""
    out = tmp_path_factory.mktemp("finetune") / "run"
    argv = ["finetune", "lenet5", "--data", image_folder, "--image-size", "32", "--weights", "none",
            "--freeze", "first:2", "--head-epochs", "1", "--epochs", "1", "--batch-size", "4", "--out", str(out)]
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(io.StringIO()) as printed:
        warnings.simplefilter("always")
        status = cli.main(argv)
    return out, argv, status, printed.getvalue(), [str(w.message) for w in caught]


def test_finetune_run_directory(finished):
    out, _, status, printed, _ = finished
    assert status == 0
    assert {"config.json", "history.csv", "curves.png", "confusion_matrix.png", "metrics.json",
            "model.keras"} <= set(os.listdir(out))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and [p["phase"] for p in metrics["phases"]] == ["head", "fine_tune"]
    assert metrics["phases"][1]["trainable"]["frozen_layers"] == 2
    assert metrics["runtime"] == runtime.describe()
    assert "test accuracy" in printed


def test_finetune_prints_no_spurious_output(finished):
    """Issue 18: Keras warned "Your input ran out of data" and Keras 2 counted "Unknown" steps."""
    _, _, _, printed, caught = finished
    assert "Epoch 2/2" in printed  # the progress bars are there ...
    assert "Unknown" not in printed  # ... with a known number of steps
    assert not [message for message in caught if "ran out of data" in message]


def test_finetune_again_reports_and_refuses_another_configuration(finished, capsys):
    out, argv, _, _, _ = finished
    before = (out / "metrics.json").read_text()
    assert cli.main(argv + ["--quiet"]) == 0
    assert "already holds a finished run" in capsys.readouterr().out
    assert cli.main([*argv, "--lr", "0.01", "--quiet"]) == 2
    error = capsys.readouterr().err
    assert "different configuration" in error and "lr: None in the directory, 0.01 now" in error
    assert "--overwrite" in error and (out / "metrics.json").read_text() == before


def test_data_file_that_is_not_an_npz_archive_names_data(tmp_path, capsys):
    fake = tmp_path / "images.npz"
    fake.write_text("not an archive")
    status = cli.main(["finetune", "lenet5", "--data", str(fake), "--weights", "none", "--image-size", "32",
                       "--out", str(tmp_path / "run"), "--quiet"])
    error = capsys.readouterr().err
    assert status == 2 and f"--data {str(fake)!r} is not an .npz archive" in error and "pickle" not in error
    assert not (tmp_path / "run").exists()


def test_bad_plan_is_a_usage_error(image_folder, tmp_path, capsys):
    status = cli.main(["finetune", "lenet5", "--data", image_folder, "--weights", "none", "--freeze", "first:x",
                       "--head-epochs", "0", "--epochs", "1", "--out", str(tmp_path / "bad"), "--quiet"])
    assert status == 2 and "first:x" in capsys.readouterr().err
