"""In the Keras 3 runtime, kecam backbones raise the documented error, before kecam is imported."""

import sys

import pytest

from kerascnn import transfer
from kerascnn.runtime import RuntimeMismatchError

pytestmark = pytest.mark.keras3_only


def test_kecam_backbone_needs_legacy_keras():
    with pytest.raises(RuntimeMismatchError) as error:
        transfer.backbone("kecam:DaViT_T", input_shape=(280, 280, 3), weights=None)
    message = str(error.value)
    assert "TF_USE_LEGACY_KERAS=1" in message and "DaViT_T" in message
    assert "keras_cv_attention_models" not in sys.modules  # it would switch the process to Keras 2
    with pytest.raises(RuntimeMismatchError):
        transfer.build("kecam:davit_t", num_classes=1, weights=None)
