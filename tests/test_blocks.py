"""Parameter counts and shapes of the public blocks, against hand arithmetic or docs/references.md."""

import numpy as np
import pytest

from kerascnn import basic_block, bottleneck_block, classifier_head, conv_bn_act, inception, se_block
from kerascnn.layers import LocalResponseNormalization
from kerascnn.runtime import keras

pytestmark = pytest.mark.every_runtime


def model_of(shape, block, *args, **kwargs):
    x = keras.Input(shape)
    return keras.Model(x, block(x, *args, **kwargs))


def counts(model):
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return model.count_params(), trainable, model.count_params() - trainable


def test_conv_bn_act_counts_and_names():
    model = model_of((32, 32, 3), conv_bn_act, 16, 3, name="stem")
    # conv 3*3*3*16 (no bias under BN) + BN gamma, beta (trainable) and mean, variance
    assert counts(model) == (432 + 4 * 16, 432 + 2 * 16, 2 * 16)
    assert [layer.name for layer in model.layers[1:]] == ["stem_conv", "stem_bn", "stem_relu"]
    plain = model_of((32, 32, 3), conv_bn_act, 16, 3, batch_norm=False, name="plain")
    assert plain.count_params() == 432 + 16  # bias comes back without BN


def test_conv_bn_act_integer_padding_is_symmetric_like_pytorch():
    model = model_of((56, 56, 8), conv_bn_act, 8, 3, strides=2, padding=1, name="down")
    assert tuple(model.output.shape) == (None, 28, 28, 8)
    assert model.get_layer("down_pad").padding == ((1, 1), (1, 1))


def test_inception_3a_matches_the_paper_build():
    # docs/references.md: inception(3a) with biases, built as in the paper: 163,696 params
    model = model_of((28, 28, 192), inception, 64, 96, 128, 16, 32, 32, name="inception_3a")
    assert model.count_params() == 163_696
    assert tuple(model.output.shape) == (None, 28, 28, 64 + 128 + 32 + 32)
    names = {layer.name for layer in model.layers}
    assert {"inception_3a_1x1_conv", "inception_3a_3x3_reduce_conv", "inception_3a_5x5_conv",
            "inception_3a_pool", "inception_3a_pool_proj_conv", "inception_3a_output"} <= names


def test_inception_with_batch_norm_drops_biases_adds_bn():
    model = model_of((28, 28, 192), inception, 64, 96, 128, 16, 32, 32, batch_norm=True)
    conv_channels = 64 + 96 + 128 + 16 + 32 + 32
    assert model.count_params() == 163_696 - conv_channels + 4 * conv_channels


def test_basic_block_identity_and_projection():
    identity = model_of((56, 56, 64), basic_block, 64, name="b")
    assert counts(identity) == (2 * 9 * 64 * 64 + 2 * 4 * 64, 2 * 9 * 64 * 64 + 2 * 2 * 64, 2 * 2 * 64)
    assert "b_0_conv" not in {layer.name for layer in identity.layers}
    projection = model_of((56, 56, 64), basic_block, 128, strides=2, name="p")
    expected = 9 * 64 * 128 + 9 * 128 * 128 + 64 * 128 + 3 * 4 * 128
    assert projection.count_params() == expected
    assert tuple(projection.output.shape) == (None, 28, 28, 128)
    assert projection.get_layer("p_0_conv").strides == (2, 2)


@pytest.mark.parametrize("stride_in, strided_layer", [("v1", "b_1_conv"), ("v1.5", "b_2_conv")])
def test_bottleneck_stride_placement(stride_in, strided_layer):
    model = model_of((56, 56, 256), bottleneck_block, 128, strides=2, stride_in=stride_in, name="b")
    # 1x1 256->128, 3x3 128->128, 1x1 128->512, projection 256->512, BN on 128,128,512,512
    expected = 256 * 128 + 9 * 128 * 128 + 128 * 512 + 256 * 512 + 4 * (128 + 128 + 512 + 512)
    assert model.count_params() == expected
    assert tuple(model.output.shape) == (None, 28, 28, 512)
    assert model.get_layer(strided_layer).strides == (2, 2)


def test_se_block_count_and_gating():
    model = model_of((7, 7, 256), se_block, 16, name="se")
    assert model.count_params() == 2 * 256 * 16 + 16 + 256
    x = np.random.default_rng(0).normal(size=(2, 7, 7, 256)).astype("float32")
    y = np.asarray(model(x))
    gates = y / x  # every channel is scaled by one gate in (0, 1)
    assert np.allclose(gates, gates[:, :1, :1, :], atol=1e-4)
    assert np.all((gates > 0) & (gates < 1))
    assert not any("lambda" in layer.__class__.__name__.lower() for layer in model.layers)


def test_se_inside_bottleneck_adds_the_se_count():
    plain = model_of((14, 14, 1024), bottleneck_block, 256, name="b").count_params()
    with_se = model_of((14, 14, 1024), bottleneck_block, 256, se_ratio=16, name="b").count_params()
    channels = 1024
    assert with_se - plain == 2 * channels * channels // 16 + channels // 16 + channels


def test_classifier_head():
    model = model_of((7, 7, 512), classifier_head, 10, pooling="avg", dropout=0.5)
    assert model.count_params() == 512 * 10 + 10
    assert model.layers[-1].name == "predictions"
    binary = model_of((4,), classifier_head, 1)
    assert binary.layers[-1].get_config()["activation"] == "sigmoid"


def test_local_response_normalization_formula():
    a = np.random.default_rng(1).normal(size=(2, 3, 3, 7)).astype("float32")
    layer = LocalResponseNormalization(depth_radius=2, bias=2.0, alpha=1e-2, beta=0.75)
    expected = np.empty_like(a)
    for c in range(7):
        window = a[..., max(0, c - 2): c + 3]
        expected[..., c] = a[..., c] / (2.0 + 1e-2 * np.sum(window**2, axis=-1)) ** 0.75
    np.testing.assert_allclose(np.asarray(layer(a)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda x: conv_bn_act(x, 0), "filters"),
        (lambda x: conv_bn_act(x, 8, padding="full"), "padding"),
        (lambda x: inception(x, 64, 96, 128, 16, 32, -1), "filters_pool"),
        (lambda x: bottleneck_block(x, 8, stride_in="v2"), "stride_in"),
        (lambda x: se_block(x, ratio=0), "ratio"),
        (lambda x: classifier_head(x, 10, pooling="mean"), "pooling"),
    ],
)
def test_block_arguments_are_checked(call, argument):
    with pytest.raises((ValueError, TypeError), match=argument):
        call(keras.Input((8, 8, 16)))
