"""ResNeXt and Wide ResNet against torchvision's published weights metadata.

torchvision's ``num_params`` (IMAGENET1K_V1 weights metadata, typed here from the published
table, also in docs/models/resnext.md) count trainable tensors only: they must equal the Keras
trainable count. The non-trainable count (BatchNorm moving mean and variance) is recomputed
here from the layout. MACs within 0.5% of torchvision's ``_ops``. Each model is built once,
at 224x224 with zero initial weights (the counts and MACs do not depend on the values), and
dropped before the next (ResNeXt-101 32x8d has 89M parameters, Wide ResNet-101-2 127M).
"""

import math

import numpy as np
import pytest
from zoo_helpers import batch, counts, zero_init

import kerascnn
from kerascnn import analysis
from kerascnn.blocks import resnext_block
from kerascnn.errors import WeightsNotAvailable
from kerascnn.runtime import keras
from kerascnn.surgery import add_se, fold_batchnorm, randomize_batchnorm
from tiers import sweep

every_runtime = pytest.mark.every_runtime
WIDTHS = (64, 128, 256, 512)
REPEATS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}  # He et al. 2015, Table 1
# torchvision weights metadata (IMAGENET1K_V1): depth, groups, width_per_group, num_params, _ops (GMACs)
TORCHVISION = {
    "resnext50_32x4d": (50, 32, 4, 25_028_904, 4.23),
    "resnext101_32x8d": (101, 32, 8, 88_791_336, 16.41),
    "resnext101_64x4d": (101, 64, 4, 83_455_272, 15.46),
    "wide_resnet50_2": (50, 1, 128, 68_883_240, 11.40),
    "wide_resnet101_2": (101, 1, 128, 126_886_696, 22.75),
}


def inner_width(filters, groups, width_per_group):
    """torchvision's Bottleneck: width = int(planes * (base_width / 64.)) * groups."""
    return int(filters * (width_per_group / 64.0)) * groups


def bn_channels(name):
    """Stem 64; per bottleneck width + width + 4 x filters; the first block of a stage projects."""
    depth, groups, width_per_group = TORCHVISION[name][:3]
    total, channels = 64, 64
    for filters, n in zip(WIDTHS, REPEATS[depth]):
        total += n * (2 * inner_width(filters, groups, width_per_group) + 4 * filters)
        total += 4 * filters if channels != 4 * filters else 0
        channels = 4 * filters
    return total


@pytest.mark.parametrize("name", sweep(list(TORCHVISION)))
def test_counts_macs_and_layout_equal_torchvision(name):
    depth, groups, width_per_group, torch_count, gmacs = TORCHVISION[name]
    with zero_init():
        model = kerascnn.build(name, compile=False)
    frozen = 2 * bn_channels(name)
    assert counts(model) == (torch_count + frozen, torch_count, frozen)
    card = kerascnn.model_card(name)
    assert (card.params, card.trainable_params, card.non_trainable_params) == counts(model)
    assert card.gmacs == gmacs and card.pretrained == ()
    cost = analysis.macs(model)
    assert cost.unknown == []
    assert cost.giga == pytest.approx(gmacs, rel=0.005)
    # torchvision's form: grouped 3x3 carrying the stride, no convolution bias
    middle = model.get_layer("conv3_block1_2_conv")
    assert middle.groups == groups and middle.strides == (2, 2)
    assert middle.filters == inner_width(128, groups, width_per_group)
    assert model.get_layer("conv3_block1_1_conv").strides == (1, 1)
    assert not any(l.use_bias for l in model.layers if isinstance(l, keras.layers.Conv2D))
    assert tuple(model.get_layer("conv5_block3_out").output.shape) == (None, 7, 7, 2048)
    assert tuple(model.output.shape) == (None, 1000)


@every_runtime
def test_resnext_block_widths_and_refusals():
    x = keras.Input((14, 14, 512))
    y = resnext_block(x, 256, strides=2, cardinality=32, base_width=8, name="b")
    block = keras.Model(x, y)
    assert tuple(y.shape) == (None, 7, 7, 1024)
    assert block.get_layer("b_2_conv").groups == 32
    assert block.get_layer("b_2_conv").filters == 32 * 32 == inner_width(256, 32, 8)
    # 1x1 512->1024, grouped 3x3 (1024/32 in, 1024 out), 1x1 1024->1024, projection 512->1024, 4 BNs
    assert block.count_params() == 512 * 1024 + 9 * 32 * 1024 + 1024 * 1024 + 512 * 1024 + 4 * 4 * 1024
    with pytest.raises(ValueError, match="filters \\* base_width must be at least 64"):
        resnext_block(x, 8, cardinality=32, base_width=4)
    with pytest.raises(ValueError, match="cardinality"):
        resnext_block(x, 64, cardinality=0)


def test_cardinality_and_width_are_arguments():
    with zero_init():
        model = kerascnn.resnext50_32x4d(input_shape=(32, 32, 3), cardinality=8, base_width=16,
                                         include_top=False, compile=False)
    layer = model.get_layer("conv2_block1_2_conv")
    assert (layer.groups, layer.filters) == (8, 128)  # 8 groups of 16: the same width, other groups


def halvings(side, times=5):
    for _ in range(times):
        side = math.ceil(side / 2)
    return side


@pytest.mark.parametrize("shape", [(32, 32, 3), (37, 90, 1), (1, 1, 3)])
def test_output_sizes_any_side_down_to_one_pixel(shape):
    with zero_init():
        model = kerascnn.wide_resnet50_2(input_shape=shape, include_top=False, compile=False)
    assert tuple(model.output.shape) == (None, halvings(shape[0]), halvings(shape[1]), 2048)
    assert all(row.matches for row in analysis.output_sizes(model))


def test_receptive_field_and_forward_pass_at_a_non_square_size():
    model = kerascnn.resnext50_32x4d(input_shape=(37, 90, 3), num_classes=7, compile=False)
    assert np.asarray(model(batch((37, 90, 3)))).shape == (2, 7)
    # r = 1 + sum (k - 1) x jump (Araujo et al. 2019): stem 7x7/2 and 3x3/2 pool, then one 3x3
    # per bottleneck, strided in the first block of conv3..conv5
    size, jump = 1 + 6 + 2 * 2, 4
    for stage, blocks in enumerate(REPEATS[50], start=2):
        for index in range(1, blocks + 1):
            size += 2 * jump
            jump *= 2 if index == 1 and stage > 2 else 1
    field = analysis.receptive_field(model)["conv5_block3_3_conv"]
    assert field.size == (size, size) and field.jump == (32, 32)


def test_fold_batchnorm_folds_every_batchnorm_of_the_grouped_convolutions():
    model = kerascnn.resnext50_32x4d(input_shape=(64, 64, 3), num_classes=5, classifier_activation=None,
                                     compile=False)
    count = randomize_batchnorm(model, seed=5)
    folded, report = fold_batchnorm(model, report=True)
    assert count == len(report["folded"]) == 53 and report["kept"] == {}
    assert folded.get_layer("conv2_block1_2_conv").groups == 32
    x = batch((64, 64, 3))
    reference = np.asarray(model(x, training=False))
    assert np.abs(reference).max() > 1e-2
    assert np.abs(np.asarray(folded(x, training=False)) - reference).max() <= 1e-4


def test_add_se_puts_one_se_block_on_every_bottleneck():
    with zero_init():
        model = kerascnn.resnext50_32x4d(input_shape=(64, 64, 3), compile=False)
    se = add_se(model, ratio=16)
    out = [4 * w for w, n in zip(WIDTHS, REPEATS[50]) for _ in range(n)]
    assert se.count_params() - model.count_params() == sum(2 * c * (c // 16) + c // 16 + c for c in out)


@every_runtime
def test_no_imagenet_weights_is_said_before_building():
    with pytest.raises(WeightsNotAvailable, match="not available for wide_resnet50_2: Pretrained sets exist"):
        kerascnn.wide_resnet50_2(weights="imagenet")
