"""kecam backbones (Keras 2 only): kecam's own DaViT-T at 280x280, freezing, and weights that load or raise.

Figures: docs/references.md, keras-cv-attention-models 1.4.3 (DaViT_T 28.36M with the 1000-class
head at 224, feature map 768 channels; weights md5-checked from the GitHub releases).
"""

import os

import h5py
import numpy as np
import pytest

from kerascnn import transfer
from kerascnn.transfer import catalogue
from kerascnn.transfer.weights import WeightsError, check_loaded, hash_file

pytestmark = pytest.mark.legacy_only
SMALL = "FasterNetT0"  # a small kecam model with ImageNet weights, for the download tests
SMALL_FILE = "fasternet_t0_imagenet.h5"


@pytest.fixture(scope="module")
def davit():
    return transfer.backbone("kecam:DaViT_T", input_shape=(280, 280, 3), weights=None)


@pytest.fixture(scope="module")
def davit_binary(davit):
    return transfer.build(davit, num_classes=1)


@pytest.fixture(scope="module")
def small():
    return transfer.backbone(SMALL, input_shape=(64, 64, 3), weights=None)


def test_davit_t_280_binary_head_parameters(davit, davit_binary):
    from keras_cv_attention_models import davit as kecam_davit

    assert davit.output_shape == (None, 9, 9, 768)   # 280 / 32 = 8.75 -> 9 (kecam pads windows)
    # The backbone is kecam's own num_classes=0 model; its 1000-class head (768*1000 + 1000)
    # brings it to the published 28.36M (docs/references.md) - the head does not depend on the input size.
    assert davit.count_params() + 768 * 1000 + 1000 == 28_360_168
    assert kecam_davit.DaViT_T is not None
    # binary head: GlobalAveragePooling -> Dropout -> Dense(1, sigmoid): 768 weights + 1 bias
    assert davit_binary.count_params() == davit.count_params() + 768 + 1
    assert davit_binary.layers[-1].activation.__name__ == "sigmoid"
    kinds = [type(layer).__name__ for layer in davit_binary.layers]
    assert kinds == ["InputLayer", "Rescaling", "Functional", "GlobalAveragePooling2D", "Dropout", "Dense"]
    assert "Lambda" not in kinds
    report = transfer.trainable_report(davit_binary)
    assert (report.trainable_variables, report.trainable_params) == (2, 769)


def test_preprocessing_inside_matches_arrays(davit_binary):
    # torch mode: (x / 255 - ImageNet mean) / ImageNet std, on raw 0-255 pixels
    pixels = np.full((1, 1, 1, 3), 255.0, "float32")
    expected = (1.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(davit_binary.preprocess_input(pixels)[0, 0, 0], expected, rtol=1e-5)
    layer = davit_binary.get_layer("preprocessing_normalize")
    np.testing.assert_allclose(np.asarray(layer(pixels))[0, 0, 0], expected, rtol=1e-5)


def _expected_trainable(base, frozen):
    """Variables of the unfrozen backbone layers (DaViT has no BatchNorm) + the head's kernel and bias."""
    return sum(len(layer.weights) for layer in base.layers[frozen:]) + 2


def test_freeze_by_index_name_and_fraction(davit, davit_binary):
    layers = davit.layers
    transfer.freeze(davit_binary, first=80)
    assert len(davit_binary.trainable_variables) == _expected_trainable(davit, 80)
    assert [l.trainable for l in layers[:80]] == [False] * 80
    names = [layer.name for layer in layers]
    boundary = next(i for i, name in enumerate(names) if name.startswith("stack3_"))
    transfer.freeze(davit_binary, until="stack3_")
    assert len(davit_binary.trainable_variables) == _expected_trainable(davit, boundary)
    transfer.freeze(davit_binary, fraction=0.5)
    assert len(davit_binary.trainable_variables) == _expected_trainable(davit, len(layers) // 2)
    transfer.unfreeze(davit_binary, all=True)
    assert len(davit_binary.trainable_variables) == sum(len(l.weights) for l in layers) + 2
    transfer.freeze(davit_binary, all=True)
    assert len(davit_binary.trainable_variables) == 2
    with pytest.raises(ValueError, match="until"):
        transfer.freeze(davit_binary, until="no_such_layer")


def test_imagenet_fails_loudly_offline(tmp_path):
    with pytest.raises(WeightsError) as error:
        transfer.backbone("kecam:DaViT_T", input_shape=(280, 280, 3), weights="imagenet", cache_dir=str(tmp_path))
    message = str(error.value)
    assert "davit_t_imagenet.h5" in message and "weights='/path/to/davit_t_imagenet.h5'" in message
    assert str(tmp_path) in message and "random weights" in message


def test_download_from_file_mirror_then_cache(small, tmp_path, monkeypatch):
    mirror, cache = tmp_path / "mirror", tmp_path / "cache"
    mirror.mkdir()
    small.save_weights(str(mirror / SMALL_FILE))
    entry = catalogue.kecam_catalogue()[SMALL]
    # the official md5 is of the real ImageNet file; the test's own file stands in for it
    monkeypatch.setitem(entry.pretrained, "imagenet", hash_file(str(mirror / SMALL_FILE)))
    loaded = transfer.backbone(SMALL, input_shape=(64, 64, 3), weights="imagenet",
                               cache_dir=str(cache), mirror="file://" + str(mirror))
    assert (cache / SMALL_FILE).is_file()
    for a, b in zip(small.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert loaded.weights_report.complete and not loaded.weights_report.missing
    # the cache now serves the file: the mirror can go away
    os.remove(mirror / SMALL_FILE)
    assert transfer.fetch(SMALL_FILE, "https://unreachable.invalid/x.h5",
                          entry.pretrained["imagenet"], cache_dir=str(cache)) == str(cache / SMALL_FILE)


def test_hash_mismatch_raises(small, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    small.save_weights(str(mirror / SMALL_FILE))   # not the official file: wrong md5
    with pytest.raises(WeightsError, match="corrupt or not the expected one") as error:
        transfer.backbone(SMALL, input_shape=(64, 64, 3), weights="imagenet",
                          cache_dir=str(tmp_path / "cache"), mirror=str(mirror))
    assert SMALL_FILE in str(error.value)
    assert not (tmp_path / "cache" / SMALL_FILE).exists()


def _drop_layer(path, layer_name):
    with h5py.File(path, "r+") as handle:
        names = [n for n in handle.attrs["layer_names"]
                 if (n.decode() if isinstance(n, bytes) else n) != layer_name]
        handle.attrs["layer_names"] = names
        del handle[layer_name]


def test_local_file_every_layer_checked(small, tmp_path):
    path = str(tmp_path / "small.h5")
    small.save_weights(path)
    assert check_loaded(small, path).complete
    dropped = next(layer.name for layer in small.layers if layer.weights)
    _drop_layer(path, dropped)
    with pytest.raises(WeightsError, match=f"missing from the file: {dropped}"):
        check_loaded(small, path)
    assert check_loaded(small, path, partial=True).missing == [dropped]
    # through kecam's own loader, which would skip the layer silently
    with pytest.raises(WeightsError, match=dropped):
        transfer.backbone(SMALL, input_shape=(64, 64, 3), weights=path)
