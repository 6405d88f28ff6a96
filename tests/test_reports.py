"""Run directories show their mistakes: misclassified.png, and roc.png/pr.png with AUC and AP for two classes.

The reference figures are worked out by hand (ROC AUC = the share of (positive, negative)
pairs ranked correctly; average precision = sum over positives of the precision at its rank,
divided by the number of positives).
"""

import json
import os

import numpy as np
import pytest

from kerascnn import cli
from kerascnn.reports import class_probabilities, write_reports

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    with open(path, "rb") as handle:
        return handle.read(8) == PNG


def test_two_class_figures_by_hand(tmp_path):
    # ranked by P(class 1): 0.95 (1), 0.8 (0), 0.6 (1), 0.3 (1), 0.1 (0)
    probabilities = np.array([[0.95], [0.8], [0.6], [0.3], [0.1]])
    labels = np.array([1, 0, 1, 1, 0])
    metrics = write_reports(str(tmp_path), probabilities, labels, np.zeros((5, 6, 6, 3)), ["no", "yes"])
    # pairs (positive, negative): 0.95 beats both, 0.6 and 0.3 beat only 0.1 -> 4 of 6
    assert metrics["roc_auc"] == pytest.approx(4 / 6)
    # precision at each positive: 1/1, 2/3, 3/4 -> mean 0.8056
    assert metrics["average_precision"] == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)
    assert metrics["positive_class"] == "yes" and metrics["misclassified"] == 2  # 0.8 (0) and 0.3 (1)
    assert sorted(os.listdir(tmp_path)) == ["misclassified.png", "pr.png", "roc.png"]
    assert all(_is_png(tmp_path / name) for name in os.listdir(tmp_path))
    # a two-way softmax is the same task
    same = write_reports(str(tmp_path), class_probabilities(probabilities), labels, np.zeros((5, 6, 6, 3)),
                         ["no", "yes"])
    assert same == metrics


def test_multi_class_draws_the_worst_mistakes_first(tmp_path, monkeypatch):
    import kerascnn.reports as reports

    drawn = {}
    monkeypatch.setattr(reports, "_misclassified", lambda folder, images, truth, *rest: drawn.update(
        images=np.asarray(images), truth=truth))
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.5, 0.4, 0.1], [0.2, 0.7, 0.1]])
    labels = np.array([0, 1, 1, 0])  # wrong: image 1 (P(true) 0.1), 2 (0.4), 3 (0.2)
    images = np.arange(4)[:, None, None, None] * np.ones((4, 2, 2, 1))
    metrics = write_reports(str(tmp_path), probabilities, labels, images, ["a", "b", "c"], worst=2)
    assert metrics == {"misclassified": 3}  # no ROC for three classes
    assert drawn["images"][:, 0, 0, 0].tolist() == [1, 3] and drawn["truth"].tolist() == [1, 0]
    with pytest.raises(ValueError, match="class_names has 2 names"):
        write_reports(str(tmp_path), probabilities, labels, images, ["a", "b"])
    with pytest.raises(ValueError, match="labels has 3 entries"):
        write_reports(str(tmp_path), probabilities, labels[:3], images, ["a", "b", "c"])


def test_no_mistakes_and_a_single_test_class(tmp_path):
    metrics = write_reports(str(tmp_path), np.array([[0.9], [0.8]]), np.array([1, 1]), np.zeros((2, 4, 4, 1)),
                            ["no", "yes"])
    assert metrics == {"misclassified": 0, "positive_class": "yes", "roc_auc": None, "average_precision": None}
    assert os.listdir(tmp_path) == ["misclassified.png"]


@pytest.mark.every_runtime
def test_train_writes_roc_and_pr_for_two_classes(tmp_path):
    from kerascnn.train import train

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 120)
    images = rng.normal(0.2 + 0.6 * labels[:, None, None], 0.1, (120, 32, 32)).clip(0, 1).astype("float32")
    result = train("lenet5", (images, labels), epochs=2, batch_size=16, augment="none", out=str(tmp_path / "run"),
                   verbose=0, log=None)
    for name in ("misclassified.png", "roc.png", "pr.png"):
        assert _is_png(os.path.join(result.path, name))
    with open(os.path.join(result.path, "metrics.json")) as handle:
        metrics = json.load(handle)
    assert 0.0 <= metrics["roc_auc"] <= 1.0 and 0.0 <= metrics["average_precision"] <= 1.0
    assert metrics["positive_class"] == "1" and set(metrics["per_class"]) == {"0", "1"}


@pytest.mark.tensorflow_only
def test_finetune_writes_roc_and_pr(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, name in enumerate(("dark", "bright")):
        os.makedirs(tmp_path / "data" / name)
        for index in range(8):
            pixels = np.clip(rng.normal(60 + 130 * label, 20, (32, 32, 3)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(tmp_path / "data" / name / f"{index}.png")
    out = tmp_path / "run"
    status = cli.main(["finetune", "lenet5", "--data", str(tmp_path / "data"), "--image-size", "32",
                       "--weights", "none", "--head-epochs", "1", "--epochs", "0", "--batch-size", "4",
                       "--validation-split", "0", "--out", str(out), "--quiet"])
    assert status == 0, capsys.readouterr().err
    assert {"misclassified.png", "roc.png", "pr.png"} <= set(os.listdir(out))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["positive_class"] == "dark" and metrics["roc_auc"] is not None


def test_top_classes_reads_a_sigmoid_unit_as_the_second_class():
    """`kerascnn predict` showed P(malignant) = 0.9 as "benign 90%" (`explain` had it right)."""
    from kerascnn.reports import top_classes

    assert top_classes([0.9], ["benign", "malignant"], 3) == [("malignant", 0.9), ("benign", pytest.approx(0.1))]
    assert top_classes([0.1, 0.7, 0.2], ["a", "b"], 2) == [("b", 0.7), ("2", 0.2)]  # unnamed: the index
