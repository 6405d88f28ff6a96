"""kerascnn.surgery on keras-cv-attention-models (kecam) models, which need Keras 2 (tf-keras).

kecam's AotNet50 is a ResNet-50 (stem, bottlenecks [3, 4, 6, 3], BatchNorm after every
convolution); EfficientNet-B0 has depthwise convolutions, swish and its own SE blocks
(TFOpLambda layers in its graph). ``pretrained=None``: nothing is downloaded.
"""

import numpy as np
import pytest

from kerascnn.runtime import keras
from kerascnn.surgery import add_se, change_input_shape, fold_batchnorm, randomize_batchnorm, replace_activation

pytestmark = pytest.mark.legacy_only
RESNET50_STAGES = [(256, 3), (512, 4), (1024, 6), (2048, 3)]  # (output channels, blocks)


@pytest.fixture(scope="module")
def inputs():
    return np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")


@pytest.fixture(scope="module")
def efficientnet():
    from keras_cv_attention_models import efficientnet  # noqa: PLC0415 - Keras 2 only

    model = efficientnet.EfficientNetV1B0(input_shape=(64, 64, 3), num_classes=10, pretrained=None,
                                          classifier_activation=None)
    randomize_batchnorm(model, seed=0)
    return model


def test_fold_and_swap_on_kecam_efficientnet(efficientnet, inputs):
    folded, report = fold_batchnorm(efficientnet, report=True)
    depthwise = [l.name for l in efficientnet.layers if isinstance(l, keras.layers.DepthwiseConv2D)]
    assert len(depthwise) == 16  # one per MBConv block (1 + 2 + 2 + 3 + 3 + 4 + 1)
    assert {name.split(" -> ")[1] for name in report["folded"]} >= set(depthwise)
    assert not [l for l in folded.layers if isinstance(l, keras.layers.BatchNormalization)]
    reference = np.asarray(efficientnet(inputs, training=False))
    assert np.abs(reference).max() > 1e-2
    assert np.abs(np.asarray(folded(inputs, training=False)) - reference).max() <= 1e-4

    relu = replace_activation(efficientnet, "swish", "relu")
    swapped = [l for l in relu.layers if isinstance(l, keras.layers.Activation)
               and l.get_config()["activation"] == "relu"]
    assert len(swapped) == len([l for l in efficientnet.layers if isinstance(l, keras.layers.Activation)
                                and l.get_config()["activation"] == "swish"]) > 0
    assert relu.count_params() == efficientnet.count_params()

    bigger = change_input_shape(efficientnet, (96, 96, 3))
    assert bigger.count_params() == efficientnet.count_params()
    assert tuple(bigger(np.zeros((1, 96, 96, 3), "float32")).shape) == (1, 10)


def test_add_se_and_fold_on_kecam_resnet50(inputs):
    from keras_cv_attention_models import aotnet  # noqa: PLC0415 - Keras 2 only

    model = aotnet.AotNet50(input_shape=(64, 64, 3), num_classes=10, pretrained=None, classifier_activation=None)
    se = add_se(model)
    # one SE block per bottleneck: 2 * C * (C // 16) + C // 16 + C
    expected = sum(n * (2 * c * (c // 16) + c // 16 + c) for c, n in RESNET50_STAGES)
    assert se.count_params() - model.count_params() == expected == 2_530_992
    randomize_batchnorm(model, seed=1)
    folded, report = fold_batchnorm(model, report=True)
    assert len(report["folded"]) == 53  # stem + 3 per bottleneck x 16 + 4 projections
    reference = np.asarray(model(inputs, training=False))
    assert np.abs(np.asarray(folded(inputs, training=False)) - reference).max() <= 1e-4


def test_davit_where_the_graph_does_not_allow():
    from keras_cv_attention_models import davit  # noqa: PLC0415 - Keras 2 only

    model = davit.DaViT_T(input_shape=(64, 64, 3), num_classes=10, pretrained=None)
    # LayerNorm, no BatchNorm; residuals around attention end in Dense, not convolutions
    with pytest.raises(ValueError, match="no BatchNormalization layer"):
        fold_batchnorm(model)
    with pytest.raises(ValueError, match="no residual addition.*'stack1_block1_1_output'"):
        add_se(model)
    # window attention reshapes to the sizes it was built for: the first layer that breaks is named
    with pytest.raises(ValueError, match=r"layer 'stack1_block1_1_output' \(Add\).*keep the old size"):
        change_input_shape(model, (96, 96, 3))
    relu = replace_activation(model, "gelu", "relu")
    assert relu.count_params() == model.count_params()
