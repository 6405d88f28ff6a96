"""The builder contract of keras.applications, checked on EVERY registered model.

The reference is keras' own ``keras/src/applications/applications_test.py``: a features-only
model takes ``input_shape=(None, None, C)`` for 1 or 4 channels and gives a 4-D map of a fixed
depth (``test_application_notop_variable_input_channels``); ``pooling`` turns it into a vector
of that depth (``test_application_pooling``); ``classifier_activation`` sets the last layer's
activation (``test_application_classifier_activation``); ``input_tensor`` makes the tensor's
source the model's input. Where the architecture cannot (a top that flattens needs a fixed
size), the error must say so. Parametrized over ``list_models()``, so families registered
later are covered without editing this file; zero initial weights keep the builds cheap.
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
def test_features_take_any_size_any_channels_pooling_and_input_tensor(name):
    side = _side(name)
    try:
        features = kerascnn.build(name, input_shape=(None, None, 4), include_top=False, compile=False)
    except ValueError as error:  # an architecture that needs a fixed size must say so
        assert "input_shape" in str(error) and "fixed" in str(error), error
        features = kerascnn.build(name, input_shape=(side, side, 4), include_top=False, compile=False)
    else:
        assert tuple(features.output.shape)[:3] == (None, None, None)
        out = infer(features, np.zeros((1, side + 5, side, 4), "float32"))  # any size, once called
        assert out.shape[0] == 1 and out.shape[3] == features.output.shape[3]
    shape = tuple(features.output.shape)
    assert len(shape) == 4 and shape[3], shape
    depth = shape[3]

    image = keras.Input((side, side, 1), name="image")
    scaled = keras.layers.Rescaling(1 / 255.0, name="scale")(image)
    pooled = kerascnn.build(name, input_tensor=scaled, include_top=False, pooling="max", compile=False)
    assert tuple(pooled.output.shape) == (None, depth)
    assert len(pooled.inputs) == 1 and pooled.inputs[0] is image  # the tensor's source is the input
    assert pooled.get_layer("scale") is not None


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
