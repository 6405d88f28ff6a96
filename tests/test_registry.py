"""The registry: build, list_models, model_card, and the suggestion on unknown names."""

import pytest

import kerascnn
from kerascnn.registry import ModelCard
from tests.models.zoo_helpers import zero_init_module  # noqa: F401
from tiers import sweep

pytestmark = [pytest.mark.every_runtime, pytest.mark.usefixtures("zero_init_module")]


@pytest.mark.parametrize("name", sweep(kerascnn.list_models(), every_runtime=True))
def test_every_registered_model_builds_here_with_its_cards_parameter_count(name):
    """Every builder in every runtime: the full tier builds each model in Keras 3/TF, Keras 2 and
    Keras 3/JAX (the fast tier the smallest of each kind)."""
    card = kerascnn.model_card(name)
    model = kerascnn.build(name, compile=False)
    assert model.count_params() == card.params, f"{name}: card {card.params:,} ({card.sources['params']})"
    assert tuple(model.input_shape[1:]) == tuple(card.input_shape)


def test_every_registered_model_has_a_complete_card():
    names = kerascnn.list_models()
    assert "lenet5" in names
    for name in names:
        card = kerascnn.model_card(name)
        assert isinstance(card, ModelCard)
        assert card.name == name and card.family and card.description
        assert len(card.input_shape) == 3 and len(card.min_input_size) == 2
        assert card.min_input_size[0] <= card.input_shape[0]
        if card.params is not None:
            assert card.sources.get("params"), f"{name}: every figure must cite its source"


def test_list_models_uses_shell_wildcards():
    assert kerascnn.list_models("lenet?") == ["lenet5"]
    assert kerascnn.list_models("no-such-*") == []
    with pytest.raises(TypeError, match="pattern"):
        kerascnn.list_models(5)


def test_list_models_pretrained_only():
    """keras.applications has ImageNet weights for ResNet50 and ResNet50V2, none for a ResNet-18."""
    assert kerascnn.list_models("resnet5*", pretrained=True) == ["resnet50", "resnet50v2"]
    assert "resnet18" in kerascnn.list_models("resnet*") and "resnet18" not in kerascnn.list_models(pretrained=True)
    for name in kerascnn.list_models(pretrained=True):
        assert kerascnn.model_card(name).weights_record("imagenet").input_shape
    with pytest.raises(TypeError, match="pretrained"):
        kerascnn.list_models(pretrained="yes")


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ValueError, match=r"Unknown model 'lenet'\. Did you mean 'lenet5'"):
        kerascnn.build("lenet")
    with pytest.raises(ValueError, match="Unknown model"):
        kerascnn.model_card("resnet-50000")


def test_build_passes_arguments_and_names_the_model():
    model = kerascnn.build("lenet5", num_classes=3, compile=False)
    assert model.name == "lenet5"
    assert model.output.shape[-1] == 3
    assert kerascnn.build("lenet5", name="mine").name == "mine"
