"""kerascnn.surgery on small hand-built graphs: the rewriter, folding, SE blocks, activations, input shapes.

Every expected figure is hand arithmetic written next to the assertion. The tests marked
``builders`` (one per operation, on the shared small ResNet) also run on JAX, where every
new layer shape costs a compilation.
"""

import numpy as np
import pytest

from kerascnn.runtime import keras
from kerascnn.surgery import (
    Edit, add_se, change_input_shape, fold_batchnorm, randomize_batchnorm, replace_activation, rewrite,
)

# also in the Keras 2 run: the graph rewriter has a Keras 2 path
pytestmark = pytest.mark.keras2

layers = keras.layers
RNG = np.random.default_rng(0)


def predict(model, x):
    return np.asarray(model(x, training=False))


def images(*shape):
    return RNG.normal(size=shape).astype("float32")


def conv_bn_relu(x, filters, name, **conv):
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv", **conv)(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def small_resnet():
    """A stem and two residual blocks: identity shortcut, then a 1x1 projection shortcut."""
    x = keras.Input((16, 16, 3), name="image")
    y = conv_bn_relu(x, 32, "stem")
    r = conv_bn_relu(y, 32, "b1_1")
    r = layers.BatchNormalization(name="b1_2_bn")(layers.Conv2D(32, 3, padding="same", name="b1_2_conv")(r))
    y = layers.Activation("relu", name="b1_out")(layers.Add(name="b1_add")([y, r]))
    s = layers.BatchNormalization(name="b2_0_bn")(layers.Conv2D(64, 1, strides=2, name="b2_0_conv")(y))
    r = conv_bn_relu(y, 64, "b2_1", strides=2)
    r = layers.BatchNormalization(name="b2_2_bn")(layers.Conv2D(64, 3, padding="same", name="b2_2_conv")(r))
    y = layers.Activation("relu", name="b2_out")(layers.Add(name="b2_add")([s, r]))
    y = layers.GlobalAveragePooling2D(name="pool")(y)
    return keras.Model(x, layers.Dense(5, name="logits")(y), name="small_resnet")


@pytest.fixture(scope="module")
def resnet():
    model = small_resnet()
    randomize_batchnorm(model, seed=3)
    return model


# -- the rewriter --------------------------------------------------------------------------


@pytest.mark.every_runtime
def test_copy_has_same_outputs_but_no_shared_state(resnet):
    copy = rewrite(resnet, Edit())
    x = images(2, 16, 16, 3)
    np.testing.assert_array_equal(predict(copy, x), predict(resnet, x))
    assert [l.name for l in copy.layers] == [l.name for l in resnet.layers]
    for new, old in zip(copy.layers[1:], resnet.layers[1:]):
        assert new is not old
        assert new.get_config()["name"] == old.get_config()["name"]
    # configs survive the copy, initializers included (they are skipped while copying)
    assert copy.get_layer("stem_conv").get_config() == resnet.get_layer("stem_conv").get_config()
    kernel = copy.get_layer("stem_conv").weights[0]
    kernel.assign(np.zeros(kernel.shape, "float32"))
    assert np.abs(resnet.get_layer("stem_conv").get_weights()[0]).sum() > 0  # the original is untouched


def test_shared_layers_stay_shared_and_nested_models_are_rebuilt():
    inner_in = keras.Input((8, 8, 3))
    inner = keras.Model(inner_in, conv_bn_relu(inner_in, 4, "inner"), name="backbone")
    x = keras.Input((8, 8, 3))
    shared = layers.Conv2D(3, 1, name="shared")
    y = inner(shared(shared(x)))
    model = keras.Model(x, layers.GlobalAveragePooling2D(name="gap")(y))
    randomize_batchnorm(model, seed=1)
    copy = rewrite(model, Edit())
    assert copy.get_layer("backbone") is not inner
    assert [l.name for l in copy.get_layer("backbone").layers] == [l.name for l in inner.layers]
    assert len([l for l in copy.layers if l.name == "shared"]) == 1
    data = images(2, 8, 8, 3)
    np.testing.assert_allclose(predict(copy, data), predict(model, data), atol=1e-6)
    # a new input size reaches the nested model too
    bigger = change_input_shape(model, (12, 10, 3))
    assert tuple(bigger.get_layer("backbone").input.shape) == (None, 12, 10, 3)
    assert bigger.count_params() == model.count_params()


def test_sequential_model_is_accepted():
    model = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(4, 3, name="c"),
                              layers.BatchNormalization(name="bn"), layers.ReLU(name="r")])
    randomize_batchnorm(model)
    folded = fold_batchnorm(model)
    assert [l.name for l in folded.layers[1:]] == ["c", "r"]
    data = images(2, 8, 8, 3)
    np.testing.assert_allclose(predict(folded, data), predict(model, data), atol=1e-5)


def test_not_a_graph_model():
    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match="functional or built Sequential"):
        fold_batchnorm(Sub())
    with pytest.raises(TypeError, match="got str"):
        add_se("resnet50")


# -- fold_batchnorm ------------------------------------------------------------------------


@pytest.mark.every_runtime
def test_fold_small_resnet(resnet):
    folded, report = fold_batchnorm(resnet, report=True)
    assert len(report["folded"]) == 6 and report["kept"] == {}
    assert not [l for l in folded.layers if isinstance(l, layers.BatchNormalization)]
    # every BatchNorm had 4 x C parameters; the folded convolutions already had biases
    bn_params = 4 * (32 + 32 + 32 + 64 + 64 + 64)
    assert folded.count_params() == resnet.count_params() - bn_params
    x = images(4, 16, 16, 3)
    reference = predict(resnet, x)
    assert np.abs(reference).max() > 0.05  # not a vacuous comparison
    assert np.abs(predict(folded, x) - reference).max() <= 1e-4


def test_fold_depthwise_conv1d_no_bias_and_no_scale():
    x = keras.Input((10, 10, 6))
    y = layers.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False, name="dw")(x)
    y = layers.BatchNormalization(scale=False, name="dw_bn")(y)
    y = layers.Reshape((64, 12), name="to_1d")(y)
    y = layers.Conv1D(5, 3, name="c1d")(y)
    y = layers.BatchNormalization(center=False, epsilon=0.01, name="c1d_bn")(y)
    model = keras.Model(x, y)
    randomize_batchnorm(model, seed=2)
    folded, report = fold_batchnorm(model, report=True)
    assert len(report["folded"]) == 2
    assert folded.get_layer("dw").use_bias and len(folded.get_layer("dw").weights) == 2
    data = images(3, 10, 10, 6)
    assert np.abs(predict(folded, data) - predict(model, data)).max() <= 1e-4


def test_fold_leaves_what_cannot_be_folded():
    x = keras.Input((8, 8, 3))
    a = layers.Conv2D(4, 3, activation="relu", name="act_conv")(x)
    a = layers.BatchNormalization(name="after_activation")(a)
    b = layers.Conv2D(4, 3, name="two_uses")(x)
    c = layers.Add(name="add")([layers.BatchNormalization(name="shared_input")(b), b])
    d = layers.BatchNormalization(name="after_add")(c)
    e = layers.BatchNormalization(name="after_dense")(layers.Dense(3, name="dense")(layers.Flatten()(x)))
    f = layers.BatchNormalization(name="ok_bn")(layers.Conv2D(2, 1, name="ok_conv")(x))
    model = keras.Model(x, [a, d, e, f])
    randomize_batchnorm(model)
    folded, report = fold_batchnorm(model, report=True)
    assert report["folded"] == ["ok_bn -> ok_conv"]
    assert set(report["kept"]) == {"after_activation", "shared_input", "after_add", "after_dense"}
    assert "activation" in report["kept"]["after_activation"]
    assert "used elsewhere" in report["kept"]["shared_input"]
    data = images(2, 8, 8, 3)
    for new, old in zip(folded(data, training=False), model(data, training=False)):
        np.testing.assert_allclose(np.asarray(new), np.asarray(old), atol=1e-5)
    with pytest.raises(ValueError, match=r"none of the 4 BatchNormalization.*'after_activation': the conv"):
        fold_batchnorm(keras.Model(x, [a, d, e]))
    with pytest.raises(ValueError, match="no BatchNormalization layer"):
        fold_batchnorm(keras.Model(x, b))


# -- add_se ----------------------------------------------------------------------------------


def se_params(channels, ratio=16):
    """kerascnn.blocks.se_block: Dense C -> C//r (with bias), Dense C//r -> C (with bias)."""
    hidden = max(1, channels // ratio)
    return 2 * channels * hidden + hidden + channels


@pytest.mark.every_runtime
def test_add_se_on_residual_branches(resnet):
    se = add_se(resnet)
    assert se.count_params() == resnet.count_params() + se_params(32) + se_params(64)
    # the SE block sits on the branch (after b*_2_bn), not on the shortcut, before the addition
    for block in ("b1", "b2"):
        excite = se.get_layer(f"{block}_se_excite")
        assert excite.input[0].name == se.get_layer(f"{block}_2_bn").output.name
        assert se.get_layer(f"{block}_add").input[1].name == excite.output.name
    # the original layers keep their weights
    for layer in resnet.layers:
        for new, old in zip(se.get_layer(layer.name).get_weights(), layer.get_weights()):
            np.testing.assert_array_equal(new, old)


@pytest.mark.keras3_only
def test_add_se_on_keras3_operator_addition():
    x = keras.Input((8, 8, 16))
    r = conv_bn_relu(x, 16, "b_1")
    r = layers.BatchNormalization(name="b_2_bn")(layers.Conv2D(16, 3, padding="same", name="b_2_conv")(r))
    model = keras.Model(x, layers.Activation("relu", name="out")(x + r))  # a keras.ops add, not a layer
    se = add_se(model)
    assert se.count_params() == model.count_params() + se_params(16)  # 2*16*1 + 1 + 16
    assert se.get_layer("out").input.name != se.get_layer("b_2_bn").output.name


def test_add_se_after_conv_blocks_and_ratio():
    x = keras.Input((16, 16, 3))
    y = conv_bn_relu(x, 64, "c1")
    y = layers.Conv2D(128, 3, activation="relu", name="c2_conv")(y)
    model = keras.Model(x, layers.MaxPooling2D(name="pool")(y))
    se = add_se(model, ratio=8, where="conv")
    assert se.count_params() == model.count_params() + se_params(64, 8) + se_params(128, 8)
    assert se.get_layer("c1_se_excite").input[0].name == se.get_layer("c1_relu").output.name
    assert se.get_layer("pool").input.name == se.get_layer("c2_se_excite").output.name


def test_add_se_refuses_plain_stacks_and_bad_arguments():
    x = keras.Input((16, 16, 3))
    model = keras.Model(x, conv_bn_relu(x, 8, "c1"))
    with pytest.raises(ValueError, match="no residual addition.*where='conv'"):
        add_se(model)
    with pytest.raises(ValueError, match="where='both'"):
        add_se(model, where="both")
    with pytest.raises(ValueError, match="ratio must be an integer >= 1"):
        add_se(model, ratio=0)
    # twice: the second round of SE blocks gets fresh names
    twice = add_se(add_se(model, where="conv"), where="conv")
    assert {"c1_se_excite", "c1_se2_excite"} <= {l.name for l in twice.layers}


# -- replace_activation ----------------------------------------------------------------------


@pytest.mark.every_runtime
def test_replace_activation_everywhere():
    x = keras.Input((8, 8, 3))
    y = layers.Conv2D(4, 3, activation="relu", name="conv")(x)
    y = layers.Activation("relu", name="act")(y)
    y = layers.ReLU(name="relu_layer")(y)
    y = layers.ReLU(max_value=6.0, name="relu6")(y)
    y = layers.Dense(3, activation="relu", name="dense")(layers.Flatten(name="flat")(y))
    model = keras.Model(x, layers.Activation("softmax", name="out")(y))
    new = replace_activation(model, "relu", "tanh")
    for name in ("conv", "act", "dense"):
        assert new.get_layer(name).get_config()["activation"] == "tanh"
    assert new.get_layer("relu_layer").get_config()["activation"] == "tanh"
    assert isinstance(new.get_layer("relu6"), layers.ReLU)  # ReLU6 is not a plain relu
    assert new.get_layer("out").get_config()["activation"] == "softmax"
    assert model.get_layer("conv").get_config()["activation"] == "relu"  # original unchanged
    np.testing.assert_array_equal(new.get_layer("dense").get_weights()[0], model.get_layer("dense").get_weights()[0])
    # the new model computes tanh: rebuilding the expected output by hand
    data = images(2, 8, 8, 3)
    linear = layers.Conv2D(4, 3)
    linear.build((None, 8, 8, 3))
    linear.set_weights(model.get_layer("conv").get_weights())
    h = np.clip(np.tanh(np.tanh(np.tanh(np.asarray(linear(data))))), 0, 6).reshape(2, -1)
    kernel, bias = model.get_layer("dense").get_weights()
    logits = np.tanh(h @ kernel + bias)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(predict(new, data), expected, atol=1e-5)


def test_replace_activation_errors():
    x = keras.Input((8, 8, 3))
    model = keras.Model(x, layers.Conv2D(4, 3, activation="tanh", name="conv")(x))
    with pytest.raises(ValueError, match=r"old='relu'.*activations found: tanh"):
        replace_activation(model, "relu", "swish")
    with pytest.raises(ValueError, match="new='swishy' is not a Keras activation"):
        replace_activation(model, "tanh", "swishy")


# -- change_input_shape ------------------------------------------------------------------------


@pytest.mark.every_runtime
def test_change_input_shape_keeps_weights(resnet):
    bigger = change_input_shape(resnet, (32, 24, 3))
    assert tuple(bigger.input.shape) == (None, 32, 24, 3)
    assert bigger.count_params() == resnet.count_params()
    assert tuple(bigger.get_layer("b2_add").output.shape) == (None, 16, 12, 64)
    for layer in resnet.layers:
        for new, old in zip(bigger.get_layer(layer.name).get_weights(), layer.get_weights()):
            np.testing.assert_array_equal(new, old)
    # a fully convolutional model on a tiled image: same global average as on one tile
    tile = images(1, 16, 16, 3)
    features = keras.Model(resnet.input, resnet.get_layer("pool").output)
    wide = change_input_shape(features, (16, 16, 3))
    np.testing.assert_allclose(predict(wide, tile), predict(features, tile), atol=1e-5)


def test_change_input_shape_errors():
    x = keras.Input((16, 16, 3))
    y = layers.Flatten(name="flatten")(layers.Conv2D(4, 3, name="conv")(x))
    y = layers.Dense(10, name="fc1")(layers.Dropout(0.5, name="drop")(y))
    model = keras.Model(x, y)
    with pytest.raises(ValueError, match=r"layer 'fc1' \(Dense\).*Flatten layer 'flatten'"):
        change_input_shape(model, (32, 32, 3))
    with pytest.raises(ValueError, match="layer 'conv'.*weights of shape"):
        change_input_shape(model, (16, 16, 1))
    with pytest.raises(ValueError, match=r"layer 'conv' \(Conv2D\) cannot be called"):
        change_input_shape(model, (2, 2, 3))
    with pytest.raises(ValueError, match="tuple of 3 sizes"):
        change_input_shape(model, (16, 16))
    with pytest.raises(ValueError, match="positive integer or None"):
        change_input_shape(model, (16, 0, 3))
    same = change_input_shape(model, [16, 16, 3])
    assert same.count_params() == model.count_params()
