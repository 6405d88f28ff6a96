"""Receptive fields and output sizes against hand arithmetic.

Recurrences (Dang Ha The Hien 2017; Araujo et al., Distill 2019):
r_out = r_in + (k - 1) * j_in, j_out = j_in * s, start_out = start_in + ((k - 1)/2 - p) * j_in,
starting from r = 1, j = 1, start = 0.5 at the input.
Output size: O = floor((I - K + 2P) / S) + 1; 'same': O = ceil(I / S).
"""

import pytest

from kerascnn import analysis
from kerascnn.analysis import conv_output_size
from kerascnn.runtime import keras

layers = keras.layers


def _stack(shape, *stack):
    x = inputs = keras.Input(shape)
    for layer in stack:
        x = layer(x)
    return keras.Model(inputs, x)


@pytest.fixture(scope="module")
def vgg16():
    return keras.applications.VGG16(weights=None)


@pytest.mark.every_runtime
def test_stacked_3x3_convolutions():
    # each 3x3 conv at jump 1 adds (3 - 1) * 1: one sees 3, two 5, three 7 (1 + 2n)
    convs = [layers.Conv2D(2, 3, name=f"c{i}") for i in (1, 2, 3)]
    fields = analysis.receptive_field(_stack((16, 16, 1), *convs))
    for depth, expected in ((1, 3), (2, 5), (3, 7)):
        field = fields[f"c{depth}"]
        assert field.size == (expected, expected) == (1 + 2 * depth,) * 2
        assert field.jump == (1, 1)
        assert field.start == (0.5 + depth,) * 2  # 'valid': the first output is centred depth pixels in


def test_stride_dilation_padding_and_pooling():
    model = _stack((32, 32, 1),
                   layers.ZeroPadding2D(1, name="pad"),
                   layers.Conv2D(2, 3, strides=2, name="c1"),              # r 3, j 2
                   layers.MaxPooling2D(2, name="pool"),                    # r 3 + 1*2 = 5, j 4
                   layers.Conv2D(2, 3, dilation_rate=2, padding="same", name="c2"))  # k_eff 5: r 5 + 4*4 = 21
    fields = analysis.receptive_field(model)
    assert fields["pad"].start == (-0.5, -0.5)              # 0.5 - 1 * 1
    assert fields["c1"].size == (3, 3) and fields["c1"].jump == (2, 2)
    assert fields["c1"].start == (0.5, 0.5)                 # -0.5 + (1 - 0) * 1
    assert fields["pool"].size == (5, 5) and fields["pool"].jump == (4, 4)
    assert fields["pool"].start == (1.5, 1.5)               # 0.5 + (0.5 - 0) * 2
    assert fields["c2"].size == (21, 21) and fields["c2"].jump == (4, 4)
    assert fields["c2"].start == (1.5, 1.5)                 # 'same' pads 2 before: (2 - 2) * 4


def test_multi_branch_takes_the_largest_and_global_pooling_covers_all():
    x = keras.Input((16, 16, 3))
    small = layers.Conv2D(4, 1, name="one")(x)
    large = layers.Conv2D(4, 5, padding="same", name="five")(x)
    merged = layers.Concatenate(name="cat")([small, large])
    pooled = layers.GlobalAveragePooling2D(name="gap")(merged)
    fields = analysis.receptive_field(keras.Model(x, pooled))
    assert fields["one"].size == (1, 1) and fields["five"].size == (5, 5)
    assert fields["cat"].size == (5, 5)
    assert fields["gap"].covers_input and str(fields["gap"]) == "whole input"


def test_vgg16_block5_conv3_sees_196(vgg16):
    # By hand, 3x3 'same' convs add 2*j, 2x2/2 pools add 1*j and double j:
    # block1: 1 + 2 + 2 = 5 (j 1); pool1: 5 + 1 = 6 (j 2)
    # block2: 6 + 4 + 4 = 14; pool2: 14 + 2 = 16 (j 4)
    # block3: 16 + 3*8 = 40; pool3: 40 + 4 = 44 (j 8)
    # block4: 44 + 3*16 = 92; pool4: 92 + 8 = 100 (j 16)
    # block5: 100 + 3*32 = 196
    fields = analysis.receptive_field(vgg16)
    assert fields["block5_conv3"].size == (196, 196)
    assert fields["block5_conv3"].jump == (16, 16)
    # pool5: 196 + 16 = 212 at jump 32, Araujo et al. (Distill 2019) Table 1 for VGG-16
    assert fields["block5_pool"].size == (212, 212) and fields["block5_pool"].jump == (32, 32)
    assert fields["fc1"].covers_input


@pytest.mark.every_runtime
@pytest.mark.parametrize("size, kernel, stride, padding, expected", [
    (227, 11, 4, "valid", 55),   # floor((227 - 11)/4) + 1 = 55 (AlexNet conv1)
    (224, 11, 4, 2, 55),         # floor((224 - 11 + 4)/4) + 1 = 55 (torchvision's padding 2)
    (7, 3, 2, "valid", 3),       # floor(4/2) + 1
    (8, 3, 2, "valid", 3),       # floor(5/2) + 1
    (7, 3, 2, "same", 4),        # ceil(7/2)
    (8, 3, 2, "same", 4),        # ceil(8/2)
    (13, 3, 2, 1, 7),            # floor((13 - 3 + 2)/2) + 1
    (31, 5, 3, "same", 11),      # ceil(31/3)
])
def test_output_size_formula(size, kernel, stride, padding, expected):
    assert conv_output_size(size, kernel, stride, padding) == expected


CASES = [(7, 2, "valid"), (7, 2, "same"), (9, 3, "same"), (10, 3, "valid")]


def test_output_sizes_agree_with_keras():
    inputs, outputs = [], []
    for i, (size, stride, padding) in enumerate(CASES):
        inputs.append(keras.Input((size, size + 2, 1)))
        y = layers.Conv2D(2, 3, strides=stride, padding=padding, name=f"conv{i}")(inputs[-1])
        outputs.append(layers.MaxPooling2D(2, padding=padding, name=f"pool{i}")(y))
    rows = {row.name: row for row in analysis.output_sizes(keras.Model(inputs, outputs))}
    assert sorted(rows) == sorted([f"conv{i}" for i in range(4)] + [f"pool{i}" for i in range(4)])
    for row in rows.values():
        assert row.matches, row
    for i, (size, stride, padding) in enumerate(CASES):
        expected = -(-size // stride) if padding == "same" else (size - 3) // stride + 1
        assert rows[f"conv{i}"].formula_size[0] == rows[f"conv{i}"].keras_size[0] == expected


def test_same_padding_is_explained():
    # 'same', stride 2, kernel 7 on 224 (ResNet conv1): O = 112, P = (112 - 1)*2 + 7 - 224 = 5
    model = _stack((224, 224, 3), layers.Conv2D(2, 7, strides=2, padding="same", name="conv1"))
    row = analysis.output_sizes(model)[0]
    assert row.pads == ((2, 3), (2, 3))  # the odd pixel after, as TensorFlow pads
    assert row.keras_size == row.formula_size == (112, 112)
    assert "P = 5 (2 before, 3 after)" in row.explanation and "ceil(224/2)" in row.explanation


def test_bad_formula_arguments():
    with pytest.raises(ValueError, match="padding"):
        conv_output_size(10, 3, 1, "full")
    with pytest.raises(TypeError, match="stride"):
        conv_output_size(10, 3, 1.5)
