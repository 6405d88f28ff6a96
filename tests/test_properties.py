"""Property-based tests over builder arguments (issue 11).

For any combination of arguments a builder either returns a model whose output shape is
the one the output-size arithmetic predicts, or raises one of the documented errors
(ValueError / TypeError naming the argument) — never another exception.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kerascnn

pytestmark = pytest.mark.builders

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def valid(size, kernel):
    """O = floor((I - K + 2P) / S) + 1 with P = 0, S = 1."""
    return size - kernel + 1


def lenet_feature_side(side):
    side = valid(side, 5) // 2      # C1 5x5, S2 pool 2
    side = valid(side, 5) // 2      # C3 5x5, S4 pool 2
    return valid(side, 5)           # C5 5x5


sizes = st.integers(min_value=-2, max_value=72)
class_counts = st.one_of(st.integers(min_value=-2, max_value=30), st.none(), st.floats(0.5, 3.5))


@SETTINGS
@given(
    height=sizes, width=sizes, channels=st.integers(1, 4), num_classes=class_counts,
    include_top=st.booleans(), pooling=st.sampled_from([None, "avg", "max", "mean"]),
    task=st.sampled_from(["classification", "regression", "detection"]),
)
def test_lenet5_builds_or_raises_a_documented_error(height, width, channels, num_classes, include_top,
                                                    pooling, task):
    kwargs = dict(input_shape=(height, width, channels), num_classes=num_classes,
                  include_top=include_top, pooling=pooling, task=task, compile=False)
    try:
        model = kerascnn.lenet5(**kwargs)
    except (ValueError, TypeError) as error:
        message = str(error)
        assert any(word in message for word in ("input_shape", "num_classes", "pooling", "task")), message
        if height < 32 or width < 32:
            return
        assert pooling == "mean" or task == "detection" or not isinstance(num_classes, (int, type(None))) \
            or (isinstance(num_classes, int) and num_classes < 0), message
        return
    assert height >= 32 and width >= 32, "a too-small input must be refused"
    units = (1 if task == "regression" else 10) if num_classes is None else num_classes
    if include_top and units > 0:
        assert tuple(model.output.shape) == (None, units)
    elif pooling in ("avg", "max"):
        assert tuple(model.output.shape) == (None, 120)
    else:
        assert tuple(model.output.shape) == (None, lenet_feature_side(height), lenet_feature_side(width), 120)
