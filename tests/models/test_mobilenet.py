"""MobileNet v1 and v2 against keras.applications (built here), torchvision and the papers.

References: keras.applications.MobileNet / MobileNetV2 built in this module with
``weights=None`` for several alphas (total, trainable, non-trainable counts, layer names);
torchvision's ``mobilenet_v2`` ``IMAGENET1K_V1`` weights metadata (num_params 3,504,872,
``_ops`` 0.30 GMACs); Howard et al. 2017 (arXiv 1704.04861) Table 1 (structure) and Table 6
(mult-adds per width multiplier at 224); Sandler et al. 2018 (arXiv 1801.04381) Table 2
(structure). BatchNorm channels and receptive fields are recomputed here by hand.
"""

import numpy as np
import pytest

import kerascnn
from kerascnn import analysis
from kerascnn.errors import WeightsNotAvailable
from kerascnn.models.mobilenet import make_divisible
from kerascnn.runtime import keras
from kerascnn.surgery import add_se, fold_batchnorm, randomize_batchnorm
from kerascnn.weights import copy_weights_by_name
from zoo_helpers import (
    applications_answering, assert_download_failure_raises, assert_same_model, batch, collapses, counts,
    fill_random, infer, random_application, zero_init)

every_runtime = pytest.mark.every_runtime

# Howard et al. Table 1: stem 32 (3x3/2), then (pointwise filters, stride) of 13 blocks.
V1 = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
# Sandler et al. Table 2: (t, c, n, s); stem 32, last 1x1 conv 1280.
V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
TORCHVISION_V2 = (3_504_872, 0.30)
# Howard et al. Table 6: million mult-adds at 224 for width multipliers 1.0, 0.75, 0.5, 0.25.
V1_MULT_ADDS = {1.0: 569, 0.75: 325, 0.5: 149, 0.25: 41}


def v1_bn_channels(alpha=1.0):
    """Stem, then per block the depthwise BatchNorm (input channels) and the pointwise one."""
    channels = int(32 * alpha)
    total = channels
    for filters, _ in V1:
        total += channels + int(filters * alpha)
        channels = int(filters * alpha)
    return total


def v2_bn_channels():
    """Stem 32; per block the expansion (t x input, unless t = 1), depthwise and projection; 1280."""
    channels, total = 32, 32
    for t, c, n, _ in V2:
        for _ in range(n):
            total += (t * channels if t != 1 else 0) + t * channels + c
            channels = c
    return total + 1280


def receptive_size(strides):
    """r += 2 * jump for every 3x3 (stem and depthwise); jump doubles at each stride 2."""
    size, jump = 1, 1
    for stride in strides:
        size, jump = size + 2 * jump, jump * stride
    return size, jump


def weighted_names(model):
    return sorted(layer.name for layer in model.layers if layer.weights)


def built(name, application, **kwargs):
    """Ours and keras.applications', with zero weights."""
    with zero_init():
        ours = kerascnn.build(name, compile=False, **kwargs)
        theirs = getattr(keras.applications, application)(weights=None, **kwargs)
    return ours, theirs


# the fast tier keeps each builder's default and the multiplier that reaches the most code (a
# depth multiplier too; MobileNetV2 widens its last convolution only above 1); the other
# multiplier runs the same rounding again, in the full tier
SECOND_MULTIPLIER = pytest.mark.slow


@pytest.mark.parametrize("name, application, kwargs", [
    ("mobilenet", "MobileNet", {}),
    pytest.param("mobilenet", "MobileNet", {"alpha": 0.25}, marks=SECOND_MULTIPLIER),
    ("mobilenet", "MobileNet", {"alpha": 0.75, "depth_multiplier": 2}),
    ("mobilenet_v2", "MobileNetV2", {}),
    pytest.param("mobilenet_v2", "MobileNetV2", {"alpha": 0.35}, marks=SECOND_MULTIPLIER),
    ("mobilenet_v2", "MobileNetV2", {"alpha": 1.4}),
])
def test_counts_and_names_equal_keras_applications(name, application, kwargs):
    ours, theirs = built(name, application, **kwargs)
    assert counts(ours) == counts(theirs)
    assert weighted_names(ours) == weighted_names(theirs)  # what weights="imagenet" copies by name
    if not kwargs:
        card = kerascnn.model_card(name)
        assert counts(ours) == (card.params, card.trainable_params, card.non_trainable_params)


@every_runtime
def test_cards_against_the_references():
    v1, v2 = kerascnn.model_card("mobilenet"), kerascnn.model_card("mobilenet_v2")
    assert v1.non_trainable_params == 2 * v1_bn_channels() == 21_888
    assert v2.trainable_params == TORCHVISION_V2[0]
    assert v2.non_trainable_params == 2 * v2_bn_channels()
    assert (v1.gmacs, v2.gmacs) == (V1_MULT_ADDS[1.0] / 1000, TORCHVISION_V2[1])


@pytest.mark.parametrize("alpha", sorted(V1_MULT_ADDS))
def test_v1_mult_adds_match_the_paper(alpha):
    with zero_init():
        model = kerascnn.mobilenet(alpha=alpha, compile=False)
    cost = analysis.macs(model)
    assert cost.unknown == []
    assert cost.total / 1e6 == pytest.approx(V1_MULT_ADDS[alpha], rel=0.005)


@every_runtime
def test_v2_macs_match_torchvision():
    with zero_init():
        model = kerascnn.mobilenet_v2(compile=False)
    assert analysis.macs(model).giga == pytest.approx(TORCHVISION_V2[1], rel=0.005)


def test_receptive_fields_and_output_sizes():
    with zero_init():
        v1 = kerascnn.mobilenet(compile=False)
        v2 = kerascnn.mobilenet_v2(compile=False)
    fields = analysis.receptive_field(v1)["conv_pw_13_relu"]
    # stem and 13 depthwise 3x3s; Araujo et al., Distill 2019, Table 1: mobilenet_v1 315, stride 32
    assert receptive_size([2] + [s for _, s in V1]) == (315, 32)
    assert fields.size == (315, 315) and fields.jump == (32, 32)
    v2_strides = [2] + [s if i == 0 else 1 for _, _, n, s in V2 for i in range(n)]
    size, jump = receptive_size(v2_strides)
    assert analysis.receptive_field(v2)["out_relu"].size == (size, size) and jump == 32
    for model in (v1, v2):
        rows = analysis.output_sizes(model)
        assert rows and all(row.matches for row in rows)
    assert tuple(v1.get_layer("conv_pw_13_relu").output.shape[1:3]) == (7, 7)


@every_runtime
def test_public_blocks():
    x = keras.Input((28, 28, 32))
    with zero_init():
        y = kerascnn.depthwise_separable_block(x, 64, strides=2, depth_multiplier=2, block_id=7)
        z = kerascnn.inverted_residual_block(x, 32, strides=1, expansion=6, block_id=3)
        w = kerascnn.inverted_residual_block(x, 48, strides=2, expansion=6, block_id=4)
    assert tuple(y.shape) == (None, 14, 14, 64)
    # depthwise 9 x 64 + BN 4 x 64; pointwise 64 x 64 + BN 4 x 64
    assert keras.Model(x, y).count_params() == 9 * 64 + 4 * 64 + 64 * 64 + 4 * 64
    # expand 32 -> 192 + BN, depthwise 9 x 192 + BN, project 192 -> 32 + BN; identity shortcut
    assert keras.Model(x, z).count_params() == 32 * 192 + 4 * 192 + 9 * 192 + 4 * 192 + 192 * 32 + 4 * 32
    assert keras.Model(x, z).layers[-1].name == "block_3_add"
    assert tuple(w.shape) == (None, 14, 14, 48)
    assert make_divisible(24 * 0.35) == 8 and make_divisible(320 * 1.3) == 416


def test_input_sizes():
    assert kerascnn.model_card("mobilenet").min_input_size == (31, 31)
    assert kerascnn.model_card("mobilenet_v2").min_input_size == (1, 1)
    with zero_init():
        def v1(shape):
            return kerascnn.mobilenet(input_shape=shape, include_top=False, compile=False)

        assert collapses(v1, (30, 30, 3)) and not collapses(v1, (31, 31, 3))
        tiny = kerascnn.mobilenet_v2(input_shape=(1, 1, 2), num_classes=3, compile=False)
        odd = kerascnn.mobilenet_v2(input_shape=(37, 90, 1), include_top=False, compile=False)
    assert tuple(tiny.output.shape) == (None, 3)
    assert tuple(odd.output.shape) == (None, 2, 3, 1280)  # ceil(s / 32) on both sides
    with pytest.raises(ValueError, match="too small for mobilenet"):
        kerascnn.mobilenet(input_shape=(30, 64, 3))
    with pytest.raises(ValueError, match="alpha must be a positive number"):
        kerascnn.mobilenet_v2(alpha=0)
    with pytest.raises(ValueError, match="leaves no channel"):
        kerascnn.mobilenet(alpha=0.01)


@pytest.fixture(scope="module")
def small_v2():
    with zero_init():
        model = kerascnn.mobilenet_v2(alpha=0.35, input_shape=(64, 64, 3), num_classes=5,
                                      classifier_activation=None, compile=False)
    return fill_random(model, seed=6)


@every_runtime
def test_fold_batchnorm_folds_every_batchnorm(small_v2):
    randomize_batchnorm(small_v2, seed=2)
    folded, report = fold_batchnorm(small_v2, report=True)
    assert report["kept"] == {} and len(report["folded"]) == 52  # 1 + 16 x 3 + 2 + 1
    x = batch((64, 64, 3), seed=1)
    reference = infer(small_v2, x)
    assert np.abs(reference).max() > 1e-2
    assert np.abs(infer(folded, x) - reference).max() <= 1e-4 * max(1.0, np.abs(reference).max())


@every_runtime
def test_add_se_puts_one_block_on_every_residual_branch(small_v2):
    se = add_se(small_v2, ratio=4)
    # residual blocks: repeats after the first of each row of Table 2 with equal channels:
    # 24 x 1, 32 x 2, 64 x 3, 96 x 2, 160 x 2 (alpha 0.35: 8, 16, 24, 32, 56 channels)
    widths = [8] * 1 + [16] * 2 + [24] * 3 + [32] * 2 + [56] * 2
    assert [make_divisible(c * 0.35) for c in (24, 32, 64, 96, 160)] == [8, 16, 24, 32, 56]
    expected = sum(2 * c * (c // 4) + c // 4 + c for c in widths)
    assert se.count_params() - small_v2.count_params() == expected
    assert sum(layer.name.endswith("_se_excite") for layer in se.layers) == 10


# ---------------------------------------------------------------- keras.applications weights

TRANSFERS = {  # registry name: (keras.applications name, alpha, trained input side)
    "mobilenet": ("MobileNet", 0.25, 128),
    "mobilenet_v2": ("MobileNetV2", 0.35, 96),
}


@every_runtime
@pytest.mark.parametrize("name", sorted(TRANSFERS))
def test_imagenet_weights_transfer_with_identical_outputs(name):
    application, alpha, side = TRANSFERS[name]
    shape = (side, side, 3)
    source = random_application(application, shape, seed=7, alpha=alpha)
    with applications_answering(application, source) as calls:
        model = kerascnn.build(name, weights="imagenet", alpha=alpha, input_shape=shape,
                               classifier_activation=None, compile=False)
    options = {"depth_multiplier": 1} if name == "mobilenet" else {}  # the only one with ImageNet weights
    assert calls == [{"weights": "imagenet", "include_top": True, "alpha": alpha, **options,
                      "input_shape": shape}]
    x = np.random.default_rng(1).uniform(-1, 1, size=(2, *shape)).astype("float32")
    assert_same_model(source, model, x)


@every_runtime
def test_features_at_any_size_take_the_224_weights():
    source = random_application("MobileNetV2", (224, 224, 3), include_top=False)
    with applications_answering("MobileNetV2", source) as calls:
        kerascnn.mobilenet_v2(weights="imagenet", input_shape=(100, 80, 3), include_top=False)
    assert calls == [{"weights": "imagenet", "include_top": False, "alpha": 1.0, "input_shape": (224, 224, 3)}]


@every_runtime
def test_imagenet_download_failure_raises():
    assert_download_failure_raises("MobileNet", lambda: kerascnn.mobilenet(
        weights="imagenet", alpha=0.5, input_shape=(160, 160, 3)))


@every_runtime
@pytest.mark.parametrize("name, kwargs, message", [
    ("mobilenet", {"alpha": 0.6}, r"pairs \(0.25, 128\), \(0.25, 160\)"),
    ("mobilenet", {"input_shape": (100, 100, 3)}, r"input_shape=\(100, 100, 3\)"),
    ("mobilenet", {"depth_multiplier": 2}, "depth_multiplier=1"),
    ("mobilenet_v2", {"alpha": 1.2}, r"\(1.4, 224\)"),
    ("mobilenet_v2", {"input_shape": (96, 128, 3)}, "square inputs"),
    ("mobilenet_v2", {"num_classes": 10}, "the top has 1000 classes"),
    ("mobilenet_v2", {"input_shape": (96, 96, 1)}, "need 3 channels"),
])
def test_imagenet_arguments_are_checked_before_building(name, kwargs, message):
    with pytest.raises(WeightsNotAvailable, match=message):
        kerascnn.build(name, weights="imagenet", **kwargs)


@pytest.mark.parametrize("shape", [(37, 90, 3), (33, 33, 3)])
def test_v2_same_padding_equals_keras_applications_explicit_padding(shape):
    """kerascnn pads stride-2 layers "same" where keras.applications adds ZeroPadding2D layers
    computed from the input size: the outputs agree at odd and non-square sizes too."""
    with zero_init():
        source = keras.applications.MobileNetV2(weights=None, alpha=0.35, include_top=False, input_shape=shape)
        model = kerascnn.mobilenet_v2(alpha=0.35, input_shape=shape, include_top=False)
    copy_weights_by_name(fill_random(source, seed=8), model)
    assert len(model.layers) == len(source.layers) - 4  # block_1/3/6/13_pad
    assert_same_model(source, model, batch(shape, seed=3))
