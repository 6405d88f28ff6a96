"""VGG-11/13/16/19 (with and without BatchNorm) against docs/references.md, and the ImageNet weight transfer."""

import numpy as np
import pytest
from zoo_helpers import (  # noqa: F401
    applications_answering, assert_download_failure_raises, batch, collapses, counts, fill_random,
    random_application, zero_init_module)

import kerascnn
from kerascnn.errors import WeightsNotAvailable
from kerascnn.models.vgg import load_keras_applications_weights
from kerascnn.runtime import keras

# zero initial weights (cheap on JAX); forward passes fill random weights first
pytestmark = [pytest.mark.every_runtime, pytest.mark.usefixtures("zero_init_module")]

# Simonyan & Zisserman 2014, Table 1: convolutions per stage of configurations A, B, D, E
TABLE_1 = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}


def recount(depth, batch_norm, base=64, fc=(4096, 4096), classes=1000, side=7):
    """Independent recount: 3x3 convs with bias (+ 4 BN numbers per channel), then the FCs."""
    total, frozen, c_in = 0, 0, 3
    for convs, width in zip(TABLE_1[depth], (1, 2, 4, 8, 8)):
        for _ in range(convs):
            c_out = base * width
            total += 9 * c_in * c_out + c_out + (4 * c_out if batch_norm else 0)
            frozen += 2 * c_out if batch_norm else 0
            c_in = c_out
    n_in = side * side * c_in
    for units in (*fc, classes):
        total += n_in * units + units
        n_in = units
    return total, total - frozen, frozen


# docs/references.md, torchvision table, "Keras total (BN stats added)" column, 224x224x3, 1000 classes
REFERENCE_TOTALS = {
    "vgg11": 132_863_336, "vgg11_bn": 132_874_344,
    "vgg13": 133_047_848, "vgg13_bn": 133_059_624,
    "vgg16": 138_357_544, "vgg16_bn": 138_374_440,
    "vgg19": 143_667_240, "vgg19_bn": 143_689_256,
}
KERAS_APPLICATIONS_NAMES = [  # keras.applications.VGG16's layers, input excluded
    "block1_conv1", "block1_conv2", "block1_pool",
    "block2_conv1", "block2_conv2", "block2_pool",
    "block3_conv1", "block3_conv2", "block3_conv3", "block3_pool",
    "block4_conv1", "block4_conv2", "block4_conv3", "block4_pool",
    "block5_conv1", "block5_conv2", "block5_conv3", "block5_pool",
    "flatten", "fc1", "fc2", "predictions",
]
SMALL = {"base_dim": 4, "fc_units": (8, 8), "num_classes": 10, "compile": False}


@pytest.fixture(scope="module")
def vgg16(zero_init_module):  # noqa: F811 - pytest fixture argument
    """The default vgg16 (138M parameters), built once for this module with zero initial weights."""
    return kerascnn.build("vgg16")


@pytest.mark.one_runtime  # an architecture fact: Keras 3 / TensorFlow (tests/conftest.py)
@pytest.mark.parametrize("name", sorted(set(REFERENCE_TOTALS) - {"vgg16"}))
def test_exact_counts(name):
    depth, batch_norm = int(name[3:5]), name.endswith("_bn")
    model = kerascnn.build(name, compile=False)
    total, trainable, frozen = recount(depth, batch_norm)
    assert total == REFERENCE_TOTALS[name]
    assert counts(model) == (total, trainable, frozen)
    card = kerascnn.model_card(name)
    assert (card.params, card.trainable_params, card.non_trainable_params) == (total, trainable, frozen)
    assert model.name == name
    assert card.pretrained == (("imagenet",) if name == "vgg19" else ())


def test_vgg16_count_and_keras_applications_layout(vgg16):
    # docs/references.md: torchvision vgg16 138,357,544; keras.applications VGG16 138,357,544
    assert counts(vgg16) == (138_357_544, 138_357_544, 0) == recount(16, False)
    names = [layer.name for layer in vgg16.layers[1:]]
    assert [n for n in names if not n.endswith("_dropout")] == KERAS_APPLICATIONS_NAMES
    assert names[-5:] == ["fc1", "fc1_dropout", "fc2", "fc2_dropout", "predictions"]
    assert vgg16.get_layer("fc1_dropout").rate == pytest.approx(0.5)
    assert vgg16.get_layer("flatten").output.shape[-1] == 7 * 7 * 512
    assert kerascnn.model_card("vgg16").pretrained == ("imagenet",)


def test_imagenet_mapping_gives_keras_applications_outputs(vgg16):
    source = fill_random(keras.applications.VGG16(weights=None), seed=1)
    load_keras_applications_weights(vgg16, source)
    x = batch((224, 224, 3), n=1) * 255.0 - 120.0
    taps = ("block5_pool", "fc2", "predictions")
    ours = keras.Model(vgg16.input, [vgg16.get_layer(name).output for name in taps])(x)
    theirs = keras.Model(source.input, [source.get_layer(name).output for name in taps])(x)
    for name, a, b in zip(taps, ours, theirs):
        a, b = np.asarray(a), np.asarray(b)
        assert np.abs(a - b).max() <= 1e-5, name
        assert a.std() > 0, name  # not a constant: the random weights did take effect


def test_weights_imagenet_loads_through_keras_applications():
    """weights='imagenet' builds the keras.applications model and maps it (no network here:
    the download is replaced by a random-weight VGG19 without top)."""
    source = random_application("VGG19", (48, 64, 3), seed=2, include_top=False)
    with applications_answering("VGG19", source) as calls:
        model = kerascnn.vgg19(input_shape=(48, 64, 3), include_top=False, weights="imagenet")
    assert calls == [{"weights": "imagenet", "include_top": False}]  # the application of vgg19's record
    x = batch((48, 64, 3), n=2) * 255.0
    ours, theirs = np.asarray(model(x)), np.asarray(source(x))
    assert ours.shape == (2, 1, 2, 512) and np.abs(ours - theirs).max() <= 1e-5 and np.abs(ours).max() > 0


def test_failed_download_raises():
    assert_download_failure_raises("VGG16", lambda: kerascnn.vgg16(
        input_shape=(32, 32, 3), include_top=False, weights="imagenet"))


def test_mapping_refuses_what_does_not_match():
    source = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    with_bn = kerascnn.vgg16(input_shape=(32, 32, 3), include_top=False, batch_norm=True)
    deeper = kerascnn.vgg19(input_shape=(32, 32, 3), include_top=False)
    narrower = kerascnn.vgg16(input_shape=(32, 32, 3), include_top=False, base_dim=32)
    with pytest.raises(ValueError, match="block1_conv1_bn"):
        load_keras_applications_weights(with_bn, source)
    with pytest.raises(ValueError, match="block3_conv4"):
        load_keras_applications_weights(deeper, source)
    with pytest.raises(ValueError, match="block1_conv1"):
        load_keras_applications_weights(narrower, source)


@pytest.mark.parametrize("kwargs, message", [
    ({"depth": 11}, "not available for vgg11"),
    ({"depth": 16, "batch_norm": True}, "not available for vgg16_bn"),
    ({"depth": 16, "input_shape": (64, 64, 3)}, "use include_top=False for features at other sizes"),
    ({"depth": 19, "num_classes": 10}, "num_classes=10 with include_top=True"),
    ({"depth": 16, "include_top": False, "input_shape": (64, 64, 1)}, "1 input channels"),
    ({"depth": 16, "include_top": True, "fc_units": (64, 64)}, r"fc_units=\(64, 64\)"),
    ({"depth": 16, "include_top": False, "base_dim": 16}, "base_dim=16"),
])
def test_imagenet_configurations_that_cannot_fit(kwargs, message):
    builder = getattr(kerascnn, f"vgg{kwargs.pop('depth')}")
    with pytest.raises(WeightsNotAvailable, match=message):
        builder(weights="imagenet", **kwargs)  # raised before any layer is built


@pytest.mark.one_runtime  # an architecture fact: Keras 3 / TensorFlow (tests/conftest.py)
@pytest.mark.parametrize("shape, grid", [
    ((32, 32, 3), (1, 1)), ((48, 80, 3), (1, 2)), ((224, 224, 3), (7, 7)), ((100, 64, 1), (3, 2)),
])
def test_input_sizes(shape, grid):
    model = kerascnn.vgg13(input_shape=shape, base_dim=4, fc_units=(16, 16), num_classes=5)
    assert tuple(model.get_layer("block5_pool").output.shape[1:3]) == grid
    # flatten, and so fc1, follow the input: grid x 8 * base_dim channels
    assert model.get_layer("flatten").output.shape[-1] == grid[0] * grid[1] * 32
    assert model.get_layer("fc1").count_params() == grid[0] * grid[1] * 32 * 16 + 16
    assert tuple(model.output.shape) == (None, 5)


def test_fc1_follows_the_input_size_at_full_width():
    model = kerascnn.vgg16(input_shape=(32, 32, 3), compile=False)
    assert model.get_layer("fc1").count_params() == 512 * 4096 + 4096  # 102,764,544 + 4096 at 224
    assert model.count_params() == recount(16, False, side=1)[0]


def test_minimum_input_is_real_and_enforced():
    assert kerascnn.model_card("vgg19_bn").min_input_size == (32, 32)
    with pytest.raises(ValueError, match="minimum is 32x32"):
        kerascnn.vgg16(input_shape=(31, 224, 3))

    def build(shape):
        return kerascnn.vgg11(input_shape=shape, base_dim=4, include_top=False)

    assert not collapses(build, (32, 32, 3))
    assert collapses(build, (31, 31, 3))


@pytest.mark.parametrize("name", sorted(REFERENCE_TOTALS))
def test_forward_pass_of_every_registered_vgg(name):
    # at the minimum input, narrow (the full vgg16 runs at 224 in the ImageNet mapping test)
    model = fill_random(kerascnn.build(name, input_shape=(32, 32, 3), **SMALL))
    out = np.asarray(model(batch((32, 32, 3), n=2)))
    assert out.shape == (2, 10)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_batch_norm_summary_is_grouped_by_stage():
    model = kerascnn.build("vgg11_bn", input_shape=(32, 32, 3), **SMALL)
    names = [layer.name for layer in model.layers[1:]]
    assert names[:9] == [
        "block1_conv1", "block1_conv1_bn", "block1_conv1_relu", "block1_pool",
        "block2_conv1", "block2_conv1_bn", "block2_conv1_relu", "block2_pool", "block3_conv1"]
    # BatchNorm moving statistics: 2 per channel, channels 4 + 8 + 2*16 + 2*32 + 2*32 (configuration A)
    assert counts(model)[2] == 2 * (4 + 8 + 2 * 16 + 2 * 32 + 2 * 32)
    assert model.get_layer("block1_conv1").use_bias  # torchvision's vgg*_bn keeps the conv bias


def test_arguments_are_checked_and_variants_named():
    assert kerascnn.list_models("vgg*") == [
        "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]
    with pytest.raises(ValueError, match="base_dim must be an integer >= 1"):
        kerascnn.vgg16(base_dim=0)
    with pytest.raises(ValueError, match="fc_units must be a tuple"):
        kerascnn.vgg16(fc_units=4096)
    with pytest.raises(TypeError, match="batch_norm must be True or False"):
        kerascnn.vgg16(batch_norm="yes")
    assert kerascnn.vgg16(input_shape=(32, 32, 3), batch_norm=True, **SMALL).name == "vgg16_bn"
    no_hidden = kerascnn.vgg11(input_shape=(32, 32, 3), base_dim=4, fc_units=(), num_classes=3)
    assert [layer.name for layer in no_hidden.layers[-2:]] == ["flatten", "predictions"]
    features = kerascnn.vgg19(input_shape=(64, 64, 3), base_dim=4, include_top=False, pooling="avg")
    assert tuple(features.output.shape) == (None, 32)
