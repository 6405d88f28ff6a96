"""GoogLeNet against an independent recomputation from the paper's Table 1, and torchvision's count.

The counts below are recomputed layer by layer from Szegedy et al. 2014, Table 1 (written
again here, not imported from kerascnn): a k x k convolution from c_in to c_out channels has
k*k*c_in*c_out weights and c_out biases; a dense layer n_in*n_out + n_out.
"""

import numpy as np
import pytest

import kerascnn
from kerascnn import analysis
from kerascnn.models.googlenet import min_input_side
from kerascnn.runtime import keras
from zoo_helpers import fill_random, infer, zero_init

# Builder tests also run on JAX, where every new weight shape and every new input size costs
# a compilation: forward passes there share one input side (79, the auxiliary heads' minimum);
# the forward passes at other sides run in the two TensorFlow runtimes only (no marker).
every_runtime = pytest.mark.every_runtime
SIDE = 79

# Szegedy et al. 2014, Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
TABLE_1 = [
    ("3a", 64, 96, 128, 16, 32, 32),
    ("3b", 128, 128, 192, 32, 96, 64),
    ("4a", 192, 96, 208, 16, 48, 64),
    ("4b", 160, 112, 224, 24, 64, 64),
    ("4c", 128, 128, 256, 24, 64, 64),
    ("4d", 112, 144, 288, 32, 64, 64),
    ("4e", 256, 160, 320, 32, 128, 128),
    ("5a", 256, 160, 320, 32, 128, 128),
    ("5b", 384, 192, 384, 48, 128, 128),
]


def conv(c_in, c_out, k, bias=True):
    return k * k * c_in * c_out + (c_out if bias else 0)


def dense(n_in, n_out):
    return n_in * n_out + n_out


def inception_params(c_in, n1, r3, n3, r5, n5, pool_proj, k5=5, bias=True):
    return (conv(c_in, n1, 1, bias) + conv(c_in, r3, 1, bias) + conv(r3, n3, 3, bias)
            + conv(c_in, r5, 1, bias) + conv(r5, n5, k5, bias) + conv(c_in, pool_proj, 1, bias))


def input_channels():
    """Channels entering each module: 192 after the stem, then n1 + n3 + n5 + pool proj."""
    channels, c_in = {}, 192
    for module, n1, _, n3, _, n5, pool_proj in TABLE_1:
        channels[module] = c_in
        c_in = n1 + n3 + n5 + pool_proj
    return channels, c_in


def main_network(k5=5, bias=True, classes=1000):
    stem = conv(3, 64, 7, bias) + conv(64, 64, 1, bias) + conv(64, 192, 3, bias)
    channels, last = input_channels()
    modules = sum(inception_params(channels[row[0]], *row[1:], k5=k5, bias=bias) for row in TABLE_1)
    return stem + modules + dense(last, classes)


def aux_head(c_in, classes=1000):
    # 5x5/3 average pool: 14x14 -> 4x4; 1x1 conv 128; FC 4*4*128 -> 1024; FC 1024 -> classes
    return conv(c_in, 128, 1) + dense(4 * 4 * 128, 1024) + dense(1024, classes)


def conv_channels():
    """Output channels of every convolution (= BatchNorm channels in the BN variants)."""
    return 64 + 64 + 192 + sum(sum(row[1:]) for row in TABLE_1)


@every_runtime
def test_recomputation_itself():
    channels, last = input_channels()
    assert [channels[m] for m in ("3a", "3b", "4a", "4d", "4e", "5a")] == [192, 256, 480, 512, 528, 832]
    assert last == 1024  # Table 1: the average pool sees 7x7x1024
    # docs/references.md: inception(3a) with biases, built as in the paper: 163,696
    assert inception_params(192, *TABLE_1[0][1:]) == 163_696
    assert conv_channels() == 7_280


@pytest.fixture(scope="module")
def paper():
    with zero_init():  # counts and shapes only
        return kerascnn.googlenet(compile=False)


@every_runtime
def test_paper_count_matches_the_recomputation(paper):
    expected = main_network()
    assert paper.count_params() == expected == kerascnn.model_card("googlenet").params
    assert not paper.non_trainable_weights
    assert len(paper.outputs) == 1
    assert paper.get_layer("predictions_dropout").rate == 0.4
    for stage, side in (("pool1_pool", 56), ("pool2_pool", 28), ("pool3_pool", 14), ("pool4_pool", 7)):
        assert tuple(paper.get_layer(stage).output.shape)[1:3] == (side, side)  # Table 1 sizes
    assert paper.get_layer("inception_5b_output").output.shape[-1] == 1024
    assert {"norm1", "norm2"} <= {layer.name for layer in paper.layers}


@every_runtime
def test_summary_is_grouped_by_stage(paper):
    prefixes = ("input", "conv1_", "pool1_", "norm1", "conv2_", "norm2", "pool2_", "inception_3",
                "pool3_", "inception_4", "pool4_", "inception_5", "avg_pool", "predictions")
    names = [layer.name for layer in paper.layers]
    assert all(name.startswith(prefixes) for name in names)
    first = [next(i for i, n in enumerate(names) if n.startswith(p)) for p in prefixes]
    assert first == sorted(first)  # stages appear in the order of Table 1


@pytest.fixture(scope="module")
def with_aux():
    with zero_init():  # counts and shapes only
        return kerascnn.googlenet(aux_classifiers=True)


@pytest.fixture(scope="module")
def small_aux():
    # the smallest input the auxiliary heads accept: 79 -> conv1 40 -> pools 20, 10, 5 -> 5x5/3 pool 1
    with zero_init():  # NumPy random weights: Keras' draws compile per shape on JAX
        return fill_random(kerascnn.googlenet(input_shape=(SIDE, SIDE, 3), num_classes=3, aux_classifiers=True))


@every_runtime
def test_aux_heads_counts_and_outputs(with_aux):
    channels, _ = input_channels()
    aux1 = aux_head(channels["4b"])  # after 4a: 512 channels
    aux2 = aux_head(channels["4e"])  # after 4d: 528 channels
    assert with_aux.count_params() == main_network() + aux1 + aux2
    assert [tuple(output.shape) for output in with_aux.outputs] == [(None, 1000)] * 3
    assert tuple(with_aux.get_layer("aux1_pool").output.shape) == (None, 4, 4, 512)
    assert tuple(with_aux.get_layer("aux2_pool").output.shape) == (None, 4, 4, 528)
    assert with_aux.get_layer("aux1_predictions_dropout").rate == 0.7


@every_runtime
def test_inference_model_shares_the_weights(with_aux, small_aux):
    assert kerascnn.googlenet_inference_model(with_aux).count_params() == main_network()
    inference = kerascnn.googlenet_inference_model(small_aux)
    assert len(inference.outputs) == 1
    assert inference.get_layer("inception_4a_1x1_conv") is small_aux.get_layer("inception_4a_1x1_conv")
    x = np.random.default_rng(0).random((2, SIDE, SIDE, 3), dtype="float32")
    np.testing.assert_allclose(np.asarray(inference(x)), np.asarray(small_aux(x)[0]), rtol=1e-6, atol=1e-7)
    # a weight change in the training model shows in the inference model
    layer = small_aux.get_layer("predictions")
    kernel, bias = layer.get_weights()
    layer.set_weights([np.random.default_rng(1).normal(0, 0.05, kernel.shape).astype("float32"), bias])
    np.testing.assert_array_equal(inference.get_layer("predictions").get_weights()[0], layer.get_weights()[0])
    np.testing.assert_allclose(np.asarray(inference(x)), np.asarray(small_aux(x)[0]), rtol=1e-6, atol=1e-7)
    assert kerascnn.googlenet_inference_model(inference) is inference  # nothing left to strip


@every_runtime
def test_inference_model_refuses_other_models():
    x = keras.Input((4,))
    two = keras.Model(x, [keras.layers.Dense(2, name="a")(x), keras.layers.Dense(2, name="b")(x)])
    with pytest.raises(ValueError, match="not a GoogLeNet with auxiliary heads"):
        kerascnn.googlenet_inference_model(two)
    with pytest.raises(TypeError, match="model must be"):
        kerascnn.googlenet_inference_model("googlenet")


@every_runtime
def test_aux_loss_weights_are_03(small_aux):
    x = np.random.default_rng(2).random((2, SIDE, SIDE, 3), dtype="float32")
    y = np.array([0, 2])
    result = small_aux.evaluate(x, [y, y, y], verbose=0, return_dict=True)
    weighted = (result["predictions_loss"] + 0.3 * result["aux1_predictions_loss"]
                + 0.3 * result["aux2_predictions_loss"])
    assert result["loss"] == pytest.approx(weighted, rel=1e-4)


@every_runtime
def test_batch_norm_variant():
    with zero_init():  # on JAX, Keras' random draws compile for every new weight shape
        model = fill_random(kerascnn.googlenet(input_shape=(SIDE, SIDE, 3), batch_norm=True, compile=False))
    # each conv loses its bias and gains BN gamma, beta (trainable), mean, variance
    channels = conv_channels()
    assert model.count_params() == main_network() - channels + 4 * channels
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == 2 * channels
    assert "norm1" not in {layer.name for layer in model.layers}  # BatchNorm replaces LRN
    out = infer(model, np.random.default_rng(4).random((2, SIDE, SIDE, 3), dtype="float32"))  # one jitted call on JAX
    assert out.shape == (2, 1000) and np.isfinite(out).all()


def test_torchvision_variant_matches_references():
    with zero_init():
        model = kerascnn.googlenet(variant="torchvision", compile=False)
    # docs/references.md: torchvision googlenet 6,624,904 (torch) = 6,639,464 with BN statistics
    assert model.count_params() == 6_639_464
    assert model.count_params() - sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == 6_624_904
    # the same figure recomputed: 3x3 kernels in the "5x5" branch, no conv bias, BN on every conv
    channels = conv_channels()
    assert 6_624_904 == main_network(k5=3, bias=False) + 2 * channels
    assert model.get_layer("inception_3a_5x5_conv").kernel_size == (3, 3)
    assert model.get_layer("predictions_dropout").rate == 0.2
    assert tuple(model.get_layer("pool4_pool").output.shape)[1:3] == (7, 7)  # 2x2/2 ceil: 14 -> 7
    assert round(analysis.macs(model).total / 1e9, 3) == 1.498  # docs/references.md: torchvision's _ops


@every_runtime
def test_minimum_input_sides():
    # paper: conv1 7x7/2 pad 3 maps s to (s - 1) // 2 + 1, a ceil-mode 3x3/2 pool s to ceil((s - 3) / 2) + 1
    # 31 -> 16 -> 8 -> 4 -> 2 -> 1 (pool4), while 30 -> 15 -> 7 -> 3 -> 1 -> nothing
    assert min_input_side() == 31 == kerascnn.model_card("googlenet").min_input_size[0]
    # aux heads: pool3 must give 5 for the 5x5/3 average pool: 79 -> 40 -> 20 -> 10 -> 5; 78 -> 4
    assert min_input_side(aux_classifiers=True) == 79
    # torchvision: last pool 2x2/2: 15 -> 8 -> 4 -> 2 -> 1 -> 1; 14 -> 7 -> 3 -> 1 -> nothing
    assert min_input_side("torchvision") == 15


SIZES = [
    ({}, (31, 31, 3), (1, 1)),
    ({}, (31, 100, 3), (1, 3)),      # 100 -> 50 -> 25 -> 12 -> 6 -> 3
    ({}, (120, 90, 1), (3, 2)),      # 120 -> 60 -> 30 -> 15 -> 7 -> 3; 90 -> 45 -> 22 -> 11 -> 5 -> 2
    ({"variant": "torchvision"}, (15, 15, 3), (1, 1)),
]


@pytest.mark.parametrize("kwargs, shape, final", SIZES)
def test_input_sizes(kwargs, shape, final):
    with zero_init():  # shapes only; Keras' random draws compile for every new weight shape on JAX
        model = kerascnn.googlenet(input_shape=shape, num_classes=5, compile=False, **kwargs)
    assert tuple(model.get_layer("inception_5b_output").output.shape)[1:3] == final
    assert tuple(model.output.shape) == (None, 5)


@pytest.mark.parametrize("kwargs, shape, final", SIZES)
def test_forward_pass_at_small_and_non_square_sizes(kwargs, shape, final):
    model = kerascnn.googlenet(input_shape=shape, num_classes=5, compile=False, **kwargs)
    out = np.asarray(model(np.random.default_rng(3).random((2, *shape), dtype="float32")))
    assert out.shape == (2, 5)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


@every_runtime
@pytest.mark.parametrize("kwargs, message", [
    ({"input_shape": (30, 224, 3)}, "minimum is 31x31"),
    ({"input_shape": (224, 78, 3), "aux_classifiers": True}, "minimum is 79x79"),
    ({"input_shape": (14, 14, 3), "variant": "torchvision"}, "minimum is 15x15"),
    ({"variant": "caffe"}, "variant='caffe'"),
    ({"variant": "torchvision", "batch_norm": False}, "batch_norm=False"),
    ({"aux_classifiers": True, "include_top": False}, "aux_classifiers=True needs a classifier"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kerascnn.googlenet(**kwargs)


@every_runtime
def test_features_only():
    model = kerascnn.googlenet(input_shape=(64, 64, 3), include_top=False, pooling="avg")
    assert tuple(model.output.shape) == (None, 1024)
    assert model.count_params() == main_network() - dense(1024, 1000)
