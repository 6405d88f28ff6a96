"""kerascnn.surgery on the kerascnn zoo: add_se(resnetN) is se_resnetN; folding keeps every zoo model's outputs.

Parametrised from ``kerascnn.list_models()``, so new builders of these families are covered
as they are registered. Models are built small (64x64 inputs, 5 classes, logits) to keep
the run cheap: neither the SE arithmetic nor BatchNorm folding depends on the input size.
Every model up to 50 layers deep is folded in the Keras 3 / TensorFlow run (the deeper ones
repeat the same blocks more times); one model per block kind in the Keras 2 run; resnet18 and
vgg11_bn also on JAX.
"""

import fnmatch

import numpy as np
import pytest

import kerascnn
from kerascnn.surgery import add_se, fold_batchnorm, randomize_batchnorm

SMALL = {"input_shape": (64, 64, 3), "compile": False}
MODELS = kerascnn.list_models()
#: Zoo models with BatchNorm after their convolutions, with the options that select it.
BATCHNORM_FAMILIES = ("resnet*", "se_resnet*", "*_bn", "resnext*", "wide_resnet*")
#: Pre-activation BatchNorms follow an addition, not a convolution: tests/models/test_resnet_v2.py
#: checks that those are kept (with their reason) and the others folded.
PRE_ACTIVATION = ("resnet*v2",)
#: The 101- and 152-layer models are left out: they repeat the 50-layer models' blocks more times.
FOLD_CASES = [(name, {}) for name in MODELS if any(fnmatch.fnmatch(name, p) for p in BATCHNORM_FAMILIES)
              and not any(fnmatch.fnmatch(name, p) for p in PRE_ACTIVATION)
              and not (name.endswith(("101", "152")) or "101_" in name)]
if "googlenet" in MODELS:
    FOLD_CASES += [("googlenet", {"batch_norm": True}), ("googlenet", {"variant": "torchvision"})]
#: The cheapest of each kind also run on JAX (where every new layer shape is compiled).
ON_JAX = {"resnet18", "vgg11_bn"}
#: One of each block kind (basic, bottleneck, SE, VGG-BN, inception-BN) runs in Keras 2 too.
EVERY_RUNTIME = {"resnet18", "resnet50", "se_resnet18", "vgg11_bn", "googlenet"}
#: The fast tier folds those and ResNeXt's grouped convolutions; the other models run in the full tier.
FAST = EVERY_RUNTIME | {"resnext50_32x4d"}


def _case(name, options):
    marks = [pytest.mark.every_runtime] if name in ON_JAX and not options else []
    if name not in EVERY_RUNTIME:  # more of the same blocks: the Keras 3 / TensorFlow run checks them
        marks.append(pytest.mark.keras3_only)
    if name not in FAST:
        marks.append(pytest.mark.slow)
    label = name + "".join(f"-{k}={v}" for k, v in options.items())
    return pytest.param(name, options, id=label, marks=marks)


def _stage(layer_name: str) -> str:
    return layer_name.split("_")[0] if layer_name.startswith("conv") else "head"


def _per_stage(model) -> dict:
    counts = {}
    for layer in model.layers:
        counts[_stage(layer.name)] = counts.get(_stage(layer.name), 0) + layer.count_params()
    return counts


@pytest.mark.parametrize("depth", [
    pytest.param(18, marks=pytest.mark.every_runtime),  # basic blocks
    50,  # bottlenecks; 34, 101 and 152 repeat the same blocks
])
def test_add_se_turns_resnet_into_se_resnet(depth):
    if f"se_resnet{depth}" not in MODELS:
        pytest.fail(f"se_resnet{depth} is not registered")
    plain = kerascnn.build(f"resnet{depth}", **SMALL)
    reference = kerascnn.build(f"se_resnet{depth}", **SMALL)
    se = add_se(plain, ratio=16)
    # docs/references.md: SE-ResNet torch counts (osmr/imgclsmob) + 2 x BatchNorm channels
    # (ResNet-18: 4,800 channels; ResNet-50: 26,560); the head stays at 1000 classes here.
    expected = {18: 11_778_592 + 2 * 4_800, 50: 28_088_024 + 2 * 26_560}[depth]
    assert se.count_params() == reference.count_params() == expected
    assert [type(l).__name__ for l in se.layers] == [type(l).__name__ for l in reference.layers]
    assert _per_stage(se) == _per_stage(reference)
    assert {"conv2", "conv3", "conv4", "conv5"} <= set(_per_stage(se))


@pytest.mark.parametrize("name, options", [_case(n, o) for n, o in FOLD_CASES])
def test_fold_batchnorm_keeps_outputs(name, options):
    model = kerascnn.build(name, num_classes=5, classifier_activation=None, **SMALL, **options,
                           **({"fc_units": (64, 64)} if name.startswith("vgg") else {}))
    count = randomize_batchnorm(model, seed=len(name))
    assert count > 0
    folded, report = fold_batchnorm(model, report=True)
    assert len(report["folded"]) == count and report["kept"] == {}
    inputs = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
    reference = np.asarray(model(inputs, training=False))
    assert np.abs(reference).max() > 1e-2  # non-trivial BatchNorm statistics
    assert np.abs(np.asarray(folded(inputs, training=False)) - reference).max() <= 1e-4
