"""``kerascnn finetune``: the Keras 2 hand-over for kecam backbones, and a whole run on a zoo backbone."""

import json
import os
import subprocess

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


def test_finetune_run_directory(image_folder, tmp_path, capsys):
    out = tmp_path / "run"
    status = cli.main(["finetune", "lenet5", "--data", image_folder, "--image-size", "32", "--weights", "none",
                       "--freeze", "first:2", "--head-epochs", "1", "--epochs", "1", "--batch-size", "4",
                       "--out", str(out), "--quiet"])
    assert status == 0, capsys.readouterr().err
    assert {"config.json", "history.csv", "curves.png", "confusion_matrix.png", "metrics.json",
            "model.keras"} <= set(os.listdir(out))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and [p["phase"] for p in metrics["phases"]] == ["head", "fine_tune"]
    assert metrics["phases"][1]["trainable"]["frozen_layers"] == 2
    assert metrics["runtime"] == runtime.describe()
    assert "test accuracy" in capsys.readouterr().out


def test_bad_plan_is_a_usage_error(image_folder, tmp_path, capsys):
    status = cli.main(["finetune", "lenet5", "--data", image_folder, "--weights", "none", "--freeze", "first:x",
                       "--head-epochs", "0", "--epochs", "1", "--out", str(tmp_path / "bad"), "--quiet"])
    assert status == 2 and "first:x" in capsys.readouterr().err
