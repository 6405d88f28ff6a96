"""kerascnn.testing: parameter assertions for users' CI, and their failure messages."""

import pytest

import kerascnn
from kerascnn.runtime import keras
from kerascnn.testing import assert_matches_card, assert_params, parameter_counts


def _bn_net():
    # conv 3*3*3*8 + 8 = 224, BatchNorm 4*8 = 32 (16 trainable gamma/beta, 16 moving stats),
    # dense 8*2 + 2 = 18
    x = keras.Input((8, 8, 3))
    y = keras.layers.Conv2D(8, 3, name="conv")(x)
    y = keras.layers.BatchNormalization(name="bn")(y)
    y = keras.layers.GlobalAveragePooling2D(name="gap")(y)
    y = keras.layers.Dense(2, name="dense")(y)
    return keras.Model(x, y, name="bn_net")


@pytest.mark.every_runtime
def test_counts_pass():
    model = _bn_net()
    assert parameter_counts(model) == {"total": 274, "trainable": 258, "non_trainable": 16}
    assert_params(model, total=274, trainable=258, non_trainable=16)
    assert_params(kerascnn.lenet5(compile=False), total=61_706)  # docs/references.md: LeNet-5


def test_failure_message_says_where_the_parameters_are():
    with pytest.raises(AssertionError) as info:
        assert_params(_bn_net(), total=258, non_trainable=0)
    message = str(info.value)
    assert "total: expected 258, got 274 (+16)" in message
    assert "non_trainable: expected 0, got 16 (+16)" in message
    # the difference is exactly the moving statistics: the torch-vs-Keras hint
    assert "BatchNorm moving statistics (16)" in message
    for layer, trainable, frozen in (("conv", "224", "0"), ("bn", "16", "16"), ("dense", "18", "0")):
        line = next(l for l in message.splitlines() if l.strip().startswith(layer + " "))
        assert line.split()[2] == trainable and line.split()[4] == frozen, line
    assert "Conv2D" in message and "parameters by layer class" in message


def test_bias_hint():
    with pytest.raises(AssertionError, match="convolution biases"):
        assert_params(_bn_net(), total=274 - 8)


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least one"):
        assert_params(_bn_net())
    with pytest.raises(TypeError, match="total"):
        assert_params(_bn_net(), total="274")


def test_matches_card():
    assert_matches_card(kerascnn.lenet5(compile=False))
    with pytest.raises(AssertionError, match="expected 61,706"):
        assert_matches_card(kerascnn.lenet5(num_classes=3, compile=False), "lenet5")
