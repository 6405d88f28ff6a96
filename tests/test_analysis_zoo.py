"""MACs of the zoo against published figures.

* torchvision `_ops` (docs/references.md, weights metadata; multiply-accumulates of convolutions
  and linear layers): within 0.5%. torchvision's ResNets are V1.5 (stride in the 3x3),
  its AlexNet the 64-filter one-tower form, its GoogLeNet the BN variant with a 3x3 "5x5".
  (VGG-16 is checked on keras.applications' VGG16 in tests/test_analysis.py; VGG-11 here.)
* He et al. 2015, Table 1 (V1 ResNets, stride in the first 1x1): one published decimal,
  so within 0.1 G.

Each model is built once. These run in the Keras 3 / TensorFlow runtime only, to keep the
suite short: the counting code is the same in every runtime and tests/test_analysis.py
checks it in all three (keras.applications VGG-16 and ResNet-50 in both TF runtimes).
"""

import pytest

import kerascnn
from kerascnn import analysis
from tests.models.zoo_helpers import zero_init

pytestmark = [pytest.mark.keras3_only, pytest.mark.tensorflow_only]

BUILDS = {
    "resnet18": ("resnet18", {}),
    "resnet34": ("resnet34", {}),
    "resnet50_v1": ("resnet50", {}),
    "resnet50_v1.5": ("resnet50", {"stride_in": "v1.5", "use_bias": False}),
    "resnet101_v1": ("resnet101", {}),
    "resnet101_v1.5": ("resnet101", {"stride_in": "v1.5", "use_bias": False}),
    "vgg11": ("vgg11", {}),
    "alexnet_torchvision": ("alexnet", {"variant": "torchvision"}),
    "googlenet_torchvision": ("googlenet", {"variant": "torchvision"}),
}


# ResNet-101 repeats ResNet-50's blocks: the full tier checks its figures
DEEPER = pytest.mark.slow


@pytest.fixture(scope="module")
def costs():
    """Build each model once (then drop it) and keep its Cost and receptive fields. MACs and
    fields do not depend on the weights' values: zero initial weights (cheap)."""
    cache = {}

    def get(key):
        if key not in cache:
            name, kwargs = BUILDS[key]
            with zero_init():
                model = kerascnn.build(name, compile=False, **kwargs)
            cache[key] = (analysis.macs(model), analysis.receptive_field(model))
        return cache[key]

    return get


@pytest.mark.parametrize("key, gmacs", [
    ("resnet18", 1.814),
    ("resnet34", 3.664),
    ("resnet50_v1.5", 4.089),
    pytest.param("resnet101_v1.5", 7.801, marks=DEEPER),
    ("vgg11", 7.609),
    ("alexnet_torchvision", 0.714),
    ("googlenet_torchvision", 1.498),
])
def test_torchvision_ops(costs, key, gmacs):
    cost, _ = costs(key)
    assert cost.unknown == []
    assert cost.giga == pytest.approx(gmacs, rel=0.005)


@pytest.mark.parametrize("key, paper", [
    ("resnet18", 1.8), ("resnet34", 3.6), ("resnet50_v1", 3.8), pytest.param("resnet101_v1", 7.6, marks=DEEPER),
])
def test_resnet_paper_figures(costs, key, paper):
    assert costs(key)[0].giga == pytest.approx(paper, abs=0.1)


def test_v15_moves_work_into_the_3x3(costs):
    # docs/references.md: same parameters, about 0.23 GMACs more for V1.5 (4.089 vs the V1 count)
    extra = costs("resnet50_v1.5")[0].giga - costs("resnet50_v1")[0].giga
    assert extra == pytest.approx(0.23, abs=0.01)


def test_resnet50_receptive_field(costs):
    # Araujo et al., Distill 2019, Table 1: ResNet-50 (V1) receptive field 483, effective stride 32
    fields = costs("resnet50_v1")[1]
    last_conv = [name for name, f in fields.items() if f is not None and not f.covers_input][-1]
    assert fields[last_conv].size == (483, 483) and fields[last_conv].jump == (32, 32)
