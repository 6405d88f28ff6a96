"""kerascnn.surgery on keras.applications ResNet50 and VGG16 (built once per module, at 64x64).

Counts are hand arithmetic: the layout of ResNet-50 (He et al. 2015, Table 1: bottlenecks
[3, 4, 6, 3] of widths 64, 128, 256, 512, expansion 4) and of VGG-16 (configuration D).
"""

import numpy as np
import pytest

from kerascnn.runtime import keras
from kerascnn.surgery import add_se, change_input_shape, fold_batchnorm, randomize_batchnorm, replace_activation

layers = keras.layers
STAGES = [(2, 64, 3), (3, 128, 4), (4, 256, 6), (5, 512, 3)]  # (stage, 3x3 width, blocks) of ResNet-50
VGG16_CONVS = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]


def se_params(channels, ratio=16):
    """GlobalAveragePooling, Dense C -> C // r and Dense C // r -> C, both with biases."""
    return 2 * channels * (channels // ratio) + channels // ratio + channels


@pytest.fixture(scope="module")
def resnet50():
    model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=10,
                                        classifier_activation=None)
    randomize_batchnorm(model, seed=0)
    return model


@pytest.fixture(scope="module")
def inputs():
    return np.random.default_rng(1).normal(size=(2, 64, 64, 3)).astype("float32")


def test_fold_resnet50(resnet50, inputs):
    folded, report = fold_batchnorm(resnet50, report=True)
    # BatchNorm channels: stem 64; per bottleneck C, C, 4C; a 4C projection per stage = 26,560
    # (docs/references.md: 53,120 BN statistics = 2 x 26,560). Each BatchNorm has 4 weights per channel.
    channels = 64 + sum(blocks * 6 * width + 4 * width for _, width, blocks in STAGES)
    assert channels == 26_560
    assert len(report["folded"]) == 1 + sum(3 * blocks + 1 for _, _, blocks in STAGES) == 53
    assert report["kept"] == {}
    assert folded.count_params() == resnet50.count_params() - 4 * channels
    assert not [l for l in folded.layers if "BatchNormalization" in type(l).__name__]
    reference = np.asarray(resnet50(inputs, training=False))
    assert np.abs(reference).max() > 0.05  # random BatchNorm statistics: a non-trivial check
    assert np.abs(np.asarray(folded(inputs, training=False)) - reference).max() <= 1e-4


def test_add_se_resnet50(resnet50):
    se = add_se(resnet50)
    expected = sum(blocks * se_params(4 * width) for _, width, blocks in STAGES)
    assert expected == 3 * 8_464 + 4 * 33_312 + 6 * 132_160 + 3 * 526_464
    assert se.count_params() == resnet50.count_params() + expected
    blocks = sorted(l.name[: -len("_se_excite")] for l in se.layers if l.name.endswith("_se_excite"))
    assert blocks == sorted(f"conv{s}_block{i}" for s, _, n in STAGES for i in range(1, n + 1))
    # on the branch, after the last BatchNorm, before the addition
    assert se.get_layer("conv3_block1_se_excite").input[0].name == se.get_layer("conv3_block1_3_bn").output.name
    assert se.get_layer("conv3_block1_add").input[1].name == se.get_layer("conv3_block1_se_excite").output.name
    np.testing.assert_array_equal(se.get_layer("conv1_conv").get_weights()[0],
                                  resnet50.get_layer("conv1_conv").get_weights()[0])


def test_replace_activation_resnet50(resnet50, inputs):
    swish = replace_activation(resnet50, "relu", "swish")
    changed = [l.name for l in swish.layers
               if isinstance(l, layers.Activation) and l.get_config()["activation"] in ("swish", "silu")]
    assert len(changed) == 1 + 3 * 16  # the stem, then 3 ReLUs per bottleneck
    assert swish.count_params() == resnet50.count_params()
    # swish(x) = x * sigmoid(x) differs from relu: the outputs change
    assert np.abs(np.asarray(swish(inputs, training=False)) - np.asarray(resnet50(inputs, training=False))).max() > 1e-3


def test_change_input_shape_resnet50(resnet50):
    bigger = change_input_shape(resnet50, (96, 128, 3))
    assert bigger.count_params() == resnet50.count_params()
    assert tuple(bigger.get_layer("conv5_block3_out").output.shape) == (None, 3, 4, 2048)  # stride 32


def test_vgg16_add_se_after_every_conv_and_flatten_error():
    vgg = keras.applications.VGG16(weights=None, input_shape=(64, 64, 3), include_top=False)
    se = add_se(vgg, where="conv")
    assert se.count_params() - vgg.count_params() == sum(se_params(c) for c in VGG16_CONVS) == 230_792
    assert se.get_layer("block1_pool").input.name == se.get_layer("block1_conv2_se_excite").output.name
    with pytest.raises(ValueError, match="no residual addition"):
        add_se(vgg)
    top = keras.applications.VGG16(weights=None, input_shape=(32, 32, 3), classes=4)
    with pytest.raises(ValueError, match=r"layer 'fc1' \(Dense\).*Flatten layer 'flatten'"):
        change_input_shape(top, (64, 64, 3))
