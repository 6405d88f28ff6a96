"""Xception against keras.applications (built here with weights=None), the paper and osmr/imgclsmob.

References: keras.applications.Xception built in this module (counts, layout, the weights of
``weights="imagenet"``); Chollet 2017 (arXiv 1610.02357), Table 3: 22,855,952 parameters, which
osmr/imgclsmob's PyTorch table (pytorch/README.md) repeats for its port, with 8,403.63M
"FLOPs/2" at 299x299 (docs/models/xception.md). No layer's weights depend on the input side,
so counts and the weight transfer use 71x71 builds (keras.applications' smallest).
"""

import numpy as np
import pytest

import kerascnn
from kerascnn.errors import WeightsNotAvailable
from kerascnn import analysis
from kerascnn.runtime import keras
from kerascnn.surgery import add_se, fold_batchnorm, randomize_batchnorm
from zoo_helpers import (
    applications_answering, assert_counts_match, assert_download_failure_raises, assert_same_model, batch,
    collapses, counts, fill_random, random_application, same_layer_classes, zero_init,
)

every_runtime = pytest.mark.every_runtime
SMALL = (71, 71, 3)
PAPER_PARAMS = 22_855_952  # Chollet 2017, Table 3 (BatchNorm statistics not counted)
OSMR_GMACS = 8.40363  # osmr/imgclsmob pytorch/README.md, Xception "FLOPs/2" at 299x299
# osmr's counter counts a little more than multiply-accumulates: its Inception v3 figure,
# 5,743.06M, is 0.52% above torchvision's _ops (5.713) for the same network.
OSMR_EXCESS = 5_743.06 / 5_713.2


def se_params(channels, ratio=16):
    return 2 * channels * (channels // ratio) + channels // ratio + channels


@pytest.fixture(scope="module")
def applications():
    return random_application("Xception", SMALL)


@pytest.fixture(scope="module")
def imagenet(applications):
    with applications_answering("Xception", applications) as calls:
        model = kerascnn.xception(weights="imagenet", input_shape=SMALL, classifier_activation=None,
                                  compile=False)
    assert calls == [{"weights": "imagenet", "include_top": True}]
    return model


@every_runtime
def test_counts_equal_keras_applications_the_paper_and_the_card(applications, imagenet):
    assert_counts_match("xception", imagenet, applications)
    assert counts(imagenet)[1] == PAPER_PARAMS


@every_runtime
def test_layout_and_names_follow_keras_applications(applications, imagenet):
    ours, theirs = same_layer_classes(imagenet, applications)
    # every name keras.applications chose itself is ours too (it lets Keras name the shortcut
    # convolutions, their BatchNorms and the additions)
    chosen = {layer.name for layer in theirs if layer.name.startswith(("block", "avg_pool", "predictions"))}
    assert len(chosen) == len(theirs) - 4 * 2 - 12
    assert chosen <= {layer.name for layer in ours}
    separable = [layer for layer in ours if isinstance(layer, keras.layers.SeparableConv2D)]
    assert len(separable) == 3 * 2 + 8 * 3 + 2 + 2 == 34  # entry, middle, exit flows (figure 5)
    assert not any(layer.use_bias for layer in ours if isinstance(layer, keras.layers.Conv2D))


@every_runtime
def test_imagenet_loader_transfers_every_weight(applications, imagenet):
    assert_same_model(applications, imagenet, batch(SMALL, seed=1) * 2 - 1, by_name=False)


@every_runtime
def test_imagenet_download_failure_raises():
    assert_download_failure_raises("Xception", lambda: kerascnn.xception(
        weights="imagenet", input_shape=SMALL, include_top=False))


@every_runtime
@pytest.mark.parametrize("kwargs, message", [
    ({"num_classes": 10}, "the top has 1000 classes"),
    ({"input_shape": (299, 299, 1)}, "need 3 channels"),
])
def test_imagenet_arguments_are_checked_before_building(kwargs, message):
    with pytest.raises(WeightsNotAvailable, match=message):
        kerascnn.xception(weights="imagenet", **kwargs)


def test_minimum_input_size_is_the_stems():
    with pytest.raises(ValueError, match="too small for xception: the minimum is 7x7"):
        kerascnn.xception(input_shape=(6, 64, 3))
    with zero_init():
        assert collapses(lambda shape: kerascnn.xception(input_shape=shape, compile=False), (6, 6, 3))
        model = kerascnn.xception(input_shape=(7, 37, 1), num_classes=0, compile=False)
    # 7 -> 3 -> 1, then four "same" stride-2 poolings keep 1; 37 -> 18 -> 16 -> 8, 4, 2, 1
    assert tuple(model.output.shape) == (None, 1, 1, 2048)
    assert tuple(model.get_layer("block1_conv2_act").output.shape) == (None, 1, 16, 64)


@pytest.mark.keras3_only
@pytest.mark.tensorflow_only
def test_macs_sizes_and_receptive_field():
    with zero_init():
        model = kerascnn.xception(compile=False)
    cost = analysis.macs(model)
    assert cost.unknown == []
    assert cost.giga * OSMR_EXCESS == pytest.approx(OSMR_GMACS, rel=0.002)
    assert cost.giga == pytest.approx(kerascnn.model_card("xception").gmacs, rel=0.006)
    rows = {row.name: row for row in analysis.output_sizes(model)}
    assert all(row.matches for row in rows.values())
    # figure 5: 299x299 -> 147 after the stem, 19x19x728 in the middle flow, 10x10 after the exit flow
    assert rows["block1_conv2"].keras_size == (147, 147)
    assert rows["block4_pool"].keras_size == (19, 19) and rows["block13_pool"].keras_size == (10, 10)
    field = analysis.receptive_field(model)["block14_sepconv2"]
    assert field.jump == (32, 32)


def test_fold_batchnorm_into_separable_convolutions_and_add_se():
    model = kerascnn.xception(input_shape=SMALL, num_classes=5, classifier_activation=None, compile=False)
    fill_random(model, seed=4)
    assert randomize_batchnorm(model, seed=5) == 2 + 4 + 34
    folded, report = fold_batchnorm(model, report=True)
    assert len(report["folded"]) == 40 and report["kept"] == {}
    assert "block5_sepconv1_bn -> block5_sepconv1" in report["folded"]
    assert len(folded.get_layer("block5_sepconv1").get_weights()) == 3  # depthwise, pointwise, bias
    x = batch(SMALL, seed=6)
    reference = np.asarray(model(x, training=False))
    assert np.abs(reference).max() > 1e-2
    assert np.abs(np.asarray(folded(x, training=False)) - reference).max() <= 1e-4 * np.abs(reference).max()
    # SE on the residual branches: the middle flow's eight blocks; the entry and exit blocks end
    # their branch in a max pool, not in a BatchNorm or convolution, so they get none
    se = add_se(model)
    assert se.count_params() - model.count_params() == 8 * se_params(728)
    assert sorted(layer.name for layer in se.layers if layer.name.endswith("_se_excite")) == sorted(
        f"block{i}_se_excite" for i in range(5, 13))
