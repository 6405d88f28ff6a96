"""ResNet and SE-ResNet against docs/references.md, with every BatchNorm and SE count recomputed here.

Each large model is built once in this module. No layer's weights depend on the input side
(global average pooling before the classifier), so the counts are taken on 64x64 builds,
which are cheaper to run: a 64x64 ResNet has the weights of the 224x224 one.
"""

import math

import numpy as np
import pytest

from zoo_helpers import (
    applications_answering, assert_download_failure_raises, fill_random, random_application, zero_init)

import kerascnn
from kerascnn.errors import WeightsNotAvailable
from kerascnn.runtime import keras
from kerascnn.weights import copy_weights_by_name
from tiers import sweep

# Builder tests also run on JAX, where every new weight shape and every new input size costs
# a compilation: forward passes there all use SMALL; the forward passes at other sizes run in
# the two TensorFlow runtimes only (no marker).
every_runtime = pytest.mark.every_runtime
SMALL = (64, 64, 3)

# He et al. 2015, Table 1: block type and blocks per stage conv2..conv5; stage widths.
STAGES = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
WIDTHS = (64, 128, 256, 512)

# docs/references.md, torchvision table: torch num_params and Keras totals (BN statistics added).
TORCH = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160, 152: 60_192_808}
KERAS_TOTAL = {18: 11_699_112, 34: 21_814_696, 50: 25_610_152, 101: 44_654_504, 152: 60_344_232}
# docs/references.md, Papers table: SE-ResNet torch counts (osmr/imgclsmob); 34 from imgclsmob's
# model tests (seresnet34: 21,958,868), which docs/references.md does not list.
SE_TORCH = {18: 11_778_592, 34: 21_958_868, 50: 28_088_024, 101: 49_326_872, 152: 66_821_848}
# docs/references.md, keras.applications table (conv biases, V1 strides).
KERAS_APPLICATIONS_RESNET50 = 25_636_712


def block_out_channels(depth):
    """Output channels of every residual block, in order."""
    kind, repeats = STAGES[depth]
    expansion = 1 if kind == "basic" else 4
    return [expansion * width for width, n in zip(WIDTHS, repeats) for _ in range(n)]


def bn_channels(depth):
    """BatchNorm channels: stem 64, then per block every conv's output, plus the projections."""
    kind, repeats = STAGES[depth]
    total = 64
    in_channels = 64
    for width, n in zip(WIDTHS, repeats):
        per_block = 2 * width if kind == "basic" else width + width + 4 * width
        out = width if kind == "basic" else 4 * width
        total += n * per_block
        if out != in_channels:  # the first block of the stage projects its shortcut (1x1 conv + BN)
            total += out
        in_channels = out
    return total


def se_params(depth, ratio=16):
    """Two FC layers with biases per block: C -> C/r -> C (Hu et al. 2017, figure 3)."""
    return sum(2 * c * (c // ratio) + c // ratio + c for c in block_out_channels(depth))


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@every_runtime
def test_recomputation_agrees_with_the_references():
    for depth in STAGES:
        # Keras total = torch count + 2 x BN channels (moving mean and variance)
        assert KERAS_TOTAL[depth] - TORCH[depth] == 2 * bn_channels(depth)
        assert SE_TORCH[depth] - TORCH[depth] == se_params(depth)
    assert bn_channels(50) == 26_560  # docs/references.md: 53,120 BN statistics = 2 x 26,560
    # keras.applications adds a bias to each convolution: one per BN channel
    assert KERAS_APPLICATIONS_RESNET50 == KERAS_TOTAL[50] + bn_channels(50)


NAMES = [f"{prefix}resnet{depth}" for prefix in ("", "se_") for depth in STAGES]


@pytest.mark.parametrize("name", sweep(NAMES, keep=("resnet50",)))  # 50: the first bottleneck
def test_counts_layout_and_forward_pass(name):
    depth = int(name.rsplit("resnet", 1)[1])
    se = name.startswith("se_")
    with zero_init():  # NumPy random weights below: Keras' draws compile per shape on JAX
        model = fill_random(kerascnn.build(name, input_shape=SMALL, compile=False))
    non_trainable = 2 * bn_channels(depth)
    torch_count = SE_TORCH[depth] if se else TORCH[depth]
    assert trainable_count(model) == torch_count
    assert model.count_params() - trainable_count(model) == non_trainable
    assert model.count_params() == torch_count + non_trainable
    if not se:
        assert model.count_params() == KERAS_TOTAL[depth]
    card = kerascnn.model_card(name)
    assert (card.params, card.trainable_params, card.non_trainable_params) == (
        torch_count + non_trainable, torch_count, non_trainable)
    # summary reads by stage: every layer name starts with its stage
    stages = ("input", "conv1_", "pool1_", "conv2_block", "conv3_block", "conv4_block", "conv5_block")
    assert all(layer.name.startswith(stages) for layer in model.layers[:-2])
    assert [layer.name for layer in model.layers[-2:]] == ["avg_pool", "predictions"]
    blocks = len(block_out_channels(depth))
    assert sum(layer.name.endswith("_out") for layer in model.layers) == blocks
    assert sum(layer.name.endswith("_se_excite") for layer in model.layers) == (blocks if se else 0)
    assert not any(layer.use_bias for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    out = np.asarray(model(np.random.default_rng(0).random((2, *SMALL), dtype="float32")))
    assert out.shape == (2, 1000)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-4)


def halvings(side, times=5):
    """Every downsampling of the stem and stages maps a side s to ceil(s / 2)."""
    for _ in range(times):
        side = math.ceil(side / 2)
    return side


SIZES = [(224, 224, 3), (32, 32, 3), (37, 90, 3), (1, 1, 3), (1, 5, 1)]


@pytest.mark.parametrize("shape", SIZES)
def test_resnet18_input_sizes(shape):
    model = kerascnn.resnet18(input_shape=shape, num_classes=7, compile=False)
    expected = (None, halvings(shape[0]), halvings(shape[1]), 512)
    assert tuple(model.get_layer("conv5_block2_out").output.shape) == expected
    assert tuple(model.output.shape) == (None, 7)


@pytest.mark.parametrize("shape", SIZES[2:])
def test_forward_pass_at_small_and_non_square_sizes(shape):
    model = kerascnn.se_resnet18(input_shape=shape, num_classes=7, compile=False)
    assert np.asarray(model(np.ones((2, *shape), "float32"))).shape == (2, 7)


@every_runtime
def test_minimum_input_size_is_one_pixel():
    # every downsampling pads (7x7/2 pad 3, pool 3x3/2 pad 1, 1x1/2 and 3x3/2 pad 1 convs),
    # so no feature map is ever empty: the card says 1x1 and only empty inputs are refused
    assert kerascnn.model_card("resnet50").min_input_size == (1, 1)
    with pytest.raises(ValueError, match="height must be a positive integer"):
        kerascnn.resnet18(input_shape=(0, 32, 3))
    with pytest.raises(ValueError, match="input_shape"):
        kerascnn.resnet18(input_shape=(32, 32))


def test_resnet50_stride_placement_v1_and_v15():
    model = kerascnn.resnet50(input_shape=(32, 32, 3), stride_in="v1.5", include_top=False, compile=False)
    for stage in (3, 4, 5):
        assert model.get_layer(f"conv{stage}_block1_1_conv").strides == (1, 1)
        assert model.get_layer(f"conv{stage}_block1_2_conv").strides == (2, 2)
        assert model.get_layer(f"conv{stage}_block1_0_conv").strides == (2, 2)
    assert model.count_params() == KERAS_TOTAL[50] - (2048 * 1000 + 1000)  # same weights, no head
    assert tuple(model.output.shape) == (None, 1, 1, 2048)
    with pytest.raises(ValueError, match="stride_in"):
        kerascnn.resnet50(stride_in="v2")


@every_runtime
def test_features_only_and_pooling():
    model = kerascnn.resnet18(input_shape=SMALL, num_classes=0, pooling="avg")
    assert tuple(model.output.shape) == (None, 512)
    assert model.count_params() == TORCH[18] - (512 * 1000 + 1000) + 2 * bn_channels(18)


@every_runtime
def test_use_bias_adds_one_bias_per_conv_channel():
    model = kerascnn.resnet18(input_shape=SMALL, use_bias=True, compile=False)
    assert model.count_params() == KERAS_TOTAL[18] + bn_channels(18)


# ---------------------------------------------------------------- keras.applications weights

@pytest.fixture(scope="module")
def applications_resnet50():
    """keras.applications ResNet50 with random weights, logits out (no network)."""
    return random_application("ResNet50", SMALL)


@pytest.fixture(scope="module")
def imagenet_resnet50(applications_resnet50):
    """kerascnn.resnet50(weights="imagenet"), with keras.applications.ResNet50 answering from
    the random-weight model above instead of downloading."""
    with applications_answering("ResNet50", applications_resnet50) as calls:
        model = kerascnn.resnet50(weights="imagenet", input_shape=SMALL, classifier_activation=None,
                                  compile=False)
    assert calls == [{"weights": "imagenet", "include_top": True}]
    return model


@every_runtime
def test_keras_applications_layout_count_and_names(applications_resnet50, imagenet_resnet50):
    target = imagenet_resnet50
    assert target.count_params() == KERAS_APPLICATIONS_RESNET50 == applications_resnet50.count_params()
    assert len(target.layers) == len(applications_resnet50.layers) == 177  # docs/references.md
    def names(model):
        return sorted(layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer))

    assert names(target) == names(applications_resnet50)
    assert target.get_layer("conv1_bn").epsilon == applications_resnet50.get_layer("conv1_bn").epsilon


@every_runtime
def test_imagenet_loader_transfers_every_weight(applications_resnet50, imagenet_resnet50):
    x = np.random.default_rng(1).normal(size=(2, *SMALL)).astype("float32")
    expected = np.asarray(applications_resnet50(x, training=False))
    got = np.asarray(imagenet_resnet50(x, training=False))
    assert np.abs(got - expected).max() <= 1e-5
    assert np.abs(expected).max() > 1e-2  # logits, not a trivially equal output


@every_runtime
def test_copy_weights_by_name_maps_keras_applications(applications_resnet50, imagenet_resnet50):
    fill_random(applications_resnet50, seed=2)  # new values: the copy below must bring all of them
    copy_weights_by_name(applications_resnet50, imagenet_resnet50)
    x = np.random.default_rng(3).normal(size=(2, *SMALL)).astype("float32")
    diff = np.asarray(imagenet_resnet50(x, training=False)) - np.asarray(applications_resnet50(x, training=False))
    assert np.abs(diff).max() <= 1e-5


@every_runtime
def test_copy_weights_by_name_refuses_another_layout_and_changes_nothing(applications_resnet50):
    target = kerascnn.resnet18(input_shape=SMALL, compile=False)  # no biases, basic blocks
    before = [w.copy() for w in target.get_weights()]
    with pytest.raises(ValueError, match=r"conv1_conv: Conv2D with weight shapes \[\(7, 7, 3, 64\), \(64,\)\]"):
        copy_weights_by_name(applications_resnet50, target)
    assert all((a == b).all() for a, b in zip(before, target.get_weights()))


@every_runtime
def test_imagenet_download_failure_raises():
    assert_download_failure_raises("ResNet50", lambda: kerascnn.resnet50(
        weights="imagenet", input_shape=(32, 32, 3), include_top=False))


@every_runtime
@pytest.mark.parametrize("kwargs, message", [
    ({"name": "resnet18"}, "not available for resnet18"),
    ({"name": "se_resnet50"}, "not available for se_resnet50"),
    ({"stride_in": "v1.5"}, "stride_in='v1'"),
    ({"use_bias": False}, "use_bias=True"),
    ({"num_classes": 10}, "num_classes=10 with include_top=True .the top has 1000 classes"),
    ({"input_shape": (224, 224, 1)}, "the weights need 3 channels"),
])
def test_imagenet_arguments_are_checked_before_building(kwargs, message):
    name = kwargs.pop("name", "resnet50")
    with pytest.raises(WeightsNotAvailable, match=message):
        kerascnn.build(name, weights="imagenet", **kwargs)


@pytest.mark.filterwarnings("ignore:Skipping nested container")  # Keras 3 notes the mismatch too
def test_weights_file_round_trip_and_mismatch(tmp_path):
    model = kerascnn.resnet18(input_shape=SMALL, num_classes=4, compile=False)
    path = str(tmp_path / "resnet18.weights.h5")
    model.save_weights(path)
    again = kerascnn.resnet18(input_shape=SMALL, num_classes=4, weights=path, compile=False)
    x = np.random.default_rng(4).random((2, *SMALL), dtype="float32")
    np.testing.assert_array_equal(np.asarray(again(x)), np.asarray(model(x)))
    with pytest.raises(ValueError, match="do not fit model 'resnet18'.*conv1_conv"):
        kerascnn.resnet18(input_shape=(64, 64, 1), num_classes=4, weights=path)  # wrong input channels
    corrupt = tmp_path / "corrupt.weights.h5"
    corrupt.write_bytes(b"not an HDF5 file" * 8)
    with pytest.raises(ValueError, match="is not an HDF5 weights file: it is truncated or corrupt"):
        kerascnn.resnet18(input_shape=SMALL, num_classes=4, weights=str(corrupt))
