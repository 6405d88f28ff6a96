"""``kerascnn finetune``: the Keras 2 hand-over for kecam backbones, and a whole run on a zoo backbone."""

import contextlib
import io
import json
import os
import subprocess
import warnings

import pytest

from kerascnn import cli, runtime, saving
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
            "--epochs", "3", "--out", str(tmp_path / "run"), "--quiet", "--deterministic"]
    assert cli.main(argv) == 0
    [(command, env)] = calls
    assert env["TF_USE_LEGACY_KERAS"] == "1"
    assert command[1:3] == ["-m", "kerascnn.cli"]
    rerun = command[3:]
    parsed = cli.build_parser().parse_args(rerun)
    assert (parsed.backbone, parsed.image_size, parsed.freeze, parsed.epochs, parsed.quiet, parsed.deterministic) == (
        "kecam:DaViT_T", 280, "first:80", 3, True, True)
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


def test_a_finetune_run_evaluates_and_predicts_like_a_training_run(finished, image_folder):
    """`kerascnn evaluate` of a fine-tuning run raised KeyError: 'label_mode' (its recipe has none), and
    `kerascnn predict` showed a binary model's probability of its second class under the first's name."""
    from kerascnn.train import evaluate, predict  # noqa: PLC0415

    out = finished[0]
    recorded = json.loads((out / "metrics.json").read_text())
    metrics = evaluate(out)
    assert metrics["test_images"] == recorded["test_images"]
    assert metrics["test_accuracy"] == pytest.approx(recorded["test_accuracy"])
    image = os.path.join(image_folder, "bright", "0.png")
    [(path, top)] = predict(out, [image], top_k=2)
    # the binary head's one sigmoid unit is P(dark), the second class; predict named it "bright"
    assert path == image and sorted(name for name, _ in top) == ["bright", "dark"]
    assert sum(probability for _, probability in top) == pytest.approx(1.0)


def test_evaluate_refuses_data_of_other_classes(finished, image_folder, tmp_path):
    """The binary bright/dark model evaluated on folders named otherwise, or on three classes, gave
    a report under the wrong names (two) or a crash inside scikit-learn (three)."""
    import shutil  # noqa: PLC0415

    from kerascnn.train import evaluate  # noqa: PLC0415

    renamed = tmp_path / "renamed"
    for old, new in (("bright", "cats"), ("dark", "dogs")):
        shutil.copytree(os.path.join(image_folder, old), renamed / new)
    with pytest.raises(ValueError, match=r"classes \['cats', 'dogs'\] but the model .* trained on \['bright', 'dark'\]"):
        evaluate(finished[0], str(renamed))
    shutil.copytree(renamed / "cats", renamed / "birds")
    with pytest.raises(ValueError, match="--data has 3 classes but the model .* predicts 2"):
        evaluate(finished[0], str(renamed))


def test_a_finetune_run_exports_as_it_is(finished, capsys, tmp_path):
    """Its model takes pixels 0-255 already: exported unchanged, and --scaled-input is refused."""
    out = finished[0]
    target = str(tmp_path / "export.keras")
    assert cli.main(["export", str(out), "--format", "keras", "--out", target]) == 0
    assert "pixels 0-255" in capsys.readouterr().out
    assert "pixel_scaling" not in [layer.name for layer in saving.load_model(target, compile=False).layers]
    assert cli.main(["export", str(out), "--format", "keras", "--scaled-input"]) == 2
    assert "takes pixels 0-255 and preprocesses them itself" in capsys.readouterr().err


@pytest.mark.keras2  # Keras 2 has outputs of its own to keep out
def test_finetune_prints_no_spurious_output(finished):
    """Issue 18: Keras warned "Your input ran out of data" and Keras 2 counted "Unknown" steps
    (and printed "Found 12 files belonging to 2 classes." before the command's first line)."""
    _, _, _, printed, caught = finished
    assert "Epoch 2/2" in printed  # the progress bars are there ...
    assert "Unknown" not in printed  # ... with a known number of steps
    assert not [message for message in caught if "ran out of data" in message]
    assert printed.startswith("kerascnn finetune: lenet5"), printed[:300]
    # output that is not a terminal gets one line per epoch: no colour codes, carriage returns, backspaces
    assert not [code for code in ("\x1b[", "\r", "\b") if code in printed], repr(printed)


def test_finetune_says_when_each_phase_begins(finished):
    """A one-epoch phase gets no "Epoch" line from Keras: the command's own line marks each phase."""
    printed = finished[3]
    # LeNet-5's backbone on 3 channels: C1 6 * (25 * 3 + 1), C3 16 * (6 * 25 + 1), C5 120 * (16 * 25 + 1);
    # the binary head: 120 features -> 1 sigmoid unit. first:2 keeps C1 (and its pooling) frozen.
    c1, head = 6 * (25 * 3 + 1), 120 + 1
    total = c1 + 16 * (6 * 25 + 1) + 120 * (16 * 25 + 1) + head
    head_line = f"phase 1 of 2 (head): epochs 1-1, learning rate 0.001, {head:,} of {total:,} parameters trainable"
    tune_line = (f"phase 2 of 2 (fine_tune): epochs 2-2, learning rate 0.0001, {total - c1:,} of {total:,} "
                 "parameters trainable")
    assert head_line in printed and tune_line in printed, printed
    assert printed.index(head_line) < printed.index(tune_line) < printed.index("Epoch 2/2")


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
