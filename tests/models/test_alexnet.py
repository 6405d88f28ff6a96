"""AlexNet, ZFNet and the 280px mini AlexNet against docs/references.md and hand arithmetic."""

import numpy as np
import pytest
from zoo_helpers import batch, collapses, counts, fill_random, zero_init_module  # noqa: F401

import kerascnn
from kerascnn.models.alexnet import ceil_mode_size

# zero initial weights (cheap on JAX); forward passes fill random weights first
pytestmark = [pytest.mark.every_runtime, pytest.mark.usefixtures("zero_init_module")]


def conv(k, c_in, c_out):
    return k * k * c_in * c_out + c_out


def dense(n_in, n_out):
    return n_in * n_out + n_out


# Classifier of every ImageNet model here: 6x6x256 -> 4096 -> 4096 -> 1000.
FC = dense(6 * 6 * 256, 4096) + dense(4096, 4096) + dense(4096, 1000)
TOP = ["flatten", "fc6", "fc6_dropout", "fc7", "fc7_dropout", "predictions"]


def sides(model, name):
    return tuple(model.get_layer(name).output.shape[1:3])


@pytest.mark.one_runtime  # an architecture fact: Keras 3 / TensorFlow (tests/conftest.py)
def test_alexnet_one_tower_count_layout_and_maps():
    model = kerascnn.build("alexnet")
    # docs/references.md: AlexNet one-tower 96-256-384-384-256 build, 62,378,344 (osmr/imgclsmob)
    expected = (conv(11, 3, 96) + conv(5, 96, 256) + conv(3, 256, 384) + conv(3, 384, 384)
                + conv(3, 384, 256) + FC)
    assert counts(model) == (62_378_344, 62_378_344, 0) and expected == 62_378_344
    assert kerascnn.model_card("alexnet").params == 62_378_344
    assert [layer.name for layer in model.layers[1:]] == [
        "conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5", *TOP]
    # the paper's maps: 227 -> 55 -> 27 -> 27 -> 13 -> 13 -> 6
    assert [sides(model, n) for n in ("conv1", "pool1", "conv2", "pool2", "conv5", "pool5")] == [
        (55, 55), (27, 27), (27, 27), (13, 13), (13, 13), (6, 6)]
    assert model.get_layer("fc6_dropout").rate == pytest.approx(0.5)


@pytest.mark.one_runtime  # an architecture fact: Keras 3 / TensorFlow (tests/conftest.py)
def test_alexnet_torchvision_variant():
    model = kerascnn.alexnet(variant="torchvision", compile=False)
    # docs/references.md, torchvision table: alexnet (64-filter one-tower) 61,100,840
    expected = (conv(11, 3, 64) + conv(5, 64, 192) + conv(3, 192, 384) + conv(3, 384, 256)
                + conv(3, 256, 256) + FC)
    assert counts(model) == (61_100_840, 61_100_840, 0) and expected == 61_100_840
    assert model.input.shape[1:] == (224, 224, 3)
    assert [layer.name for layer in model.layers[1:3]] == ["conv1_pad", "conv1"]
    assert sides(model, "conv1") == (55, 55) and sides(model, "pool5") == (6, 6)


@pytest.mark.one_runtime  # an architecture fact: Keras 3 / TensorFlow (tests/conftest.py)
def test_zfnet_count_is_the_fig3_model():
    model = kerascnn.build("zfnet")
    # docs/references.md: ZFNet 62,357,608 (osmr/imgclsmob zfnet). The figure is AlexNet's one-tower
    # count with a 7x7 conv1 (3*49*96 + 96 = 14,208 instead of 34,944) and conv3-5 384-384-256:
    assert 62_378_344 - conv(11, 3, 96) + conv(7, 3, 96) == 62_357_608
    expected = (conv(7, 3, 96) + conv(5, 96, 256) + conv(3, 256, 384) + conv(3, 384, 384)
                + conv(3, 384, 256) + FC)
    assert counts(model) == (62_357_608, 62_357_608, 0) and expected == 62_357_608
    assert [layer.name for layer in model.layers[1:]] == [
        "conv1_pad", "conv1", "pool1_pad", "pool1", "conv2", "pool2_pad", "pool2",
        "conv3", "conv4", "conv5", "pool5", *TOP]
    # Zeiler & Fergus 2013, Fig. 3: 224 -> 110 -> 55 -> 26 -> 13 -> 13 -> 6
    assert [sides(model, n) for n in ("conv1", "pool1", "conv2", "pool2", "conv5", "pool5")] == [
        (110, 110), (55, 55), (26, 26), (13, 13), (13, 13), (6, 6)]


@pytest.mark.one_runtime  # an architecture fact: Keras 3 / TensorFlow (tests/conftest.py)
def test_zfnet_b_has_the_512_1024_512_widths():
    model = kerascnn.zfnet(variant="b", compile=False)
    # conv3-5 512-1024-512, so 6x6x512 into fc6; osmr/imgclsmob's zfnetb test asserts 107,627,624
    expected = (conv(7, 3, 96) + conv(5, 96, 256) + conv(3, 256, 512) + conv(3, 512, 1024)
                + conv(3, 1024, 512) + dense(6 * 6 * 512, 4096) + dense(4096, 4096) + dense(4096, 1000))
    assert counts(model) == (107_627_624, 107_627_624, 0) and expected == 107_627_624


def test_alexnet_mini_count_and_forward_pass():
    model = kerascnn.build("alexnet_mini")
    # docs/references.md, tutorial models: mini AlexNet for 280x280 binary images, 7,742,721
    expected = (conv(13, 3, 96) + conv(5, 96, 256) + conv(3, 256, 384) + conv(3, 384, 384)
                + conv(3, 384, 256) + dense(11 * 11 * 256, 128) + dense(128, 128) + dense(128, 1))
    assert counts(model) == (7_742_721, 7_742_721, 0) and expected == 7_742_721
    assert [layer.name for layer in model.layers[1:]] == [
        "conv1_pad", "conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5",
        "flatten", "fc6", "fc7", "predictions"]
    out = np.asarray(fill_random(model)(batch((280, 280, 3), n=1)))
    assert out.shape == (1, 1) and 0.0 <= out[0, 0] <= 1.0


SMALL = {"fc_units": (8, 8), "num_classes": 10, "compile": False}


@pytest.mark.one_runtime  # an architecture fact: Keras 3 / TensorFlow (tests/conftest.py)
@pytest.mark.parametrize("name, kwargs, shape, pool5", [
    ("alexnet", {}, (227, 227, 3), (6, 6)),
    # the paper's 224: (224 - 11) // 4 + 1 = 54 -> 26 -> 12 -> 5, so fc6 would see 5x5
    ("alexnet", {}, (224, 224, 3), (5, 5)),
    # width 300: 73 -> 36 -> 17 -> 8
    ("alexnet", {}, (227, 300, 3), (6, 8)),
    ("alexnet", {}, (67, 67, 1), (1, 1)),
    # 256 + 2*2: 63 -> 31 -> 15 -> 7
    ("alexnet", {"variant": "torchvision"}, (224, 256, 3), (6, 7)),
    ("alexnet", {"variant": "torchvision"}, (63, 63, 3), (1, 1)),
    # width 256 + 2: 126 -> ceil 63 -> 30 -> ceil 15 -> ceil 7
    ("zfnet", {}, (224, 256, 3), (6, 7)),
    ("zfnet", {}, (47, 47, 3), (1, 1)),
    # width 200 + 2*3: 65 -> 32 -> 15 -> 7
    ("alexnet_mini", {"num_classes": 1}, (280, 200, 3), (11, 7)),
    ("alexnet_mini", {"num_classes": 1}, (37, 37, 3), (1, 1)),
])
def test_input_sizes(name, kwargs, shape, pool5):
    options = {**SMALL, **kwargs} if name != "alexnet_mini" else {**kwargs, "compile": False}
    model = kerascnn.build(name, input_shape=shape, **options)
    assert sides(model, "pool5") == pool5
    assert model.get_layer("flatten").output.shape[-1] == pool5[0] * pool5[1] * model.get_layer("pool5").output.shape[-1]
    assert tuple(model.output.shape) == (None, options.get("num_classes", 10))


@pytest.mark.parametrize("name, kwargs, shape", [
    ("alexnet", {}, (227, 300, 3)), ("alexnet", {"variant": "torchvision"}, (63, 63, 3)),
    ("zfnet", {}, (224, 256, 3)), ("zfnet", {"variant": "b"}, (47, 47, 3)),
])
def test_forward_pass(name, kwargs, shape):
    model = fill_random(kerascnn.build(name, input_shape=shape, **SMALL, **kwargs))
    out = np.asarray(model(batch(shape, n=2)))
    assert out.shape == (2, 10) and np.isfinite(out).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name, kwargs, minimum", [
    ("alexnet", {}, 67), ("alexnet", {"variant": "torchvision"}, 63), ("zfnet", {}, 47),
    ("zfnet", {"variant": "b"}, 47), ("alexnet_mini", {}, 37),
])
def test_minimum_input_is_real_and_enforced(name, kwargs, minimum):
    if not kwargs:
        assert kerascnn.model_card(name).min_input_size == (minimum, minimum)
    with pytest.raises(ValueError, match=f"minimum is {minimum}x{minimum}"):
        kerascnn.build(name, input_shape=(minimum - 1, minimum, 3), **kwargs)

    def build(shape):
        return kerascnn.build(name, input_shape=shape, include_top=False, **kwargs)

    assert not collapses(build, (minimum, minimum, 3))
    assert collapses(build, (minimum - 1, minimum - 1, 3))


def test_ceil_mode_pooling_matches_pytorch_formula():
    # PyTorch MaxPool2d(3, 2, ceil_mode=True): ceil((n - 3) / 2) + 1, last window inside the input
    assert [ceil_mode_size(n) for n in (110, 111, 26, 13, 3, 2, 1)] == [55, 55, 13, 6, 1, 1, 0]


def test_local_response_normalization_option():
    plain = kerascnn.alexnet(input_shape=(67, 67, 3), **SMALL)
    lrn = kerascnn.alexnet(input_shape=(67, 67, 3), lrn=True, **SMALL)
    names = [layer.name for layer in lrn.layers]
    assert names[1:4] == ["conv1", "conv1_lrn", "pool1"] and "conv2_lrn" in names and "conv3_lrn" not in names
    assert lrn.count_params() == plain.count_params()  # LRN has no weights
    out = np.asarray(fill_random(lrn)(batch((67, 67, 3), n=1)))
    assert np.isfinite(out).all() and out.std() > 0
    zf = kerascnn.zfnet(input_shape=(47, 47, 3), lrn=True, **SMALL)
    assert "conv2_lrn" in [layer.name for layer in zf.layers]


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="variant='vgg'.*'paper', 'torchvision'"):
        kerascnn.alexnet(variant="vgg")
    with pytest.raises(ValueError, match="variant='c'.*'a', 'b'"):
        kerascnn.zfnet(variant="c")
    with pytest.raises(TypeError, match="lrn must be True or False"):
        kerascnn.alexnet(lrn="yes")
    with pytest.raises(ValueError, match="fc_units must be a tuple of positive integers"):
        kerascnn.zfnet(fc_units=(4096, 0))
    with pytest.raises(ValueError, match="weights='imagenet' is not available for alexnet"):
        kerascnn.alexnet(input_shape=(67, 67, 3), fc_units=(8, 8), weights="imagenet")


def test_dropout_and_features_only():
    model = kerascnn.alexnet(input_shape=(67, 67, 3), dropout=0.25, **SMALL)
    assert model.get_layer("fc7_dropout").rate == pytest.approx(0.25)
    features = kerascnn.zfnet(input_shape=(64, 64, 3), include_top=False, pooling="max")
    assert tuple(features.output.shape) == (None, 256)
