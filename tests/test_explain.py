"""``kerascnn explain RUN IMAGE...``: top classes on stdout, Grad-CAM and feature-map PNGs, one-line errors."""

import os
import shutil

import numpy as np
import pytest

from kerascnn import cli

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_and_images(tmp_path_factory):
    from PIL import Image
    from sklearn.datasets import load_digits

    folder = tmp_path_factory.mktemp("explain")
    out = str(folder / "run")
    assert cli.main(["train", "--epochs", "1", "--limit", "64", "--batch-size", "16", "--quiet", "--out", out]) == 0
    digits = load_digits()
    paths = []
    for index in (0, 1):
        path = str(folder / f"digit{digits.target[index]}.png")
        Image.fromarray((digits.images[index] * 255 / 16).astype("uint8")).save(path)
        paths.append(path)
    return out, paths, folder


@pytest.mark.every_runtime
def test_explain_writes_and_lists_the_pictures(run_and_images, capsys):
    run, images, folder = run_and_images
    out = str(folder / "pictures")
    assert cli.main(["explain", run, *images, "--out", out, "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6  # per image: the top classes, then its two files
    for index, image in enumerate(images):
        assert lines[3 * index].startswith(image + ": ") and lines[3 * index].count("%") == 2
        stem = os.path.splitext(os.path.basename(image))[0]
        for offset, suffix in ((1, "_gradcam.png"), (2, "_features.png")):
            path = lines[3 * index + offset].strip()
            assert path == os.path.join(out, stem + suffix)
            with open(path, "rb") as handle:
                assert handle.read(8) == PNG


def test_explain_with_a_layer_on_a_folder(run_and_images, capsys):
    """A folder stands for the images under it (kerascnn.data.image_files)."""
    run, images, folder = run_and_images
    scans = folder / "scans"
    scans.mkdir()
    shutil.copy(images[0], scans)
    out = str(folder / "c3")
    assert cli.main(["explain", run, str(scans), "--out", out, "--layer", "c3_conv"]) == 0
    assert capsys.readouterr().out.startswith(str(scans / os.path.basename(images[0])) + ": ")
    assert sorted(os.listdir(out)) == ["digit0_features.png", "digit0_gradcam.png"]


def test_an_empty_heatmap_is_said(run_and_images, capsys, monkeypatch):
    """A model whose score only falls as its last maps grow: ReLU maps, then global pooling and a
    dense layer of negative weights. Every Grad-CAM channel weight is negative, the map is 0."""
    from kerascnn.commands import explain
    from kerascnn.runtime import keras

    run, images, folder = run_and_images
    inputs = keras.Input((32, 32, 1))
    maps = keras.layers.Conv2D(4, 3, activation="relu", name="maps", bias_initializer="ones")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(maps)
    scores = keras.layers.Dense(10, activation="softmax", kernel_initializer=keras.initializers.Constant(-1.0))(pooled)
    model = keras.Model(inputs, scores)
    monkeypatch.setattr(explain, "load_model", lambda _run: model)
    assert cli.main(["explain", run, images[0], "--out", str(folder / "empty")]) == 0
    assert "the Grad-CAM map at maps is empty: no position there adds evidence" in capsys.readouterr().out


@pytest.mark.parametrize("arguments, message", [
    (["{missing_run}", "{image}"], "is not a kerascnn run directory"),
    (["{run}", "{missing_image}"], "does not exist"),
    (["{run}", "{not_an_image}"], "cannot read image"),
    (["{run}", "{image}", "--layer", "conv9"], "layer 'conv9' is not in model"),
    (["{run}", "{image}", "--top", "0"], "top"),
])
def test_bad_input_is_one_line_and_status_2(run_and_images, capsys, arguments, message):
    run, images, folder = run_and_images
    not_an_image = folder / "notes.png"
    not_an_image.write_text("not a picture")
    names = {"run": run, "image": images[0], "missing_run": str(folder / "nothing"),
             "missing_image": str(folder / "nothing.png"), "not_an_image": str(not_an_image)}
    status = cli.main(["explain", *[a.format(**names) for a in arguments], "--out", str(folder / "bad")])
    error = capsys.readouterr().err
    assert status == 2 and message in error
    assert error.startswith("kerascnn explain: error: ") and error.count("\n") == 1


def test_help_lists_explain(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "explain" in capsys.readouterr().out
