"""`kerascnn evaluate/predict --precision`, `kerascnn export`, `kerascnn train --mixed-precision auto`."""

import json
import os

import numpy as np
import pytest

from kerascnn import cli

pytestmark = pytest.mark.tensorflow_only
TINY = ["--epochs", "1", "--limit", "64", "--batch-size", "16", "--quiet"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("deploy") / "run")
    assert cli.main(["train", *TINY, "--out", out]) == 0
    return out


def test_train_auto_precision_is_recorded(run_dir):
    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as handle:
        scaling = json.load(handle)["scaling"]
    # LeNet-5 is below MIN_GMACS: float32 on every machine
    assert scaling["mixed_precision"] is None and scaling["dtype_policy"] == "float32"


def test_evaluate_reports_both_accuracies(run_dir, capsys):
    assert cli.main(["evaluate", run_dir, "--limit", "64", "--precision", "bfloat16", "--compare-fp32", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["inference"]["precision"] == "bfloat16" and metrics["inference"]["reason"] == "asked for"
    with open(os.path.join(run_dir, "metrics.json"), encoding="utf-8") as handle:
        saved = json.load(handle)
    assert metrics["float32_test_accuracy"] == pytest.approx(saved["test_accuracy"])
    assert abs(metrics["test_accuracy"] - saved["test_accuracy"]) <= 2 / saved["test_images"]
    assert cli.main(["evaluate", run_dir, "--limit", "64", "--precision", "bfloat16", "--compare-fp32"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("inference: bfloat16 (asked for); no BatchNorm folded") and "float32 model as trained" in out


def test_no_optimize_runs_the_model_as_trained(run_dir, capsys):
    assert cli.main(["evaluate", run_dir, "--limit", "64", "--no-optimize", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    with open(os.path.join(run_dir, "metrics.json"), encoding="utf-8") as handle:
        saved = json.load(handle)
    assert metrics["inference"]["reason"] == "--no-optimize"
    assert metrics["test_loss"] == pytest.approx(saved["test_loss"], rel=1e-5)


def test_predict_with_precision(run_dir, capsys, tmp_path):
    from PIL import Image

    image = str(tmp_path / "blank.png")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(image)
    assert cli.main(["predict", run_dir, image, "--precision", "bfloat16", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert len(row["top"]) == 3 and abs(sum(t["probability"] for t in row["top"])) <= 1.0 + 1e-6


def test_export_command(run_dir, capsys, tmp_path):
    import onnxruntime

    out = str(tmp_path / "lenet.onnx")
    status = cli.main(["export", run_dir, "--format", "onnx", "--optimize", "--out", out])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert out in captured.out
    assert "input: float32 32x32x1 pixels 0-255" in captured.out
    session = onnxruntime.InferenceSession(out, providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[1:] == [32, 32, 1]
    assert cli.main(["export", run_dir, "--format", "keras"]) == 0
    assert os.path.isfile(os.path.join(run_dir, "model_export.keras"))


def test_exported_model_takes_pixels_as_image_files_hold_them(run_dir, capsys, tmp_path):
    """A `kerascnn train` model takes pixels / 255 (kerascnn.data.read_images); the exported one
    takes the pixels and divides them itself, unless --scaled-input."""
    from kerascnn import saving

    pixels = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 1)).astype("float32")
    trained = saving.load_model(os.path.join(run_dir, "model.keras"), compile=False)
    expected = np.asarray(trained(pixels / 255.0))
    for flags, given in (([], pixels), (["--scaled-input"], pixels / 255.0)):
        out = str(tmp_path / f"exported{len(flags)}.keras")
        assert cli.main(["export", run_dir, "--format", "keras", "--out", out, *flags]) == 0
        assert ("pixels scaled to [0, 1]" if flags else "pixels 0-255") in capsys.readouterr().out
        exported = saving.load_model(out, compile=False)
        np.testing.assert_allclose(np.asarray(exported(given)), expected, rtol=1e-5, atol=1e-6)


def test_export_errors_are_one_line(run_dir, capsys, tmp_path):
    assert cli.main(["export", run_dir, "--format", "litert", "--out", str(tmp_path / "m.onnx")]) == 2
    assert "must end with '.tflite'" in capsys.readouterr().err
    assert cli.main(["export", run_dir, "--format", "onnx", "--precision", "bfloat16"]) == 2
    assert "needs --optimize" in capsys.readouterr().err
