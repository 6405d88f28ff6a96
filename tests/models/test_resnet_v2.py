"""Pre-activation ResNet (ResNet V2) against keras.applications (built here) and osmr/imgclsmob.

ResNet50V2/101V2/152V2: every count equals keras.applications' model, built in this module
with ``weights=None``; the layout is theirs layer by layer and ImageNet weights transfer by
name. ResNet-18/34 V2 have no keras.applications model: their trainable counts are
osmr/imgclsmob's preresnet18/34 torch counts adjusted for the two documented differences
(no stem BatchNorm, a bias on each convolution that no BatchNorm follows), recomputed here.
Builds are 64x64 (no weight depends on the side) with zero initial weights (zoo_helpers).
"""

import math

import numpy as np
import pytest
from zoo_helpers import (
    applications_answering, assert_download_failure_raises, assert_same_model, batch, counts,
    random_application, zero_init)

import kerascnn
from kerascnn import analysis
from kerascnn.errors import WeightsNotAvailable
from kerascnn.runtime import keras
from kerascnn.surgery import add_se, fold_batchnorm, randomize_batchnorm
from tiers import sweep
from kerascnn.weights import copy_weights_by_name

every_runtime = pytest.mark.every_runtime
SMALL = (64, 64, 3)
WIDTHS = (64, 128, 256, 512)
# He et al. 2015, Table 1 (blocks per stage conv2..conv5); keras.applications resnet_v2.py
BOTTLENECK = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
BASIC = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
# osmr/imgclsmob, pytorch/pytorchcv/models/preresnet.py _test(): trainable (torch) counts of
# preresnet18 / preresnet34 (stem conv-BN-ReLU, pre-activation basic blocks, no conv bias).
IMGCLSMOB = {18: 11_687_848, 34: 21_796_008}
APPLICATIONS = {50: "ResNet50V2", 101: "ResNet101V2", 152: "ResNet152V2"}


def structure(depth):
    """(BatchNorm channels, biases) of kerascnn's layout, from the stage table alone."""
    basic = depth in BASIC
    repeats = BASIC[depth] if basic else BOTTLENECK[depth]
    expansion = 1 if basic else 4
    channels, bn, biases = 64, 0, 64  # the stem convolution has a bias (no BatchNorm follows it)
    for width, n in zip(WIDTHS, repeats):
        out = expansion * width
        for _ in range(n):
            bn += channels + (width if basic else 2 * width)  # pre-activation, then inside the branch
            biases += out  # the branch's last convolution
            biases += out if channels != out else 0  # the 1x1 projection of the first block
            channels = out
    return bn + channels, biases  # + post_bn


@every_runtime
def test_basic_variants_recomputed_from_imgclsmob():
    for depth, torch_count in IMGCLSMOB.items():
        bn, biases = structure(depth)
        card = kerascnn.model_card(f"resnet{depth}v2")
        # imgclsmob has a BatchNorm after the stem convolution (64 gammas, 64 betas) and no biases
        assert card.trainable_params == torch_count - 2 * 64 + biases
        assert card.non_trainable_params == 2 * bn
        assert card.params == card.trainable_params + card.non_trainable_params
        assert card.pretrained == ()


@pytest.fixture(scope="module")
def built():
    """kerascnn builds (zero initial weights) kept for the module: layouts and counts only."""
    cache = {}

    def get(name, shape=SMALL):
        if (name, shape) not in cache:
            with zero_init():
                cache[name, shape] = kerascnn.build(name, input_shape=shape, compile=False)
        return cache[name, shape]

    return get


@pytest.mark.parametrize("depth", [18, 34])
def test_basic_variant_counts(depth):
    with zero_init():
        model = kerascnn.build(f"resnet{depth}v2", input_shape=SMALL, compile=False)
    card = kerascnn.model_card(f"resnet{depth}v2")
    assert counts(model) == (card.params, card.trainable_params, card.non_trainable_params)
    assert counts(model)[2] == 2 * structure(depth)[0]


@pytest.mark.parametrize("depth", sweep([f"resnet{d}v2" for d in (50, 101, 152)], values=[50, 101, 152]))
def test_counts_and_layers_equal_keras_applications(built, depth):
    name = f"resnet{depth}v2"
    with zero_init():
        model = built(name) if depth == 50 else kerascnn.build(name, input_shape=SMALL, compile=False)
        reference = getattr(keras.applications, APPLICATIONS[depth])(weights=None, input_shape=SMALL)
    card = kerascnn.model_card(name)
    assert counts(model) == counts(reference)
    assert counts(model) == (card.params, card.trainable_params, card.non_trainable_params)
    assert counts(model)[2] == 2 * structure(depth)[0]
    assert len(model.layers) == len(reference.layers)

    def weighted(m):
        return [(l.name, type(l).__name__, [tuple(w.shape) for w in l.weights])
                for l in m.layers if l.weights]

    assert weighted(model) == weighted(reference)  # same names, classes, shapes, in the same order


def test_stride_in_the_last_block_of_conv2_to_conv4(built):
    model = built("resnet50v2")
    for stage, blocks in zip((2, 3, 4, 5), BOTTLENECK[50]):
        last = model.get_layer(f"conv{stage}_block{blocks}_2_conv")
        assert last.strides == ((2, 2) if stage < 5 else (1, 1))
        assert model.get_layer(f"conv{stage}_block1_2_conv").strides == (1, 1)
        assert model.get_layer(f"conv{stage}_block1_0_conv").use_bias  # projection on the pre-activation
    assert model.get_layer("conv2_block3_0_pool").strides == (2, 2)  # 1x1 max pool on the shortcut
    assert [l.name for l in model.layers[-4:]] == ["post_bn", "post_relu", "avg_pool", "predictions"]
    assert not any(isinstance(l, keras.layers.BatchNormalization) for l in model.layers[:4])  # no stem BN


def test_basic_variants_downsample_in_the_first_block(built):
    model = built("resnet18v2")
    for stage in (3, 4, 5):
        assert model.get_layer(f"conv{stage}_block1_1_conv").strides == (2, 2)
        assert model.get_layer(f"conv{stage}_block1_0_conv").strides == (2, 2)
    assert model.get_layer("conv2_block1_1_conv").strides == (1, 1)
    # conv2's first block keeps 64 channels: an identity shortcut, no projection
    assert "conv2_block1_0_conv" not in [l.name for l in model.layers]


def halvings(side, times=5):
    for _ in range(times):
        side = math.ceil(side / 2)
    return side


@pytest.mark.parametrize("shape", [(32, 32, 3), (37, 90, 3), (1, 1, 1)])
def test_output_sizes_any_side_down_to_one_pixel(shape):
    with zero_init():
        model = kerascnn.resnet18v2(input_shape=shape, include_top=False, compile=False)
    assert tuple(model.output.shape) == (None, halvings(shape[0]), halvings(shape[1]), 512)
    assert all(row.matches for row in analysis.output_sizes(model))


def test_output_sizes_and_receptive_field_of_resnet50v2(built):
    model = built("resnet50v2", (224, 224, 3))
    rows = {row.name: row for row in analysis.output_sizes(model)}
    assert all(row.matches for row in rows.values())
    assert rows["conv2_block3_2_conv"].keras_size == (28, 28)  # conv2 ends at 28x28 (stride-last)
    assert rows["conv5_block3_3_conv"].keras_size == (7, 7)
    # Araujo et al. 2019 (Distill), r = 1 + sum (k - 1) * jump along the deepest path:
    # stem 7x7/2 and 3x3/2 pool, then per bottleneck a 3x3 (stride 2 in the last block of conv2..4)
    size, jump = 1 + 6 + 2 * 2, 4
    for stage, blocks in enumerate(BOTTLENECK[50], start=2):
        for index in range(1, blocks + 1):
            size += 2 * jump
            jump *= 2 if index == blocks and stage < 5 else 1
    fields = analysis.receptive_field(model)
    assert fields["conv5_block3_3_conv"].size == (size, size)
    assert fields["conv5_block3_3_conv"].jump == (32, 32)


def test_macs_equal_keras_applications_resnet50v2(built):
    with zero_init():
        theirs = keras.applications.ResNet50V2(weights=None)
    cost = analysis.macs(built("resnet50v2", (224, 224, 3)))
    assert cost.unknown == []
    assert cost.total == analysis.macs(theirs).total
    # cheaper than the V1 layout (3.858 G, docs/models/resnet.md): the last, strided block of a
    # stage runs its 3x3 and 1x1 at the next stage's resolution
    assert cost.giga < 3.858


# ---------------------------------------------------------------- keras.applications weights

@pytest.fixture(scope="module")
def applications_resnet50v2():
    """keras.applications ResNet50V2 with random weights, logits out (no network)."""
    return random_application("ResNet50V2", SMALL)


@pytest.fixture(scope="module")
def imagenet_resnet50v2(applications_resnet50v2):
    """kerascnn.resnet50v2(weights="imagenet"), keras.applications answering from the model above."""
    with applications_answering("ResNet50V2", applications_resnet50v2) as calls:
        model = kerascnn.resnet50v2(weights="imagenet", input_shape=SMALL, classifier_activation=None,
                                    compile=False)
    assert calls == [{"weights": "imagenet", "include_top": True}]
    return model


@every_runtime
def test_imagenet_weights_transfer_output_identical(applications_resnet50v2, imagenet_resnet50v2):
    x = np.random.default_rng(1).normal(size=(2, *SMALL)).astype("float32")
    assert_same_model(applications_resnet50v2, imagenet_resnet50v2, x)


@every_runtime
def test_imagenet_download_failure_raises():
    assert_download_failure_raises("ResNet50V2", lambda: kerascnn.resnet50v2(
        weights="imagenet", input_shape=(32, 32, 3), include_top=False))


@every_runtime
@pytest.mark.parametrize("name, kwargs, message", [
    ("resnet18v2", {}, "not available for resnet18v2"),
    ("resnet50v2", {"num_classes": 10}, "the top has 1000 classes"),
    ("resnet50v2", {"input_shape": (224, 224, 1)}, "need 3 channels"),
])
def test_imagenet_arguments_are_checked_before_building(name, kwargs, message):
    with pytest.raises(WeightsNotAvailable, match=message):
        kerascnn.build(name, weights="imagenet", **kwargs)


@every_runtime
def test_copy_refuses_the_v1_layout(applications_resnet50v2):
    with zero_init():
        target = kerascnn.resnet50(input_shape=SMALL, use_bias=True, compile=False)
    with pytest.raises(ValueError, match="conv1_bn: no layer of that name"):
        copy_weights_by_name(applications_resnet50v2, target)


# ---------------------------------------------------------------- surgery

def test_fold_batchnorm_folds_the_inner_batchnorms_and_keeps_the_pre_activations():
    model = kerascnn.resnet18v2(input_shape=SMALL, num_classes=5, classifier_activation=None, compile=False)
    randomize_batchnorm(model, seed=3)
    folded, report = fold_batchnorm(model, report=True)
    # only the BatchNorm inside each branch follows a convolution; pre-activations follow an
    # addition (or the pool), post_bn the last addition: they stay, each with its reason
    blocks = [f"conv{s}_block{i}" for s in (2, 3, 4, 5) for i in (1, 2)]
    assert sorted(report["folded"]) == sorted(f"{b}_1_bn -> {b}_1_conv" for b in blocks)
    assert set(report["kept"]) == {f"{b}_preact_bn" for b in blocks} | {"post_bn"}
    assert all("does not come from a convolution" in why for why in report["kept"].values())
    x = batch(SMALL)
    diff = np.asarray(folded(x, training=False)) - np.asarray(model(x, training=False))
    assert np.abs(diff).max() <= 1e-4


def test_add_se_on_every_pre_activation_block():
    model = kerascnn.resnet18v2(input_shape=SMALL, compile=False)
    se = add_se(model, ratio=16)
    out_channels = [w for w in WIDTHS for _ in range(2)]
    expected = sum(2 * c * (c // 16) + c // 16 + c for c in out_channels)  # se_block's count
    assert se.count_params() - model.count_params() == expected
    assert tuple(se.output.shape) == (None, 1000)
