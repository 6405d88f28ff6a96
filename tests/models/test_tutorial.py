"""The tutorial MNIST CNNs against docs/references.md ("Tutorial models")."""

import numpy as np
import pytest
from zoo_helpers import batch, collapses, counts, fill_random, zero_init_module  # noqa: F401

import kerascnn

# zero initial weights (cheap on JAX); forward passes fill random weights first
pytestmark = [pytest.mark.every_runtime, pytest.mark.usefixtures("zero_init_module")]


def test_mnist_cnn_count_and_layout():
    model = kerascnn.build("mnist_cnn")
    # docs/references.md, Keras MNIST CNN, 93,322: conv 32*(9+1), 64*(32*9+1), 64*(64*9+1),
    # dense 64*(3*3*64+1), out 10*(64+1)
    expected = 32 * 10 + 64 * 289 + 64 * 577 + 64 * 577 + 10 * 65
    assert counts(model) == (93_322, 93_322, 0) and expected == 93_322
    assert [layer.name for layer in model.layers[1:]] == [
        "conv1", "pool1", "conv2", "pool2", "conv3", "flatten", "fc1", "fc1_dropout", "predictions"]
    assert model.get_layer("fc1_dropout").rate == pytest.approx(0.2)
    assert model.get_layer("flatten").output.shape[-1] == 3 * 3 * 64


def test_mnist_cnn_5x5_count_and_layout():
    model = kerascnn.build("mnist_cnn_5x5")
    # docs/references.md, PyTorch-style MNIST CNN, 123,222: conv 16*(25+1), 32*(16*25+1), 64*(32*25+1),
    # dense 100*(3*3*64+1), out 10*(100+1)
    expected = 16 * 26 + 32 * 401 + 64 * 801 + 100 * 577 + 10 * 101
    assert counts(model) == (123_222, 123_222, 0) and expected == 123_222
    assert [layer.name for layer in model.layers[1:]] == [
        "conv1", "conv2", "pool1", "conv3", "pool2", "flatten", "fc1", "predictions"]


@pytest.mark.parametrize("name, shape, flat, forward", [
    # 28 -> 26 -> 13 -> 11 -> 5 -> 3 (3x3x64); 32x40: (30, 38) -> (15, 19) -> (13, 17) -> (6, 8) -> (4, 6)
    ("mnist_cnn", (28, 28, 1), 3 * 3 * 64, False), ("mnist_cnn", (32, 40, 3), 4 * 6 * 64, True),
    ("mnist_cnn", (18, 18, 1), 1 * 1 * 64, False),
    # 28 -> 24 -> 20 -> 10 -> 6 -> 3; 36x28: (32, 24) -> (28, 20) -> (14, 10) -> (10, 6) -> (5, 3)
    ("mnist_cnn_5x5", (28, 28, 1), 3 * 3 * 64, False), ("mnist_cnn_5x5", (36, 28, 1), 5 * 3 * 64, True),
    ("mnist_cnn_5x5", (20, 20, 1), 1 * 1 * 64, False),
])
def test_input_sizes_and_forward_pass(name, shape, flat, forward):
    model = kerascnn.build(name, input_shape=shape)
    assert model.get_layer("flatten").output.shape[-1] == flat
    assert tuple(model.output.shape) == (None, 10)
    if forward:  # one forward pass per model (each new shape compiles on JAX)
        out = np.asarray(fill_random(model)(batch(shape)))
        assert out.shape == (2, 10)
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name, minimum", [("mnist_cnn", 18), ("mnist_cnn_5x5", 20)])
def test_minimum_input_is_real_and_enforced(name, minimum):
    assert kerascnn.model_card(name).min_input_size == (minimum, minimum)
    with pytest.raises(ValueError, match=f"minimum is {minimum}x{minimum}"):
        kerascnn.build(name, input_shape=(minimum - 1, 28, 1))
    with pytest.raises(ValueError, match=f"minimum is {minimum}x{minimum}"):
        kerascnn.build(name, input_shape=(28, minimum - 1, 1))

    def build(shape):
        return kerascnn.build(name, input_shape=shape, include_top=False)

    assert not collapses(build, (minimum, minimum, 1))
    assert collapses(build, (minimum - 1, minimum - 1, 1))


def test_heads_features_and_dropout():
    binary = kerascnn.mnist_cnn(num_classes=1)
    assert binary.output.shape[-1] == 1 and binary.get_layer("predictions").activation.__name__ == "sigmoid"
    features = kerascnn.mnist_cnn_5x5(include_top=False, pooling="avg")
    assert tuple(features.output.shape) == (None, 64)
    assert tuple(kerascnn.mnist_cnn(include_top=False).output.shape) == (None, 3, 3, 64)
    plain = kerascnn.mnist_cnn(dropout=0.0, compile=False)
    assert "fc1_dropout" not in [layer.name for layer in plain.layers]
    assert kerascnn.mnist_cnn_5x5(dropout=0.3, compile=False).get_layer("fc1_dropout").rate == pytest.approx(0.3)


def test_mnist_cnn_trains_a_step():
    model = fill_random(kerascnn.mnist_cnn())
    x, y = batch((28, 28, 1), n=8), np.arange(8) % 10
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
