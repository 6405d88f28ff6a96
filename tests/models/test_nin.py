"""NiN against d2l.ai's structure (chapter "Network in Network"; Lin et al. 2013, arXiv 1312.4400).

d2l publishes the structure, not a parameter count: nin_block(96, 11, 4, 0), max pool 3/2,
nin_block(256, 5, 1, 2), max pool 3/2, nin_block(384, 3, 1, 1), max pool 3/2, dropout 0.5,
nin_block(num_classes, 3, 1, 1), global average pooling; every block a convolution and two
1x1 convolutions with biases and ReLU; 224x224x1 inputs, 10 classes. Counts, sizes, MACs and
the receptive field are recomputed below from that structure by hand arithmetic.
"""

import numpy as np
import pytest

import kerascnn
from kerascnn import analysis
from kerascnn.surgery import add_se, fold_batchnorm
from zoo_helpers import batch, collapses, counts, fill_random, infer, zero_init

every_runtime = pytest.mark.every_runtime

# d2l.ai: (filters, kernel, stride, padding) per NiN block, a 3x3/2 max pool after the first three.
D2L = [(96, 11, 4, 0), (256, 5, 1, 2), (384, 3, 1, 1)]


def structure(side=224, channels=1, classes=10):
    """Per convolution (out side, in channels, out channels, kernel), from d2l's table."""
    convs = []
    for filters, kernel, stride, padding in [*D2L, (classes, 3, 1, 1)]:
        side = (side + 2 * padding - kernel) // stride + 1
        convs += [(side, channels, filters, kernel), (side, filters, filters, 1), (side, filters, filters, 1)]
        channels = filters
        if len(convs) <= 9:
            side = (side - 3) // 2 + 1  # the max pool
    return convs


def hand_params(channels=1, classes=10):
    return sum(k * k * c_in * c_out + c_out for _, c_in, c_out, k in structure(224, channels, classes))


def hand_macs(side=224):
    return sum(s * s * c_out * k * k * c_in for s, c_in, c_out, k in structure(side))


@every_runtime
def test_counts_equal_the_hand_recomputation():
    with zero_init():
        model = fill_random(kerascnn.nin(compile=False))
    assert hand_params() == 1_992_166
    assert counts(model) == (hand_params(), hand_params(), 0)
    card = kerascnn.model_card("nin")
    assert (card.params, card.trainable_params, card.non_trainable_params) == counts(model)
    assert (card.input_shape, card.num_classes) == ((224, 224, 1), 10)
    # the paper's idea: no fully connected layer, one feature map per class, averaged
    assert not any(type(layer).__name__ == "Dense" for layer in model.layers)
    assert [layer.name for layer in model.layers[-2:]] == ["avg_pool", "predictions"]
    out = infer(model, batch((224, 224, 1)))
    assert out.shape == (2, 10)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-4)


@every_runtime
def test_other_classes_and_channels():
    model = kerascnn.nin(input_shape=(96, 96, 3), num_classes=1000, compile=False)
    assert model.count_params() == hand_params(channels=3, classes=1000)
    assert model.get_layer("dropout").rate == 0.5
    features = kerascnn.nin(input_shape=(96, 96, 3), include_top=False, pooling="avg")
    assert tuple(features.output.shape) == (None, 384)


def test_macs_sizes_and_receptive_field():
    model = kerascnn.nin(compile=False)
    cost = analysis.macs(model)
    assert cost.unknown == [] and cost.total == hand_macs()
    rows = {row.name: row for row in analysis.output_sizes(model)}
    assert all(row.matches for row in rows.values())
    sides = [s for s, *_ in structure()][::3]  # 54, 26, 12, 5: the first convolution of each block
    assert [rows[f"nin{i}_1_conv"].keras_size for i in (1, 2, 3, 4)] == [(s, s) for s in sides]
    # r += (k - 1) * jump: 11/4, pool 3/2, 5, pool 3/2, 3, pool 3/2, 3
    size, jump = 11, 4
    for kernel, stride in [(3, 2), (5, 1), (3, 2), (3, 1), (3, 2), (3, 1)]:
        size, jump = size + (kernel - 1) * jump, jump * stride
    field = analysis.receptive_field(model)["nin4_3_relu"]
    assert field.size == (size, size) == (195, 195) and field.jump == (32, 32)


@every_runtime
def test_minimum_input_size_and_argument_checks():
    assert kerascnn.model_card("nin").min_input_size == (67, 67)

    def build(shape):
        return kerascnn.nin(input_shape=shape, compile=False)

    assert collapses(build, (66, 66, 1)) and not collapses(build, (67, 67, 1))
    with pytest.raises(ValueError, match="too small for nin"):
        kerascnn.nin(input_shape=(66, 224, 1))
    with pytest.raises(ValueError, match="final_relu=False"):
        kerascnn.nin(num_classes=1)
    binary = kerascnn.nin(num_classes=1, final_relu=False, compile=False)
    assert binary.get_layer("nin4_3_conv").activation.__name__ == "linear"
    with pytest.raises(ValueError, match="padding"):
        kerascnn.nin_block(binary.input, 8, 3, padding="full")
    with pytest.raises(ValueError, match="weights='imagenet' is not available for nin"):
        kerascnn.nin(weights="imagenet")


@every_runtime
def test_surgery_refuses_clearly():
    with zero_init():
        model = kerascnn.nin(compile=False)
    with pytest.raises(ValueError, match="BatchNormalization"):
        fold_batchnorm(model)  # NiN has no BatchNorm to fold
    with pytest.raises(ValueError):
        add_se(model, where="residual")  # nor residual branches
    se = add_se(model, ratio=16, where="conv")  # an SE block after each mlpconv layer

    def se_params(c, r=16):
        return 2 * c * max(1, c // r) + max(1, c // r) + c

    expected = sum(se_params(c_out) for *_, c_out, _ in structure())
    assert se.count_params() - model.count_params() == expected
