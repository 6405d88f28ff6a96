"""MACs of a kecam attention model (DaViT-T) in the Keras 2 runtime: every layer kind is known.

DaViT's window attention reshapes (None, 56, 56, C) into (None * 64, 49, C): the analysis
follows the batch factor through the reshapes to keep counts per image.
"""

import pytest

from kerascnn import analysis

pytestmark = pytest.mark.legacy_only


@pytest.fixture(scope="module")
def davit_t():
    from keras_cv_attention_models import davit  # noqa: PLC0415 - Keras 2 only

    return davit.DaViT_T(pretrained=None)


def test_davit_t_macs(davit_t):
    cost = analysis.macs(davit_t)
    assert cost.unknown == []  # TFOpLambda matmul/reshape/transpose/split/multiply all known
    # docs/references.md: kecam DaViT_T 4.56 G (kecam's own count); the DaViT paper reports 4.5 G
    assert cost.giga == pytest.approx(4.56, rel=0.015)
    assert round(cost.giga, 1) == 4.5
    kinds = {layer.class_name for layer in cost.layers if layer.count}
    assert {"Conv2D", "DepthwiseConv2D", "Dense", "TFOpLambda"} <= kinds  # matmuls of attention counted


def test_davit_t_summary_and_fields(davit_t):
    table = analysis.summary(davit_t)
    assert table.total_params == 28_360_168  # docs/references.md: 28.36M with the 1000-class head
    fields = analysis.receptive_field(davit_t)
    assert fields["stem_conv"].size == (7, 7) and fields["stem_conv"].jump == (4, 4)
    assert fields["avg_pool"].covers_input
