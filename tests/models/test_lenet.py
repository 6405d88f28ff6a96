"""LeNet-5 against docs/references.md (61,706 parameters)."""

import numpy as np
import pytest

import kerascnn

pytestmark = pytest.mark.every_runtime


def test_lenet5_count_and_layout():
    model = kerascnn.lenet5()
    # docs/references.md, LeNet-5 recomputed: C1 6*(25+1), C3 16*(6*25+1), C5 120*(16*25+1), F6 84*121, out 10*85
    assert model.count_params() == 61_706 == 6 * 26 + 16 * 151 + 120 * 401 + 84 * 121 + 10 * 85
    assert [l.name for l in model.layers[1:]] == [
        "c1_conv", "s2_pool", "c3_conv", "s4_pool", "c5_conv", "flatten", "f6_dense", "predictions"]


@pytest.mark.one_runtime  # an architecture fact: Keras 3 / TensorFlow (tests/conftest.py)
@pytest.mark.parametrize("shape, c5", [((32, 32, 1), 1), ((36, 40, 1), 2 * 3), ((64, 64, 3), 9 * 9)])
def test_lenet5_input_sizes(shape, c5):
    model = kerascnn.lenet5(input_shape=shape, compile=False)
    assert model.get_layer("flatten").output.shape[-1] == 120 * c5
    out = model(np.zeros((2, *shape), "float32"))
    assert tuple(out.shape) == (2, 10)
    np.testing.assert_allclose(np.asarray(out).sum(axis=1), 1.0, rtol=1e-5)
