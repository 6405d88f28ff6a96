"""Bad input everywhere (issue 11): each case raises ValueError/TypeError naming the argument,
the value and what is accepted; the CLI prints one line and exits with status 2.

docs/errors.md lists these cases; keep the two in step.
"""

import os
import re
from unittest import mock

import numpy as np
import pytest

import kerascnn
from kerascnn import cli, runs
from kerascnn.data import load_data, parse_augmentation
from kerascnn.heads import head_spec, make_optimizer
from kerascnn.transfer.weights import WeightsError, fetch, hash_file

PNG_HEADER = b"\x89PNG\r\n\x1a\n"


def raises(error, *patterns):
    """pytest.raises(error) whose message contains every regex of ``patterns``."""
    return pytest.raises(error, match="(?s)" + "".join(f"(?=.*{p})" for p in patterns))


# ------------------------------------------------------------------ builders: shapes, sizes, counts

BUILDER_CASES = [
    # (builder, kwargs, exception, patterns: argument, value, what is accepted)
    ("lenet5", dict(input_shape=(31, 32, 1)), ValueError, ("input_shape", r"\(31, 32, 1\)", "minimum is 32x32")),
    ("lenet5", dict(input_shape=(32, 32)), ValueError, ("input_shape", r"\(32, 32\)", "height, width, channels")),
    ("lenet5", dict(input_shape=(1, 32, 32, 1)), ValueError, ("input_shape", r"\(1, 32, 32, 1\)")),
    ("lenet5", dict(input_shape=32), ValueError, ("input_shape", "32", "height, width, channels")),
    ("lenet5", dict(input_shape=(32, 32, 0)), ValueError, ("input_shape", "channels", "positive integer", "0")),
    ("lenet5", dict(input_shape=(-32, 32, 1)), ValueError, ("input_shape", "height", "positive integer", "-32")),
    ("lenet5", dict(input_shape=(32.0, 32, 1)), ValueError, ("input_shape", "height", "positive integer", "32.0")),
    ("resnet18", dict(input_shape=(0, 0, 3)), ValueError, ("input_shape", "height", "positive integer")),
    ("vgg11", dict(input_shape=(31, 64, 3), base_dim=2, fc_units=()), ValueError,
     ("input_shape", "minimum is 32x32")),
    ("alexnet", dict(input_shape=(66, 66, 3)), ValueError, ("input_shape", "minimum is 67x67")),
    ("googlenet", dict(input_shape=(78, 78, 3), aux_classifiers=True), ValueError,
     ("input_shape", "aux_classifiers", "minimum is 79x79")),
    ("lenet5", dict(num_classes=-1), ValueError, ("num_classes", "integer >= 0", "-1")),
    ("lenet5", dict(num_classes=2.0), TypeError, ("num_classes", "must be an integer", "2.0")),
    ("lenet5", dict(num_classes="10"), TypeError, ("num_classes", "must be an integer", "'10'")),
    ("lenet5", dict(include_top="yes"), TypeError, ("include_top", "True or False", "'yes'")),
    ("vgg11", dict(input_shape=(32, 32, 3), base_dim=0), ValueError, ("base_dim", ">= 1", "0")),
    ("vgg11", dict(input_shape=(32, 32, 3), base_dim=8.0), TypeError, ("base_dim", "integer", "8.0")),
    ("vgg11", dict(input_shape=(32, 32, 3), base_dim=2, fc_units=(8, -1)), ValueError,
     ("fc_units", "positive integers", r"\(8, -1\)")),
    ("alexnet", dict(fc_units=4096), ValueError, ("fc_units", "positive integers", "4096")),
    ("lenet5", dict(dropout=1.5), ValueError, ("dropout", r"\[0.0, 1.0\)", "1.5")),
    ("lenet5", dict(learning_rate=0), ValueError, ("learning_rate", "positive number", "0")),
    ("lenet5", dict(lernin_rate=0.1), TypeError, ("lernin_rate", "learning_rate")),
    # unknown names
    ("lenet5", dict(pooling="mean"), ValueError, ("pooling", "'mean'", "'avg', 'max'")),
    ("lenet5", dict(task="detection"), ValueError, ("task", "'detection'", "'classification', 'regression'")),
    ("lenet5", dict(classifier_activation="softmaxx"), ValueError,
     ("classifier_activation", "'softmaxx'", "'softmax'")),
    ("lenet5", dict(classifier_activation=3), TypeError, ("classifier_activation", "string or None", "3")),
    ("lenet5", dict(label_mode="onehot"), ValueError, ("label_mode", "'onehot'", "'int', 'categorical'")),
    ("lenet5", dict(optimizer="adamx"), ValueError, ("optimizer", "'adamx'", "'adam'")),
    ("alexnet", dict(variant="caffe"), ValueError, ("variant", "'caffe'", "'paper', 'torchvision'")),
    ("googlenet", dict(variant="v3"), ValueError, ("variant", "'v3'", "'paper', 'torchvision'")),
    ("resnet50", dict(stride_in="v2"), ValueError, ("stride_in", "'v2'", "'v1'")),
    ("lenet5", dict(weights="imagenet"), ValueError, ("weights='imagenet'", "lenet5", "vgg16")),
    ("lenet5", dict(weights=3), TypeError, ("weights", "3", "file path")),
    ("lenet5", dict(weights="/nonexistent/w.weights.h5"), ValueError, ("weights=", "no such file")),
]


@pytest.mark.every_runtime
@pytest.mark.parametrize("name, kwargs, error, patterns", BUILDER_CASES,
                         ids=[f"{c[0]}-{'-'.join(map(str, c[1]))}" for c in BUILDER_CASES])
def test_builder_bad_argument(name, kwargs, error, patterns):
    with raises(error, *patterns):
        kerascnn.build(name, compile=False, **kwargs) if "optimizer" not in kwargs and \
            "learning_rate" not in kwargs else kerascnn.build(name, **kwargs)


@pytest.mark.every_runtime
@pytest.mark.parametrize("call, error, patterns", [
    (lambda: kerascnn.build("lenet6"), ValueError, ("Unknown model 'lenet6'", "Did you mean 'lenet5'", "Accepted")),
    (lambda: kerascnn.model_card("vgg17"), ValueError, ("Unknown model 'vgg17'", "vgg16")),
    (lambda: head_spec(0), ValueError, ("num_classes", ">= 1", "0")),
    (lambda: make_optimizer("sgd", learning_rate=-0.1), ValueError, ("learning_rate", "positive", "-0.1")),
    (lambda: parse_augmentation("wild"), ValueError, ("augmentation", "'wild'", "mild")),
    (lambda: load_data("mnistt"), ValueError, ("'mnistt'", "digits, mnist")),
], ids=["model", "card", "head_units", "learning_rate", "augmentation", "dataset"])
def test_unknown_names_and_counts(call, error, patterns):
    with raises(error, *patterns):
        call()


def test_unknown_backbone_and_strategy():
    from kerascnn.distribute import setup
    from kerascnn.transfer import backbones

    with raises(ValueError, "Unknown backbone 'ResNet51'", "Did you mean", "Accepted"):
        backbones.backbone("ResNet51", weights=None)
    with raises(ValueError, "distribute='mirroredd'", "'none', 'mirrored', 'multiworker'"):
        setup("mirroredd")


# ------------------------------------------------------------------ weights files


@pytest.fixture(scope="module")
def lenet_files(tmp_path_factory):
    """A LeNet-5 (10 classes, 1 channel) saved as .weights.h5 and .keras, plus broken copies."""
    folder = tmp_path_factory.mktemp("weights")
    model = kerascnn.lenet5(compile=False)
    files = {"weights": str(folder / "lenet.weights.h5"), "keras": str(folder / "lenet.keras")}
    model.save_weights(files["weights"])
    model.save(files["keras"])
    for kind, path in list(files.items()):
        data = open(path, "rb").read()
        files[f"truncated_{kind}"] = path.replace("lenet.", "truncated.")
        with open(files[f"truncated_{kind}"], "wb") as handle:
            handle.write(data[: len(data) // 2])
        files[f"garbage_{kind}"] = path.replace("lenet.", "garbage.")
        with open(files[f"garbage_{kind}"], "wb") as handle:
            handle.write(b"this is not a weights file\n" * 20)
    return files


@pytest.mark.every_runtime
def test_weights_of_the_same_config_load(lenet_files):
    source = kerascnn.lenet5(compile=False, weights=lenet_files["weights"])
    assert all(np.isfinite(w).all() for w in source.get_weights())


@pytest.mark.every_runtime
@pytest.mark.parametrize("build_kwargs, layer", [
    (dict(name="lenet5", num_classes=5), "predictions"),            # another number of classes
    (dict(name="lenet5", input_shape=(32, 32, 3)), "c1_conv"),      # 3 channels instead of 1
    (dict(name="mnist_cnn"), "conv1"),                              # other layers altogether
], ids=["classes", "channels", "layers"])
def test_weights_of_another_config_are_refused(lenet_files, build_kwargs, layer):
    kwargs = dict(build_kwargs)
    name = kwargs.pop("name")
    with raises(ValueError, "weights=", "lenet.weights.h5", "do not fit", layer):
        kerascnn.build(name, compile=False, weights=lenet_files["weights"], **kwargs)


@pytest.mark.every_runtime
def test_features_only_weights_do_not_fill_a_full_model(tmp_path):
    path = str(tmp_path / "features.weights.h5")
    kerascnn.lenet5(include_top=False, compile=False).save_weights(path)
    with raises(ValueError, "features.weights.h5", "do not fit", "f6_dense"):
        kerascnn.lenet5(compile=False, weights=path)


@pytest.mark.every_runtime
@pytest.mark.parametrize("kind, patterns", [
    ("garbage_weights", ("garbage.weights.h5", "not an HDF5 weights file", "truncated or corrupt")),
    ("truncated_weights", ("truncated.weights.h5", "truncated")),
    ("garbage_keras", ("garbage.keras", "truncated or corrupt")),
    ("truncated_keras", ("truncated.keras", "truncated")),
])
def test_corrupt_or_truncated_weights_file(lenet_files, kind, patterns):
    with raises(ValueError, "weights=", *patterns):
        kerascnn.lenet5(compile=False, weights=lenet_files[kind])


def test_cached_download_with_a_wrong_hash(tmp_path):
    good = tmp_path / "origin" / "w.bin"
    good.parent.mkdir()
    good.write_bytes(b"the right weights")
    expected = hash_file(str(good))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "w.bin").write_bytes(b"a corrupted cached copy")
    # the origin is gone: the stale copy is never used, and the error says why
    with raises(WeightsError, "w.bin", "the cached copy has the wrong hash"):
        fetch("w.bin", (tmp_path / "gone" / "w.bin").as_uri(), expected, cache_dir=str(cache))
    assert isinstance(WeightsError("x"), ValueError)
    # a download with the wrong hash never replaces anything
    with raises(WeightsError, "w.bin", "corrupt or not the expected one", expected):
        fetch("w.bin", good.as_uri(), "0" * 32, cache_dir=str(cache))
    assert (cache / "w.bin").read_bytes() == b"a corrupted cached copy"
    assert sorted(os.listdir(cache)) == ["w.bin"]           # no temporary file left over
    # with the origin back, the bad copy is replaced by the checked one
    assert fetch("w.bin", good.as_uri(), expected, cache_dir=str(cache)) == str(cache / "w.bin")
    assert (cache / "w.bin").read_bytes() == b"the right weights"


# ------------------------------------------------------------------ image folders


def _png(path, rng):
    from PIL import Image

    Image.fromarray((rng.random((12, 12, 3)) * 255).astype("uint8")).save(path)


def _folder(root, classes, per_class=4):
    rng = np.random.default_rng(0)
    for name in classes:
        os.makedirs(root / name, exist_ok=True)
        for index in range(per_class):
            _png(root / name / f"{index}.png", rng)
    return root


def test_empty_image_folder(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "notes.txt").write_text("no images")
    with raises(ValueError, "--data", re.escape(repr(str(tmp_path))), "no images in class sub-folders",
                "data/cat/1.jpg"):
        load_data(str(tmp_path), (12, 12, 3))


def test_single_class_image_folder(tmp_path):
    _folder(tmp_path, ["cat"])
    with raises(ValueError, "--data", "single class", "'cat'", "at least two"):
        load_data(str(tmp_path), (12, 12, 3))


def test_unreadable_image_in_a_folder(tmp_path):
    _folder(tmp_path, ["cat", "dog"])
    (tmp_path / "dog" / "broken.png").write_bytes(PNG_HEADER + b"garbage, not image data")
    (tmp_path / "cat" / "empty.jpg").write_bytes(b"")
    with raises(ValueError, "--data", "2 unreadable image file", "broken.png", "empty.jpg", "accepted"):
        load_data(str(tmp_path), (12, 12, 3))


def test_cli_prints_one_line_and_exits_2(tmp_path, capsys):
    _folder(tmp_path / "data", ["cat", "dog"])
    (tmp_path / "data" / "dog" / "broken.png").write_bytes(PNG_HEADER + b"garbage")
    cases = [
        (["train", "lenet6", "--out", str(tmp_path / "a")], ("Unknown model 'lenet6'",)),
        (["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "b")], ("missing",)),
        (["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "c")], ("broken.png",)),
        (["train", "--epochs", "0", "--out", str(tmp_path / "d")], ("epochs",)),
    ]
    for argv, patterns in cases:
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("kerascnn train: error:"), err
        for pattern in patterns:
            assert pattern in err, (argv, err)
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()


# ------------------------------------------------------------------ NaN loss during training


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_model(tmp_path):
    from kerascnn import callbacks as callbacks_module
    from kerascnn import train as train_module
    from kerascnn.runtime import keras

    class PoisonAtEpoch(keras.callbacks.Callback):
        """Fault injection: NaN weights from the start of the third epoch (index 2)."""

        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                layer = self.model.get_layer("predictions")
                layer.set_weights([np.full_like(w, np.nan) for w in layer.get_weights()])

    real = callbacks_module.default_callbacks

    def with_poison(**kwargs):
        return [PoisonAtEpoch(), *real(**kwargs)]

    out = tmp_path / "run"
    with mock.patch.object(train_module, "default_callbacks", with_poison):
        with raises(ValueError, "loss became nan", "epoch 3", "model.keras holds the last good model",
                    r"\(epoch [12], ", "--learning-rate"):
            train_module.train("lenet5", "digits", out=str(out), epochs=5, batch_size=16, limit=48,
                               validation_split=0.25, verbose=0, log=None)
    history = callbacks_module.read_history(str(out / runs.HISTORY))
    assert [row["epoch"] for row in history][:2] == [0, 1]
    assert all(np.isfinite(row["loss"]) for row in history[:2])
    assert len(history) <= 3                                # stopped in epoch 3, not after 5
    best = runs.RunDirectory(str(out)).read_json(runs.MODEL + ".best.json")
    assert best["epoch"] in (0, 1) and np.isfinite(best["value"])
    saved = keras.models.load_model(str(out / runs.MODEL))
    assert all(np.isfinite(w).all() for w in saved.get_weights())
    assert not (out / runs.BACKUP).exists()                 # never resume from NaN weights
