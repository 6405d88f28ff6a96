"""DenseNet-121/169/201 against keras.applications (built here) and torchvision's published table.

References: keras.applications.DenseNet121/169/201 built in this module with ``weights=None``
(total, trainable, non-trainable counts, layer names); torchvision's ``IMAGENET1K_V1`` weights
metadata, typed in below (``num_params`` = the Keras trainable count, ``_ops`` in GMACs);
Huang et al. 2017 (arXiv 1608.06993), Table 1, for the structure the BatchNorm channels
and the receptive field are recomputed from by hand.

Counts do not depend on the input size (global average pooling before the classifier), so
the big models are built once, at 224x224 with zero initial weights, and dropped after
their figures are read; forward passes use 64x64 inputs.
"""

import numpy as np
import pytest

import kerascnn
from kerascnn import analysis
from kerascnn.errors import WeightsNotAvailable
from kerascnn.models.densenet import STEM, densenet
from kerascnn.runtime import IS_KERAS3, keras
from kerascnn.surgery import add_se, fold_batchnorm, randomize_batchnorm
from tiers import sweep
from zoo_helpers import (
    applications_answering, assert_download_failure_raises, assert_same_model, batch, collapses, counts,
    fill_random, infer, random_application, zero_init)

every_runtime = pytest.mark.every_runtime
SMALL = (64, 64, 3)

# Huang et al. 2017, Table 1: layers per dense block; growth rate k = 32, bottleneck 4k,
# compression 0.5, stem 64 channels.
BLOCKS = {121: (6, 12, 24, 16), 169: (6, 12, 32, 32), 201: (6, 12, 48, 32)}
# 121 in the fast tier and every runtime; 169 and 201, the same blocks deeper, in the full tier's TF run
DEPTHS = sweep([f"densenet{depth}" for depth in sorted(BLOCKS)], values=sorted(BLOCKS))
# torchvision IMAGENET1K_V1 weights metadata: num_params, GMACs (_ops).
TORCHVISION = {121: (7_978_856, 2.83), 169: (14_149_480, 3.36), 201: (20_013_928, 4.29)}
APPLICATIONS = {121: "DenseNet121", 169: "DenseNet169", 201: "DenseNet201"}


def bn_channels(blocks, k=32):
    """BatchNorm channels: stem 64; per dense layer its input and its 4k bottleneck; per
    transition its input; the final BatchNorm."""
    total, channels = 64, 64
    for index, layers_in_block in enumerate(blocks):
        for _ in range(layers_in_block):
            total += channels + 4 * k
            channels += k
        total += channels  # the transition's BatchNorm, or the final "bn" after the last block
        if index < 3:
            channels //= 2
    return total


def receptive_size(blocks):
    """Hand recurrence r += (kernel - 1) * jump: 7x7/2 stem, 3x3/2 pool, a 3x3 per dense
    layer, a 2x2/2 average pool per transition (1x1 convolutions add nothing)."""
    size, jump = 7, 2
    size, jump = size + 2 * jump, jump * 2
    for index, layers_in_block in enumerate(blocks):
        size += layers_in_block * 2 * jump
        if index < 3:
            size, jump = size + jump, jump * 2
    return size, jump


def weighted_names(model):
    return sorted(layer.name for layer in model.layers if layer.weights)


@pytest.fixture(scope="module")
def figures():
    """Build each depth once (ours and keras.applications', zero weights), keep the figures."""
    cache = {}

    def get(depth):
        if depth not in cache:
            with zero_init():
                ours = kerascnn.build(f"densenet{depth}", compile=False)
                theirs = getattr(keras.applications, APPLICATIONS[depth])(weights=None)
            cache[depth] = {
                "ours": counts(ours), "theirs": counts(theirs),
                "names": (weighted_names(ours), weighted_names(theirs)),
                "layers": (len(ours.layers), len(theirs.layers)),
                "macs": analysis.macs(ours),
            }
            del ours, theirs
            keras.backend.clear_session()
        return cache[depth]

    return get


@pytest.mark.parametrize("depth", DEPTHS)
def test_counts_equal_keras_applications_and_torchvision(figures, depth):
    facts = figures(depth)
    total, trainable, frozen = facts["ours"]
    assert facts["ours"] == facts["theirs"]
    assert trainable == TORCHVISION[depth][0]
    assert frozen == 2 * bn_channels(BLOCKS[depth])  # moving mean and variance
    card = kerascnn.model_card(f"densenet{depth}")
    assert (card.params, card.trainable_params, card.non_trainable_params) == (total, trainable, frozen)
    ours, theirs = facts["names"]
    assert ours == theirs  # what weights="imagenet" copies by name
    assert facts["layers"][0] == facts["layers"][1]


@pytest.mark.parametrize("depth", DEPTHS)
def test_macs_within_half_a_percent_of_torchvision(figures, depth):
    cost = figures(depth)["macs"]
    assert cost.unknown == []
    assert cost.giga == pytest.approx(TORCHVISION[depth][1], rel=0.005)
    assert kerascnn.model_card(f"densenet{depth}").gmacs == TORCHVISION[depth][1]


@pytest.fixture(scope="module")
def densenet121_small():
    with zero_init():
        model = kerascnn.densenet121(input_shape=SMALL, classifier_activation=None, compile=False)
    return fill_random(model, seed=5)


@every_runtime
def test_layout_names_and_forward_pass(densenet121_small):
    model = densenet121_small
    assert model.get_layer(f"{STEM}conv").kernel_size == (7, 7)
    assert STEM == ("conv1_" if IS_KERAS3 else "conv1/")  # each runtime's keras.applications name
    assert [layer.name for layer in model.layers[-4:]] == ["bn", "relu", "avg_pool", "predictions"]
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 1 + 2 * sum(BLOCKS[121]) + 3 and not any(c.use_bias for c in convs)
    # channels: 64 + 6k = 256 -> 128, + 12k = 512 -> 256, + 24k = 1024 -> 512, + 16k = 1024
    assert [model.get_layer(f"pool{i}_conv").filters for i in (2, 3, 4)] == [128, 256, 512]
    assert model.get_layer("bn").output.shape[-1] == 1024
    assert tuple(model.output.shape) == (None, 1000)  # forward passes: the weight transfer below


@every_runtime
def test_public_blocks():
    x = keras.Input((8, 8, 64))
    with zero_init():
        y = kerascnn.dense_block(x, 3, growth_rate=12, name="b")
    assert y.shape[-1] == 64 + 3 * 12
    # per layer: BN(c) + 1x1 conv c->48 + BN(48) + 3x3 conv 48->12, c = 64, 76, 88
    expected = sum(4 * c + c * 48 + 4 * 48 + 9 * 48 * 12 for c in (64, 76, 88))
    assert keras.Model(x, y).count_params() == expected
    with zero_init():
        z = kerascnn.transition_block(y, 0.5, name="t")
    assert tuple(z.shape) == (None, 4, 4, 50)
    with pytest.raises(ValueError, match="reduction must be in"):
        kerascnn.transition_block(y, 1.5)
    with pytest.raises(ValueError, match="blocks must be four layer counts"):
        densenet(blocks=(6, 12, 24))


def test_minimum_input_size():
    assert kerascnn.model_card("densenet121").min_input_size == (29, 29)
    build = lambda shape: kerascnn.densenet121(input_shape=shape, include_top=False, compile=False)  # noqa: E731
    with zero_init():
        assert collapses(build, (28, 28, 3)) and not collapses(build, (29, 29, 3))
    with pytest.raises(ValueError, match="too small for densenet121"):
        kerascnn.densenet121(input_shape=(28, 64, 3))


@every_runtime
def test_features_only_any_channels():
    with zero_init():
        model = kerascnn.densenet121(input_shape=(37, 90, 1), num_classes=0, pooling="avg")
    assert tuple(model.output.shape) == (None, 1024)
    assert model.count_params() == TORCHVISION[121][0] - (1024 * 1000 + 1000) - 2 * 7 * 7 * 64 \
        + 2 * bn_channels(BLOCKS[121])


def test_output_sizes_and_receptive_field():
    with zero_init():
        model = kerascnn.densenet121(compile=False)
    rows = {row.name: row for row in analysis.output_sizes(model)}
    assert all(row.matches for row in rows.values())
    assert [rows[n].keras_size for n in ("pool1", "pool2_pool", "pool3_pool", "pool4_pool")] == [
        (56, 56), (28, 28), (14, 14), (7, 7)]
    field = analysis.receptive_field(model)["conv5_block16_concat"]
    size, jump = receptive_size(BLOCKS[121])
    assert field.size == (size, size) and field.jump == (jump, jump) == (32, 32)


TINY_BLOCKS = (2, 3, 2, 2)  # a small DenseNet-BC: the same layers, cheaper to rewrite and run


@pytest.fixture(scope="module")
def tiny_densenet():
    with zero_init():
        model = densenet(TINY_BLOCKS, input_shape=SMALL, growth_rate=8, num_classes=5,
                         classifier_activation=None, compile=False)
    return fill_random(model, seed=4)


@every_runtime
def test_fold_batchnorm_folds_post_conv_batchnorms_only(tiny_densenet):
    model = tiny_densenet
    randomize_batchnorm(model, seed=1)
    folded, report = fold_batchnorm(model, report=True)
    # a BatchNorm follows a convolution only in the stem and inside each bottleneck (_1_bn);
    # the pre-activation BatchNorms follow a concatenation or a pooling and stay
    assert len(report["folded"]) == 1 + sum(TINY_BLOCKS)
    assert len(report["kept"]) == sum(TINY_BLOCKS) + 3 + 1
    assert all("does not come from a convolution" in why for why in report["kept"].values())
    x = batch(SMALL, seed=2)
    reference = infer(model, x)
    assert np.abs(reference).max() > 1e-2
    assert np.abs(infer(folded, x) - reference).max() <= 1e-4 * max(1.0, np.abs(reference).max())


@every_runtime
def test_add_se_refuses_without_residuals_and_works_on_conv_blocks(tiny_densenet):
    with pytest.raises(ValueError):
        add_se(tiny_densenet, where="residual")  # no residual addition in a DenseNet
    se = add_se(tiny_densenet, ratio=4, where="conv")

    def se_params(c, r=4):
        return 2 * c * (c // r) + c // r + c

    # one SE block after every convolution: the stem's 64, per dense layer the bottleneck's
    # 4k = 32 and the growth k = 8; the transitions halve 64 + 2k = 80, 40 + 3k = 64, 32 + 2k = 48
    expected = se_params(64) + sum(TINY_BLOCKS) * (se_params(32) + se_params(8)) + sum(map(se_params, (40, 32, 24)))
    assert se.count_params() - tiny_densenet.count_params() == expected


# ---------------------------------------------------------------- keras.applications weights

@pytest.fixture(scope="module")
def applications_densenet121():
    """keras.applications DenseNet121 with random weights, logits out (no network)."""
    return random_application("DenseNet121", SMALL, seed=3)


@pytest.fixture(scope="module")
def imagenet_densenet121(applications_densenet121):
    """kerascnn.densenet121(weights="imagenet") with keras.applications answering from the model above."""
    with applications_answering("DenseNet121", applications_densenet121) as calls:
        model = kerascnn.densenet121(weights="imagenet", input_shape=SMALL, classifier_activation=None,
                                     compile=False)
    assert calls == [{"weights": "imagenet", "include_top": True}]
    return model


@every_runtime
def test_imagenet_weights_transfer_with_identical_outputs(applications_densenet121, imagenet_densenet121):
    for ours, theirs in zip(imagenet_densenet121.weights, applications_densenet121.weights):
        assert ours.shape == theirs.shape
    x = np.random.default_rng(1).normal(size=(2, *SMALL)).astype("float32")
    assert_same_model(applications_densenet121, imagenet_densenet121, x)


@every_runtime
def test_imagenet_download_failure_raises():
    assert_download_failure_raises("DenseNet201", lambda: kerascnn.densenet201(
        weights="imagenet", input_shape=SMALL, include_top=False))


@every_runtime
@pytest.mark.parametrize("kwargs, message", [
    ({"growth_rate": 12}, "growth_rate=32"),
    ({"num_classes": 10}, "the top has 1000 classes"),
    ({"input_shape": (224, 224, 1)}, "need 3 channels"),
])
def test_imagenet_arguments_are_checked_before_building(kwargs, message):
    with pytest.raises(WeightsNotAvailable, match=message):
        kerascnn.build("densenet121", weights="imagenet", **kwargs)


@every_runtime
def test_imagenet_weights_only_for_the_registered_blocks():
    with pytest.raises(WeightsNotAvailable, match=r"not available for blocks=\(12, 6, 24, 16\)"):
        densenet((12, 6, 24, 16), weights="imagenet")  # DenseNet-121's depth, another layout
