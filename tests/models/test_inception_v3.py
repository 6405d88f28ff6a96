"""Inception v3 against keras.applications (built here with weights=None) and torchvision's figures.

References: keras.applications.InceptionV3 built in this module (counts, layout, the weights
of ``weights="imagenet"``); torchvision ``inception_v3`` IMAGENET1K_V1 metadata (docs/models/
inception_v3.md): num_params 27,161,264 with the auxiliary head, _ops 5.71 GMACs at 299x299.
No layer's weights depend on the input side (global average pooling before the classifier),
so counts and the weight transfer use 75x75 builds, the smallest input (zero_init: cheap).
The auxiliary head needs 299x299.
"""

import numpy as np
import pytest

import kerascnn
from kerascnn.errors import WeightsNotAvailable
from kerascnn import analysis
from kerascnn.runtime import keras
from kerascnn.surgery import add_se, fold_batchnorm, randomize_batchnorm
from kerascnn.weights import copy_weights_in_order
from zoo_helpers import (
    applications_answering, assert_counts_match, assert_download_failure_raises, assert_same_model, batch,
    collapses, counts, fill_random, random_application, same_layer_classes, zero_init,
)

every_runtime = pytest.mark.every_runtime
SMALL = (75, 75, 3)
# torchvision inception_v3 IMAGENET1K_V1: num_params (with AuxLogits) and _ops (GMACs, 299x299).
TORCHVISION_PARAMS = 27_161_264
TORCHVISION_GMACS = 5.71


def torchvision_aux(classes=1000):
    """torchvision's InceptionAux: conv0 1x1 768->128 and conv1 5x5 128->768 (no bias, BN with
    gamma and beta), fc 768->classes with bias."""
    return 768 * 128 + 2 * 128 + 5 * 5 * 128 * 768 + 2 * 768 + 768 * classes + classes


def bn_channels(model):
    return sum(int(layer.moving_mean.shape[0]) for layer in model.layers
               if isinstance(layer, keras.layers.BatchNormalization))


@pytest.fixture(scope="module")
def applications():
    return random_application("InceptionV3", SMALL)


@pytest.fixture(scope="module")
def imagenet(applications):
    with applications_answering("InceptionV3", applications) as calls:
        model = kerascnn.inception_v3(weights="imagenet", input_shape=SMALL, classifier_activation=None,
                                      compile=False)
    assert calls == [{"weights": "imagenet", "include_top": True}]
    return model


@pytest.fixture(scope="module")
def with_aux():
    with zero_init():
        return kerascnn.inception_v3(aux_classifier=True)


@every_runtime
def test_counts_equal_keras_applications_and_card(applications, imagenet):
    assert_counts_match("inception_v3", imagenet, applications)
    # BatchNorm without gamma: 3 numbers per channel, one of them trainable (beta)
    assert counts(applications)[2] == 2 * bn_channels(applications) == 34_432


@every_runtime
def test_layout_follows_keras_applications(applications, imagenet):
    ours, _ = same_layer_classes(imagenet, applications)
    named = [f"mixed{i}" for i in range(11)] + ["avg_pool", "predictions"]
    assert all(imagenet.get_layer(n).output.shape == applications.get_layer(n).output.shape for n in named)
    convs = [layer for layer in ours if isinstance(layer, keras.layers.Conv2D)]
    norms = [layer for layer in ours if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(convs) == len(norms) == 94
    assert not any(layer.use_bias for layer in convs)
    assert not any(layer.scale for layer in norms)
    assert {layer.epsilon for layer in norms} == {applications.layers[2].epsilon} == {1e-3}


@every_runtime
def test_imagenet_loader_transfers_every_weight(applications, imagenet):
    assert_same_model(applications, imagenet, batch(SMALL, seed=1) * 2 - 1, by_name=False)


@every_runtime
def test_copy_in_order_refuses_another_layout(applications):
    x = keras.Input(SMALL)
    other = keras.Model(x, keras.layers.Conv2D(32, 3, strides=2, use_bias=False, name="stem")(x))
    before = other.get_weights()[0].copy()
    # 94 convolutions, 94 BatchNorms, 1 classifier
    with pytest.raises(ValueError, match=r"189 weighted layers in inception_v3, 1 in"):
        copy_weights_in_order(applications, other)
    np.testing.assert_array_equal(other.get_weights()[0], before)


def test_torchvision_count_by_arithmetic(with_aux):
    # torchvision's BatchNorm has a gamma per channel, keras.applications' none (scale=False):
    # torchvision's count = our trainable count + one gamma per BatchNorm channel.
    assert counts(with_aux)[1] + bn_channels(with_aux) == TORCHVISION_PARAMS
    aux = [layer for layer in with_aux.layers if layer.name.startswith("aux_")]
    aux_trainable = sum(int(np.prod(w.shape)) for layer in aux for w in layer.trainable_weights)
    assert aux_trainable + 128 + 768 == torchvision_aux()
    main_gammas = bn_channels(with_aux) - (128 + 768)
    card = kerascnn.model_card("inception_v3")
    assert card.trainable_params + main_gammas == TORCHVISION_PARAMS - torchvision_aux() == 23_834_568


def test_aux_classifier_outputs_loss_weights_and_inference_model(with_aux):
    assert [tuple(output.shape) for output in with_aux.outputs] == [(None, 1000), (None, 1000)]
    assert tuple(with_aux.get_layer("aux_pool").input.shape) == (None, 17, 17, 768)  # on mixed7
    assert tuple(with_aux.get_layer("aux_conv1_relu").output.shape) == (None, 1, 1, 768)
    fill_random(with_aux, seed=3)
    x = batch((299, 299, 3), seed=2)
    y = np.array([0, 999])
    main, aux = (np.asarray(output) for output in with_aux(x, training=False))
    # the compiled loss, without tracing a test step (evaluate would, for a single batch):
    # the main classifier's cross-entropy plus 0.4 times the auxiliary one's
    parts = [float(np.mean(keras.losses.sparse_categorical_crossentropy(y, probabilities)))
             for probabilities in (main, aux)]
    loss = float(with_aux.compute_loss(x=x, y=[y, y], y_pred=[main, aux], training=False))
    assert loss == pytest.approx(parts[0] + 0.4 * parts[1], rel=1e-4) and parts[1] > 0.1
    inference = kerascnn.inception_v3_inference_model(with_aux)
    assert inference.get_layer("mixed10") is with_aux.get_layer("mixed10") and len(inference.outputs) == 1
    np.testing.assert_allclose(np.asarray(inference(x, training=False)), main, rtol=1e-5, atol=1e-6)


@every_runtime
def test_input_sizes_are_checked():
    with pytest.raises(ValueError, match="too small for inception_v3: the minimum is 75x75"):
        kerascnn.inception_v3(input_shape=(74, 299, 3))
    with pytest.raises(ValueError, match="inception_v3 with aux_classifier: the minimum is 299x299"):
        kerascnn.inception_v3(input_shape=(298, 298, 3), aux_classifier=True)
    with pytest.raises(ValueError, match="aux_classifier=True needs a classifier"):
        kerascnn.inception_v3(include_top=False, aux_classifier=True)
    with pytest.raises(TypeError, match="aux_classifier must be True or False"):
        kerascnn.inception_v3(aux_classifier="yes")


def test_minimum_sizes_are_the_architectures():
    with zero_init():
        assert collapses(lambda shape: kerascnn.inception_v3(input_shape=shape, compile=False), (74, 74, 3))
        assert collapses(lambda shape: kerascnn.inception_v3(input_shape=shape, aux_classifier=True,
                                                             compile=False), (298, 298, 3))
        model = kerascnn.inception_v3(input_shape=(75, 107, 1), num_classes=0, compile=False)
    assert tuple(model.output.shape) == (None, 1, 2, 2048)  # any channel count without weights


@every_runtime
def test_imagenet_download_failure_raises():
    assert_download_failure_raises("InceptionV3", lambda: kerascnn.inception_v3(
        weights="imagenet", input_shape=SMALL, include_top=False))


@every_runtime
@pytest.mark.parametrize("kwargs, message", [
    ({"aux_classifier": True}, "no auxiliary head"),
    ({"num_classes": 10}, "the top has 1000 classes"),
    ({"input_shape": (299, 299, 1)}, "need 3 channels"),
])
def test_imagenet_arguments_are_checked_before_building(kwargs, message):
    with pytest.raises(WeightsNotAvailable, match=message):
        kerascnn.inception_v3(weights="imagenet", **kwargs)


@pytest.mark.keras3_only
@pytest.mark.tensorflow_only
def test_macs_sizes_and_receptive_field():
    with zero_init():
        model = kerascnn.inception_v3(compile=False)
    cost = analysis.macs(model)
    assert cost.unknown == []
    assert cost.giga == pytest.approx(TORCHVISION_GMACS, rel=0.005)
    rows = {row.name: row for row in analysis.output_sizes(model)}
    assert all(row.matches for row in rows.values())
    assert rows["maxpool_5a_3x3"].keras_size == (35, 35)  # the paper's Table 1: 35x35x288 after the stem
    assert rows["mixed3_pool"].keras_size == (17, 17) and rows["mixed8_pool"].keras_size == (8, 8)
    field = analysis.receptive_field(model)["mixed10"]
    assert field.jump == (32, 32)  # stride 2 five times
    assert field.size[0] > 299  # the last modules see more than the whole 299x299 input


@pytest.mark.slow  # folding a BatchNorm without gamma is checked fast on a small graph (test_surgery_rewrite)
def test_fold_batchnorm_without_scale_and_add_se():
    with zero_init():
        model = kerascnn.inception_v3(input_shape=SMALL, num_classes=5, classifier_activation=None,
                                      compile=False)
    fill_random(model, seed=4)
    assert randomize_batchnorm(model, seed=5) == 94  # keeps gamma absent: scale=False stays
    folded, report = fold_batchnorm(model, report=True)
    assert len(report["folded"]) == 94 and report["kept"] == {}
    x = batch(SMALL, seed=6)
    reference = np.asarray(model(x, training=False))
    assert np.abs(reference).max() > 1e-2
    assert np.abs(np.asarray(folded(x, training=False)) - reference).max() <= 1e-4 * np.abs(reference).max()
    with pytest.raises(ValueError, match="found no residual addition"):
        add_se(model)  # Inception v3 has no residual branch; add_se(model, where="conv") works
