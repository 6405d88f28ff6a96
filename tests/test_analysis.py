"""MACs and FLOPs: hand-computed layers, nested models, unknown layers, reference figures.

Convention under test (kerascnn.analysis.macs): MACs = multiply-accumulates of convolutions,
dense layers and matrix products, biases excluded, as torchvision's `_ops` counter
(pytorch/vision PR 6936: maps only aten.convolution, mm/addmm/bmm/matmul) and the ResNet
paper count them. Everything else goes to `other_ops`.
"""

import warnings

import pytest

import kerascnn
from kerascnn import analysis
from kerascnn.blocks import inception
from kerascnn.runtime import IS_KERAS3, keras

# also in the Keras 2 run: the graph adapter reads Keras 2 graphs its own way
pytestmark = pytest.mark.keras2

layers = keras.layers
# The analysis reads the Keras graph, which does not depend on the backend: a few tests
# (marker `builders`) also run on JAX; the rest only in the two TensorFlow runtimes, since
# every layer built on JAX costs an XLA compilation of its initialisers.


def _model(shape, *stack, name=None):
    x = inputs = keras.Input(shape)
    for layer in stack:
        x = layer(x)
    return keras.Model(inputs, x, name=name)


@pytest.fixture(scope="module")
def vgg16():
    return keras.applications.VGG16(weights=None)


@pytest.fixture(scope="module")
def resnet50_v1():
    return keras.applications.ResNet50(weights=None)


# (layer, per-sample input shape, MACs by hand); all in one model, built once
BY_HAND = {
    # 15x15 outputs (floor((31 - 3)/2) + 1), 8 filters, 3*3*4 weights each
    "strided": (lambda n: layers.Conv2D(8, 3, strides=2, name=n), (31, 31, 4), 15 * 15 * 8 * 3 * 3 * 4),
    # 'same', stride 2 on 31: ceil(31/2) = 16
    "same": (lambda n: layers.Conv2D(8, 3, strides=2, padding="same", name=n), (31, 31, 4),
             16 * 16 * 8 * 3 * 3 * 4),
    # dilation 2: effective kernel 5, 27x27 outputs, still 3*3 weights per output
    "dilated": (lambda n: layers.Conv2D(8, 3, dilation_rate=2, name=n), (31, 31, 4), 27 * 27 * 8 * 3 * 3 * 4),
    # groups 2: each filter sees 4/2 input channels
    "grouped": (lambda n: layers.Conv2D(8, 3, groups=2, name=n), (10, 10, 4), 8 * 8 * 8 * 3 * 3 * 2),
    # depthwise, multiplier 2: 8 output channels, 3*3 weights each
    "depthwise": (lambda n: layers.DepthwiseConv2D(3, depth_multiplier=2, name=n), (10, 10, 4),
                  8 * 8 * 8 * 3 * 3),
    # separable: depthwise 8*8*4*9, then pointwise 8*8*4*16
    "separable": (lambda n: layers.SeparableConv2D(16, 3, name=n), (10, 10, 4),
                  8 * 8 * 4 * 9 + 8 * 8 * 4 * 16),
    # Dense on a rank-3 input: 5 positions x 7 outputs x 6 inputs
    "dense3": (lambda n: layers.Dense(7, name=n), (5, 6), 5 * 7 * 6),
    # Conv1D: floor((20 - 5)/3) + 1 = 6 positions, 8 filters, 5*2 weights
    "conv1d": (lambda n: layers.Conv1D(8, 5, strides=3, name=n), (20, 2), 6 * 8 * 5 * 2),
    # transposed: every input pixel meets every 2x2x3 weight of its 5 channels
    "transposed": (lambda n: layers.Conv2DTranspose(3, 2, strides=2, name=n), (4, 4, 5),
                   4 * 4 * 5 * 2 * 2 * 3),
}


def test_layer_macs_by_hand():
    inputs, outputs = [], []
    for name, (make, shape, _) in BY_HAND.items():
        inputs.append(keras.Input(shape, name=f"in_{name}"))
        outputs.append(make(name)(inputs[-1]))
    cost = analysis.macs(keras.Model(inputs, outputs))
    assert cost.per_layer == {name: expected for name, (_, _, expected) in BY_HAND.items()}
    assert cost.unknown == []


def test_other_ops_are_counted_apart():
    model = _model((8, 8, 3), layers.Conv2D(4, 3, use_bias=False, name="conv"),
                   layers.BatchNormalization(name="bn"), layers.ReLU(name="relu"),
                   layers.MaxPooling2D(2, name="pool"), layers.GlobalAveragePooling2D(name="gap"))
    cost = analysis.macs(model)
    assert cost.total == cost.per_layer["conv"] == 6 * 6 * 4 * 27
    by_name = {layer.name: layer.other_ops for layer in cost.layers}
    assert by_name == {"conv": 0, "bn": 6 * 6 * 4, "relu": 6 * 6 * 4, "pool": 3 * 3 * 4 * 4, "gap": 3 * 3 * 4}


def test_merges_and_bias():
    x = keras.Input((4, 4, 2))
    a = layers.Conv2D(2, 1, name="a")(x)  # bias: 4*4*2 other ops
    y = layers.Add(name="add")([x, a, a])  # 2 additions per element
    z = layers.Concatenate(name="cat")([y, x])  # data movement only
    cost = analysis.macs(keras.Model(x, z))
    assert {c.name: (c.count, c.other_ops) for c in cost.layers} == {
        "a": (4 * 4 * 2 * 2, 32), "add": (0, 2 * 32), "cat": (0, 0)}


def test_flops_are_twice_macs():
    model = kerascnn.lenet5(compile=False)
    assert analysis.flops(model).total == 2 * analysis.macs(model).total
    assert analysis.flops(model).unit == "FLOPs"


@pytest.mark.every_runtime
def test_lenet5_by_hand():
    # C1 28*28*6*25, C3 10*10*16*(6*25), C5 120*400, F6 84*120, output 10*84
    cost = analysis.macs(kerascnn.lenet5(compile=False))
    assert cost.total == 117_600 + 240_000 + 48_000 + 10_080 + 840


@pytest.mark.every_runtime
def test_nested_models_are_entered():
    inner = _model((8, 8, 3), layers.Conv2D(4, 3, name="inner_conv"), name="backbone")
    x = keras.Input((8, 8, 3))
    y = layers.Flatten(name="flat")(inner(x))
    y = layers.Dense(2, name="head")(y)
    cost = analysis.macs(keras.Model(x, y))
    assert cost.per_layer == {"backbone/inner_conv": 6 * 6 * 4 * 27, "flat": 0, "head": 144 * 2}


def test_sequential_model():
    model = keras.Sequential([keras.Input((6, 6, 1)), layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(3)])
    assert analysis.macs(model).total == 4 * 4 * 2 * 9 + 32 * 3


def test_unknown_layers_are_listed_and_warned():
    model = _model((4,), layers.Dense(3, name="known"), layers.Lambda(lambda t: t * 2, name="mystery"))
    with pytest.warns(UserWarning, match="mystery"):
        cost = analysis.macs(model)
    assert cost.unknown == ["mystery (Lambda)"]
    assert cost.total == 12 and "unknown" in str(cost)


def test_register_counter_teaches_a_custom_layer():
    class Doubler(layers.Layer):
        def call(self, inputs):
            return inputs * 2

    model = _model((5,), Doubler(name="doubler"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert analysis.macs(model).unknown
    analysis.register_counter(Doubler, lambda layer, ins, outs: (0, outs[0][0]))
    cost = analysis.macs(model)
    assert cost.unknown == [] and cost.other_ops == 5


def test_attention_and_matmul():
    x = keras.Input((10, 16))
    y = layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(x, x)
    cost = analysis.macs(keras.Model(x, y))
    # q, k, v projections 3 * 10*16*2*4, scores + context 2 * 2*10*10*4, output 10*(2*4)*16
    assert cost.total == 3 * 10 * 16 * 8 + 2 * 2 * 10 * 10 * 4 + 10 * 8 * 16


@pytest.mark.keras3_only
@pytest.mark.every_runtime
def test_keras3_matmul_operation():
    x = keras.Input((6, 5))
    y = keras.ops.matmul(x, keras.ops.transpose(x, (0, 2, 1)))  # (6, 5) @ (5, 6)
    cost = analysis.macs(keras.Model(x, y))
    assert cost.total == 6 * 6 * 5 and cost.unknown == []


def test_unknown_size_is_a_clear_error():
    model = _model((None, None, 3), layers.Conv2D(2, 3))
    with pytest.raises(ValueError, match="fixed input size"):
        analysis.macs(model)


def test_not_a_functional_model_is_a_type_error():
    with pytest.raises(TypeError, match="functional or built Sequential"):
        analysis.macs("resnet50")


def test_inception_3a_matches_the_paper():
    # Szegedy et al. 2014, Table 1: inception (3a) on 28x28x192 costs 128M ops (multiply-adds)
    x = keras.Input((28, 28, 192))
    cost = analysis.macs(keras.Model(x, inception(x, 64, 96, 128, 16, 32, 32, name="inception_3a")))
    by_hand = 28 * 28 * (192 * 64 + 192 * 96 + 96 * 9 * 128 + 192 * 16 + 16 * 25 * 32 + 192 * 32)
    assert cost.total == by_hand
    assert round(cost.total / 1e6) == 128


def test_vgg16_matches_torchvision(vgg16):
    # docs/references.md, torchvision vgg16 _ops 15.470 GMACs (within 0.5%)
    assert analysis.macs(vgg16).giga == pytest.approx(15.470, rel=0.005)


def test_keras_applications_resnet50_is_v1(resnet50_v1):
    # He et al. 2015, Table 1: ResNet-50 3.8 billion multiply-adds (one published decimal:
    # within 0.1 G); keras.applications puts the stride in the first 1x1 (V1)
    cost = analysis.macs(resnet50_v1)
    assert cost.giga == pytest.approx(3.8, abs=0.1)
    assert cost.unknown == []
