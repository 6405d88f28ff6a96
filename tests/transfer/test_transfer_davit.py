"""The documents' DaViT-T transfer workflow on the native DaViT, in every runtime (JAX included).

Figures: the documents' (docs/transfer.md, docs/references.md): at 280x280 with the binary head
(global average pooling, dropout 0.3, Dense(1, sigmoid)) ``Total params: 27,591,937`` (kecam's
DaViT_T backbone 27,591,168 + 768 + 1), all trainable; freezing the first 80 backbone layers
takes ``len(model.trainable_variables)`` from 212 to 168.
"""

import json
import math

import pytest

from kerascnn import cli, transfer
from kerascnn.transfer import catalogue
from tests.models.zoo_helpers import zero_init

pytestmark = pytest.mark.every_runtime
# the command traces (TensorFlow: compiles) the 394-layer model for training, evaluation and prediction;
# Keras 3 / TensorFlow only: the training core it runs is tested in every runtime by test_transfer_resume
slow = [pytest.mark.slow, pytest.mark.one_runtime]


@pytest.fixture(scope="module")
def binary():
    with zero_init():
        return transfer.build("DaViT_T", num_classes=1, input_shape=(280, 280, 3), weights=None)


def test_davit_is_native_in_every_runtime():
    assert not transfer.needs_legacy("DaViT_T") and transfer.needs_legacy("kecam:DaViT_T")
    info = transfer.backbone_info("DaViT_T")
    assert (info.provider, info.name, info.preprocessing, info.pretrained) == (
        "kerascnn", "davit_t", "torch", ("imagenet",))


def test_documents_figures(binary):
    assert binary.count_params() == 27_591_937
    base = transfer.get_backbone(binary)
    assert base.name == "davit_t" and base.output_shape == (None, 9, 9, 768)
    kinds = [type(layer).__name__ for layer in binary.layers]
    assert kinds == ["InputLayer", "Rescaling", "Functional", "GlobalAveragePooling2D", "Dropout", "Dense"]
    assert binary.get_layer("predictions").activation.__name__ == "sigmoid"
    transfer.unfreeze(binary, all=True)
    assert len(binary.trainable_variables) == 212
    assert sum(math.prod(w.shape) for w in binary.trainable_weights) == 27_591_937  # all trainable
    transfer.freeze(binary, first=80)
    assert len(binary.trainable_variables) == 168
    transfer.freeze(binary, all=True)
    assert len(binary.trainable_variables) == 2


@pytest.mark.slow
@pytest.mark.one_runtime
def test_finetune_command_runs_davit(image_folder, tmp_path, capsys):
    out = tmp_path / "run"
    status = cli.main(["finetune", "DaViT_T", "--data", image_folder, "--image-size", "64", "--weights", "none",
                       "--freeze", "first:80", "--head-epochs", "1", "--epochs", "1", "--batch-size", "4",
                       "--out", str(out), "--quiet"])
    assert status == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2
    assert metrics["phases"][1]["trainable"]["frozen_layers"] == 80
    assert catalogue.provider_of("DaViT_T") == ("kerascnn", "davit_t")
