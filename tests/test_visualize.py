"""kerascnn.visualize on flat, nested, keras.applications and kecam models, against reference recipes.

The heatmap's *meaning* is tested in test_visualize_heatmaps.py (localisation, sanity check);
here: Grad-CAM equals keras.io's GradientTape recipe, a nested backbone gives the same
heatmaps as the flat model, feature maps equal a sub-model's outputs, and bad input fails
with a clear message.
"""

import os

import numpy as np
import pytest

from kerascnn import runtime
from kerascnn.runtime import keras
from kerascnn.visualize import feature_maps, filters, grad_cam, model_diagram, overlay
from kerascnn.visualize.capture import find_layer, last_spatial_layer, stage_ends
from kerascnn.visualize.diagram import graphviz_available, stages
from kerascnn.visualize.gradcam import _resize

# also in the Keras 2 run: activation capture has a Keras 2 path
pytestmark = pytest.mark.keras2

PNG = b"\x89PNG\r\n\x1a\n"


def small_cnn(activation="softmax", units=3, name="flat"):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((24, 24, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(units, activation=activation, name="head")(x), name=name)


def nested(flat):
    """The same layers (the same weights) with the convolutions inside a nested backbone."""
    backbone = keras.Model(flat.input, flat.get_layer("conv2").output, name="backbone")
    inputs = keras.Input((24, 24, 3))
    x = flat.get_layer("gap")(backbone(inputs))
    return keras.Model(inputs, flat.get_layer("head")(x), name="outer")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((4, 24, 24, 3)).astype("float32")


@pytest.mark.every_runtime
def test_nested_backbone_gives_the_flat_models_heatmaps(images):
    flat = small_cnn()
    outer = nested(flat)
    assert last_spatial_layer(outer)[0] == "backbone/conv2"
    assert find_layer(outer, "conv2") is find_layer(outer, "backbone/conv2") is flat.get_layer("conv2")
    expected = grad_cam(flat, images, class_index=[0, 1, 2, 0])
    got = grad_cam(outer, images, class_index=[0, 1, 2, 0])
    assert expected.shape == (4, 24, 24) and expected.max() == pytest.approx(1.0)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # the output layer's softmax is switched back on afterwards
    np.testing.assert_allclose(np.asarray(outer(images)).sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.tensorflow_only
def test_matches_keras_io_gradient_tape_recipe(images):
    """keras.io's Grad-CAM example (F. Chollet): a sub-model to [conv map, scores], GradientTape."""
    import tensorflow as tf

    model = small_cnn()
    classes = np.array([2, 0, 1, 1])
    ours = grad_cam(model, images, class_index=classes, layer="conv2")
    reference_model = small_cnn()  # same seed: same weights; its head without the softmax
    reference_model.set_weights(model.get_weights())
    reference_model.get_layer("head").activation = None
    grad_model = keras.Model(reference_model.input,
                             [reference_model.get_layer("conv2").output, reference_model.output])
    for index, image in enumerate(images):
        with tf.GradientTape() as tape:
            conv_output, scores = grad_model(image[None])
            class_channel = scores[:, classes[index]]
        grads = tape.gradient(class_channel, conv_output)
        pooled = tf.reduce_mean(grads, axis=(0, 1, 2))
        heatmap = tf.maximum(conv_output[0] @ pooled[..., tf.newaxis], 0)[..., 0].numpy()
        heatmap = _resize(heatmap, (24, 24))
        if heatmap.max() > 0:  # random weights: a class can have no positive evidence at all
            heatmap /= heatmap.max()
        np.testing.assert_allclose(ours[index], heatmap, atol=1e-4)
    assert (ours.max(axis=(1, 2)) > 0).sum() >= 2  # the comparison is not all zeros


@pytest.mark.every_runtime
def test_sigmoid_head_class_zero_is_the_negated_logit(images):
    model = small_cnn(activation="sigmoid", units=1, name="binary")
    one = grad_cam(model, images, class_index=1, layer="conv2")
    zero = grad_cam(model, images, class_index=0, layer="conv2")
    # class 0 weighs every channel by -alpha: where one heatmap peaks the other is low
    for a, b in zip(one, zero):
        if a.max() > 0 and b.max() > 0:
            assert b.flat[a.argmax()] < 0.5 and a.flat[b.argmax()] < 0.5


@pytest.mark.every_runtime
def test_feature_maps_equal_a_sub_models_outputs(images):
    flat = small_cnn()
    maps, figure = feature_maps(nested(flat), images[0])
    assert list(maps) == ["conv1", "conv2"]  # each stage's last convolution, found inside the backbone
    reference = keras.Model(flat.input, [flat.get_layer("conv1").output, flat.get_layer("conv2").output])
    expected = [np.asarray(value) for value in reference(images[:1])]
    np.testing.assert_allclose(maps["conv1"], expected[0][0], atol=1e-5)
    np.testing.assert_allclose(maps["conv2"], expected[1][0], atol=1e-5)
    assert len(figure.axes) == 2 + 8 + 16  # a title row per layer, one panel per channel


@pytest.mark.every_runtime
def test_filters_and_overlay(tmp_path):
    model = small_cnn()
    path = str(tmp_path / "filters.png")
    kernels, _ = filters(model, path=path)
    np.testing.assert_array_equal(kernels, model.get_layer("conv1").get_weights()[0])
    with open(path, "rb") as handle:
        assert handle.read(8) == PNG
    picture = overlay(np.zeros((24, 24, 3)), np.eye(6))
    assert picture.shape == (24, 24, 3) and 0.0 <= picture.min() and picture.max() <= 1.0
    with pytest.raises(ValueError, match="alpha"):
        overlay(np.zeros((4, 4)), np.zeros((4, 4)), alpha=2)


def test_keras_applications():
    """Not in the JAX run: JAX compiles each of MobileNetV2's ops on first use (30 s on a loaded machine)."""
    app = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), alpha=0.35)
    assert last_spatial_layer(app)[0] == "out_relu"
    heatmaps = grad_cam(app, np.random.default_rng(1).random((2, 96, 96, 3), "float32"))
    assert heatmaps.shape == (2, 96, 96) and np.all(heatmaps.max(axis=(1, 2)) <= 1.0)
    maps, _ = feature_maps(app, np.zeros((96, 96, 3), "float32"), max_channels=4)
    assert len(maps) == 5 and list(maps)[-1] == "Conv_1"  # five stages, the last ends in Conv_1


@pytest.mark.every_runtime
def test_the_transfer_model(tmp_path):
    import kerascnn
    from kerascnn import transfer

    model = transfer.build("lenet5", num_classes=4, input_shape=(32, 32, 1), weights=None)
    assert last_spatial_layer(model)[0] == "lenet5/s4_pool"
    assert [path for path, _ in stage_ends(model)] == ["lenet5/c1_conv", "lenet5/c3_conv"]
    assert grad_cam(model, np.ones((32, 32, 1), "float32"), layer="lenet5/c3_conv").shape == (1, 32, 32)
    assert [s.label for s in stages(kerascnn.build("lenet5"))] == ["28x28", "14x14", "10x10", "5x5", "1x1", "head"]
    path = str(tmp_path / "diagram.png")
    assert model_diagram(model, path, engine="kerascnn") == "kerascnn"
    with open(path, "rb") as handle:
        assert handle.read(8) == PNG


def test_diagram_stages_follow_the_trunk_through_attention_and_branches():
    """DaViT's attention folds windows and heads into 4-D tensors of other sizes inside each block;
    the diagram showed them as stages ("3136x3x32") and put 171 layers in the head. The stages are
    the paper's (Ding et al. 2022, Table 1: 96, 192, 384, 768 channels at strides 4, 8, 16, 32;
    docs/models/davit.md), the head is pooling and the classifier, and every parameter is in one
    stage. GoogLeNet: the channels of Table 1 of Szegedy et al. 2014 (max pool 192, inception (3a)
    256, (3b) 480 at 28x28; (4a)-(4e) 512-832 at 14x14; (5a) 832, (5b) 1024 at 7x7)."""
    import kerascnn
    from tests.models.zoo_helpers import zero_init

    with zero_init():
        davit = kerascnn.build("davit_t", input_shape=(64, 64, 3), num_classes=10, compile=False)
        googlenet = kerascnn.googlenet(compile=False)
    parts = stages(davit)
    assert [part.size for part in parts] == ["16x16x96", "8x8x192", "4x4x384", "2x2x768", ""]
    assert parts[-1].label == "head" and sorted(parts[-1].kinds.elements()) == ["Dense", "GlobalAvgPool"]
    assert sum(part.params for part in parts) == davit.count_params()
    parts = stages(googlenet)
    assert [part.size for part in parts[2:5]] == ["28x28x(192-480)", "14x14x(480-832)", "7x7x(832-1024)"]
    assert sum(part.params for part in parts) == googlenet.count_params()


def test_graphviz_engine_needs_dot(tmp_path):
    model = small_cnn()
    path = str(tmp_path / "graph.png")
    if graphviz_available():
        assert model_diagram(model, path, engine="graphviz") == "graphviz" and os.path.getsize(path) > 0
    else:
        with pytest.raises(ValueError, match="apt-get install graphviz"):
            model_diagram(model, path, engine="graphviz")
        assert model_diagram(model, path) == "kerascnn"  # auto falls back to kerascnn's drawing


@pytest.mark.every_runtime
def test_bad_input_names_the_argument(images):
    model = small_cnn()
    with pytest.raises(ValueError, match="layer 'conv9' is not in model 'flat'.*conv1"):
        grad_cam(model, images, layer="conv9")
    with pytest.raises(ValueError, match=r"images must have the shape.*\(5, 5\)"):
        grad_cam(model, np.zeros((5, 5)))
    with pytest.raises(ValueError, match="class_index must be between 0 and 2"):
        grad_cam(model, images, class_index=3)
    with pytest.raises(ValueError, match="Grad-CAM needs a map"):
        grad_cam(model, images, layer="gap")
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no layer with a spatial output"):
        grad_cam(dense, np.zeros((1, 4)))


@pytest.mark.legacy_only
def test_kecam_davit_in_keras2():
    from keras_cv_attention_models import davit  # noqa: PLC0415 - Keras 2 only

    assert not runtime.IS_KERAS3
    model = davit.DaViT_T(pretrained=None, input_shape=(224, 224, 3))
    assert last_spatial_layer(model)[0] == "pre_output_ln"
    heatmaps = grad_cam(model, np.random.default_rng(0).random((1, 224, 224, 3), "float32") * 255)
    assert heatmaps.shape == (1, 224, 224) and heatmaps.max() == pytest.approx(1.0)
    maps, _ = feature_maps(model, np.zeros((224, 224, 3), "float32"), max_channels=8)
    assert len(maps) == 4  # DaViT's four stages
