"""The builder contract of keras.applications, checked on EVERY registered model.

The reference is keras' own ``keras/src/applications/applications_test.py``: a features-only
model takes ``input_shape=(None, None, C)`` for 1 or 4 channels and gives a 4-D map of a fixed
depth (``test_application_notop_variable_input_channels``); ``pooling`` turns it into a vector
of that depth (``test_application_pooling``); ``classifier_activation`` sets the last layer's
activation (``test_application_classifier_activation``); ``input_tensor`` makes the tensor's
source the model's input. Where the architecture cannot (a top that flattens needs a fixed
size), the error must say so. Parametrized over ``list_models()``, so families registered
later are covered without editing this file; zero initial weights keep the builds cheap.
Each model is built twice: its features (``input_tensor``, any size, 4 channels, ``pooling``
in one build) and its top.
"""

import numpy as np
import pytest
from tiers import sweep
from zoo_helpers import infer, zero_init_module  # noqa: F401

import kerascnn
from kerascnn.runtime import keras

pytestmark = [pytest.mark.every_runtime, pytest.mark.usefixtures("zero_init_module")]
# every model in the full tier (Keras 3 / TensorFlow); the smallest of each kind in the fast tier and
# every runtime: the contract is base.start/finish, shared by every family (tests/test_registry.py
# builds every model in every runtime)
NAMES = sweep(kerascnn.list_models())


def _side(name) -> int:
    """A small fixed side the model accepts."""
    return max(max(kerascnn.model_card(name).min_input_size), 32)


@pytest.mark.parametrize("name", NAMES)
def test_features_take_an_input_tensor_of_any_size_and_channels_and_pool(name):
    """One build checks four arguments of every model: ``input_tensor`` (its source becomes the
    model's input), None height and width, 4 channels, and ``pooling="max"`` (the feature map's
    depth as a vector). ``pooling`` None and "avg" are the same shared code (base.pool_features):
    test_pooling_gives_the_map_or_a_vector checks them on one model."""
    side = _side(name)

    def features_on(shape):
        image = keras.Input(shape, name="image")
        scaled = keras.layers.Rescaling(1 / 255.0, name="scale")(image)
        return image, kerascnn.build(name, input_tensor=scaled, include_top=False, pooling="max", compile=False)

    try:
        image, pooled = features_on((None, None, 4))
        any_size = True
    except ValueError as error:  # an architecture that needs a fixed size must say so
        assert "input_shape" in str(error) and "fixed" in str(error), error
        image, pooled = features_on((side, side, 4))
        any_size = False
    feature_map = tuple(pooled.get_layer("max_pool").input.shape)
    assert len(feature_map) == 4 and feature_map[3], feature_map
    if any_size:
        assert feature_map[:3] == (None, None, None)
        out = infer(pooled, np.zeros((1, side + 5, side, 4), "float32"))  # any size, once called
        assert out.shape == (1, feature_map[3])
    assert tuple(pooled.output.shape) == (None, feature_map[3])
    assert len(pooled.inputs) == 1 and pooled.inputs[0] is image  # the tensor's source is the input
    assert pooled.get_layer("scale") is not None


def test_pooling_gives_the_map_or_a_vector():
    # ResNet-18's features end in 512 channels (conv5_x of Table 1 in He et al., 2015)
    for pooling, shape in ((None, (None, None, None, 512)), ("avg", (None, 512)), ("max", (None, 512))):
        model = kerascnn.resnet18(input_shape=(None, None, 3), include_top=False, pooling=pooling, compile=False)
        assert tuple(model.output.shape) == shape, pooling


@pytest.mark.parametrize("name", NAMES)
def test_top_takes_any_size_unless_it_flattens(name):
    try:
        model = kerascnn.build(name, input_shape=(None, None, 3), num_classes=3, classifier_activation=None,
                               compile=False)
    except ValueError as error:
        message = str(error)
        side = _side(name)
        model = kerascnn.build(name, input_shape=(side, side, 3), num_classes=3, classifier_activation=None,
                               compile=False)
        if "flattens the feature map" in message:
            assert "include_top=False" in message, error
            assert any(isinstance(layer, keras.layers.Flatten) for layer in model.layers)  # the reason is real
        else:  # an architecture that needs a fixed size everywhere says so (DaViT's attention windows)
            assert "input_shape" in message and "fixed" in message, error
    assert tuple(model.outputs[0].shape) == (None, 3)
    assert model.get_layer("predictions").activation.__name__ == "linear"


def test_bad_input_tensor_and_shapes_are_named():
    with pytest.raises(TypeError, match="input_tensor must be a Keras tensor"):
        kerascnn.lenet5(input_tensor=np.zeros((1, 32, 32, 1), "float32"))
    with pytest.raises(ValueError, match=r"channels must be a positive integer, got None"):
        kerascnn.resnet18(input_shape=(None, None, None), include_top=False)
    with pytest.raises(ValueError, match="too small"):
        kerascnn.vgg11(input_shape=(None, 16, 3), include_top=False)
