"""What the fine-tuning phase trains: the freeze plans, the scenarios, the default.

Counts by hand for LeNet-5's backbone on 3 channels (its layers: input, C1, S2, C3, S4, C5;
LeCun et al. 1998 with 3 input channels) under a binary head (120 features -> 1 unit).
Until 2026-12-03 the default plan and the scenarios' "all layers" kept the whole backbone
frozen while fine-tuning, so only the head trained on; these tests fail on that.
"""

from __future__ import annotations

import numpy as np
import pytest

from kerascnn import transfer
from kerascnn.transfer.finetune import phases

pytestmark = pytest.mark.keras2  # freezing reorders a model's weights in Keras 2

C1, C3, C5 = 6 * (25 * 3 + 1), 16 * (6 * 25 + 1), 120 * (16 * 25 + 1)
HEAD = 120 + 1
TOTAL = C1 + C3 + C5 + HEAD


@pytest.fixture(scope="module")
def model():
    return transfer.build("lenet5", num_classes=1, input_shape=(32, 32, 3), weights=None)


def trained_while_fine_tuning(model, **arguments):
    """Trainable parameters once the fine-tuning phase is prepared (the head phase's first)."""
    head, tune = phases(model, head_epochs=1, epochs=1, **arguments)
    head.prepare(model)
    assert transfer.trainable_report(model).trainable_params == HEAD
    tune.prepare(model)
    return transfer.trainable_report(model).trainable_params


@pytest.mark.parametrize("plan, trainable", [
    (None, TOTAL),                   # the default: nothing stays frozen
    ("none", TOTAL),
    ("all", HEAD),                   # the backbone stays frozen, the head trains on
    ("first:2", TOTAL - C1),         # input and C1 frozen
    ("fraction:0.5", TOTAL - C1),    # 3 of 6 layers: input, C1, S2
    ("until:c5", C5 + HEAD),         # every layer before C5
    ("last:1", C5 + HEAD),           # only C5 trains
    ("from:c3_conv", C3 + C5 + HEAD),
])
def test_fine_tuning_phase_trains_what_the_plan_leaves_unfrozen(model, plan, trainable):
    assert trained_while_fine_tuning(model, freeze=plan) == trainable


@pytest.mark.parametrize("name, trainable", [
    ("much_data_similar_domain", TOTAL),               # "everything"
    ("much_data_different_domain", TOTAL),             # "everything" (LeNet-5 has no BatchNorm)
    ("little_data_different_domain", C5 + HEAD),       # "top 30%": 4 of 6 layers frozen
])
def test_scenarios_fine_tune_what_their_table_says(model, name, trainable):
    assert trained_while_fine_tuning(model, scenario=name) == trainable


def test_feature_extraction_scenario_has_no_fine_tuning_phase(model):
    assert [phase.name for phase in phases(model, scenario="little_data_similar_domain")] == ["head"]


def test_unfreeze_is_the_former_name_of_freeze(model):
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    y = np.array([0, 1, 0, 1], "float32")
    with pytest.warns(DeprecationWarning, match="freeze='none'"):
        history = transfer.fine_tune(model, (x, y), head_epochs=0, epochs=1, unfreeze="all", callbacks=[],
                                     batch_size=4, verbose=0)
    assert history.phases[-1]["trainable"].trainable_params == TOTAL  # what "unfreeze all" always meant
    with pytest.raises(TypeError, match="not both"):
        transfer.fine_tune(model, (x, y), freeze="none", unfreeze="all")
