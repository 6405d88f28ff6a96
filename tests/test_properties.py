"""Property-based tests over builder arguments (issue 11).

For any combination of arguments a builder either returns a model whose output shape is
the one the output-size arithmetic predicts, or raises one of the documented errors
(ValueError / TypeError naming the argument) — never another exception.

The arithmetic below is written here, from the papers' layer tables, independently of the
builders: O = floor((I + 2P - K) / S) + 1, or ceil(...) + 1 for Caffe's ceil-mode pools
(the last window must start inside the input).
"""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kerascnn
from kerascnn import runtime

# JAX builds (traces) each model more slowly: there only the families marked ``builders``
# (LeNet-5, the tutorial CNNs, ZFNet, ResNet) run, with a smaller sample.
EXAMPLES = 6 if runtime.BACKEND == "jax" else 20
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
LENET_SETTINGS = settings(max_examples=8 if runtime.BACKEND == "jax" else 25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])


def conv(size, kernel, stride=1, pad=0):
    """O = floor((I + 2P - K) / S) + 1; 0 (or less) means nothing is left."""
    return (size + 2 * pad - kernel) // stride + 1 if size + 2 * pad >= kernel else 0


def ceil_pool(size, kernel, stride=2):
    """Caffe / PyTorch ceil mode: ceil((I - K) / S) + 1, the last window starting inside."""
    if size < 1:
        return 0
    out = math.ceil((size - kernel) / stride) + 1
    if (out - 1) * stride >= size:
        out -= 1
    return max(out, 0)


def valid(size, kernel):
    """O = floor((I - K + 2P) / S) + 1 with P = 0, S = 1."""
    return size - kernel + 1


def lenet_feature_side(side):
    side = valid(side, 5) // 2      # C1 5x5, S2 pool 2
    side = valid(side, 5) // 2      # C3 5x5, S4 pool 2
    return valid(side, 5)           # C5 5x5


sizes = st.integers(min_value=-2, max_value=72)
class_counts = st.one_of(st.integers(min_value=-2, max_value=30), st.none(), st.floats(0.5, 3.5))


@pytest.mark.every_runtime
@LENET_SETTINGS
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


# ---------------------------------------------------------------------------------------------
# Every family: feature-map arithmetic per family, then one common check.

def mnist_cnn_side(s):
    return conv(conv(conv(s, 3) // 2, 3) // 2, 3)          # conv3, pool2, conv3, pool2, conv3


def mnist_5x5(s):
    s = conv(conv(s, 5), 5) // 2                               # conv5, conv5, pool2
    return conv(s, 5) // 2                                     # conv5, pool2


def alexnet_side(s, variant):
    pad = 2 if variant == "torchvision" else 0
    s = conv(s, 11, 4, pad)                                    # conv1 11x11/4
    for _ in range(3):                                         # pool1, pool2, pool5 3x3/2 (convs "same")
        s = conv(s, 3, 2)
    return s


def zfnet_side(s):
    s = ceil_pool(conv(s, 7, 2, 1), 3)                         # conv1 7x7/2 pad 1, ceil pool
    s = ceil_pool(conv(s, 5, 2), 3)                            # conv2 5x5/2, ceil pool
    return ceil_pool(s, 3)                                     # conv3-5 "same", ceil pool5


def vgg_side(s):
    for _ in range(5):                                         # five 2x2/2 pools, "same" convs
        s //= 2
    return s


def googlenet_sides(s, variant):
    s = conv(s, 7, 2, 3)                                       # conv1 7x7/2 pad 3
    s = ceil_pool(ceil_pool(s, 3), 3)                          # pool1, pool2 (1x1, 3x3 "same")
    stage4 = ceil_pool(s, 3)                                   # pool3
    last = ceil_pool(stage4, 3 if variant == "paper" else 2)   # pool4
    return stage4, last


def resnet_side(s):
    for _ in range(5):                                         # 7x7/2 pad 3, 3x3/2 pool pad 1, 3 strided stages
        s = conv(s, 3, 2, 1)
    return s


def mostly(good, bad):
    """Valid values three times as likely as each bad one, so that most examples build."""
    return st.sampled_from(list(good) * 3 + list(bad))


COMMON = dict(
    num_classes=mostly([0, 1, 2, 5, None], [-1, 2.0]),
    include_top=mostly([True, False], [1]),
    pooling=mostly([None, "avg", "max"], ["mean"]),
    task=mostly(["classification", "regression"], ["segmentation"]),
    classifier_activation=mostly(["auto", None, "softmax", "sigmoid", "linear"], ["softmaxx", 3]),
)


def sides(minimum, span=24):
    """Heights and widths drawn separately (non-square), mostly from the smallest accepted side
    (by the arithmetic) up to modest sizes, sometimes just below it, empty or negative."""
    side = mostly(range(minimum, minimum + span), [minimum - 1, minimum - 3, 0, -1])
    return st.tuples(side, side, mostly([1, 3, 4], [0]))


def expected_errors(kw, feature_hw, extra_bad=()):
    """(must, may): argument names for which the builder must raise / may raise."""
    must, may = set(extra_bad), set()
    h, w, c = kw["input_shape"]
    if min(h, w, c) < 1 or min(feature_hw) < 1:
        must.add("input_shape")
    n = kw["num_classes"]
    if isinstance(n, float) or (isinstance(n, int) and n < 0):
        must.add("num_classes")
    if not isinstance(kw["include_top"], bool):
        must.add("include_top")
    if kw["pooling"] not in (None, "avg", "max"):
        must.add("pooling")
    if kw["task"] not in ("classification", "regression"):
        must.add("task")
    if kw["classifier_activation"] not in ("auto", None, "softmax", "sigmoid", "linear"):
        may.add("classifier_activation")   # only checked when there is a classifier
    return must, may


OUTCOMES = {}  # (builder, "model" | "error") -> count, to see that both outcomes are exercised


def head_units(kw, default):
    n = kw["num_classes"]
    units = (1 if kw["task"] == "regression" else default) if n is None else n
    return units if kw["include_top"] and units > 0 else 0


def check(builder, kw, feature_hw, channels, default_classes, extra_bad=(), outputs=1):
    """Build; compare with the arithmetic, or check the error is a documented one."""
    must, may = expected_errors(kw, feature_hw, extra_bad)
    try:
        model = builder(compile=False, **kw)
    except (ValueError, TypeError) as error:
        OUTCOMES[builder.__name__, "error"] = OUTCOMES.get((builder.__name__, "error"), 0) + 1
        message = str(error)
        assert must or may, f"valid arguments {kw} refused: {message}"
        named = {name for name in must | may if name in message}
        # a too-small input may also be reported by what makes it small (variant, aux heads)
        assert named or ("input_shape" in must and "minimum" in message), (kw, message)
        return
    OUTCOMES[builder.__name__, "model"] = OUTCOMES.get((builder.__name__, "model"), 0) + 1
    assert not must, f"{kw}: expected an error naming {sorted(must)}, got a model"
    units = head_units(kw, default_classes)
    if units:
        shapes = [tuple(t.shape) for t in model.outputs]
        assert shapes == [(None, units)] * outputs, (kw, shapes)
    elif kw["pooling"] in ("avg", "max"):
        assert tuple(model.output.shape) == (None, channels), kw
    else:
        assert tuple(model.output.shape) == (None, *feature_hw, channels), kw


@pytest.mark.every_runtime
@SETTINGS
@given(shape=sides(18, 16), name=st.sampled_from(["mnist_cnn", "mnist_cnn_5x5"]), **COMMON)
def test_tutorial_cnns(shape, name, **common):
    kw = dict(input_shape=shape, **common)
    side = mnist_cnn_side if name == "mnist_cnn" else mnist_5x5
    check(kerascnn.registry.get_builder(name), kw, (side(shape[0]), side(shape[1])), 64, 10)


@SETTINGS
@given(shape=sides(63), variant=mostly(["paper", "torchvision"], ["caffe"]),
       lrn=mostly([False, True], ["yes"]), fc_units=mostly([(4, 4), ()], [(0,), 8]), **COMMON)
def test_alexnet(shape, variant, lrn, fc_units, **common):
    kw = dict(input_shape=shape, variant=variant, lrn=lrn, fc_units=fc_units, **common)
    bad = {name for name, ok in (("variant", variant in ("paper", "torchvision")), ("lrn", lrn in (True, False)),
                                 ("fc_units", fc_units in ((4, 4), ()))) if not ok}
    v = variant if variant in ("paper", "torchvision") else "paper"
    check(kerascnn.alexnet, kw, (alexnet_side(shape[0], v), alexnet_side(shape[1], v)), 256, 1000, bad)


@pytest.mark.every_runtime
@SETTINGS
@given(shape=sides(47), variant=mostly(["a", "b"], ["c"]), fc_units=mostly([(4,)], [(-4,)]),
       **COMMON)
def test_zfnet(shape, variant, fc_units, **common):
    kw = dict(input_shape=shape, variant=variant, fc_units=fc_units, **common)
    bad = {name for name, ok in (("variant", variant in ("a", "b")), ("fc_units", fc_units == (4,))) if not ok}
    channels = 512 if variant == "b" else 256
    check(kerascnn.zfnet, kw, (zfnet_side(shape[0]), zfnet_side(shape[1])), channels, 1000, bad)


@SETTINGS
@given(shape=sides(32, 40), depth=st.sampled_from([11, 13, 16, 19]), batch_norm=mostly([False, True], [None]),
       base_dim=mostly([2, 4], [0, -4, 4.0]), fc_units=mostly([(8, 8), (), [3]], [(8, 0)]), **COMMON)
def test_vgg(shape, depth, batch_norm, base_dim, fc_units, **common):
    kw = dict(input_shape=shape, batch_norm=batch_norm, base_dim=base_dim, fc_units=fc_units, **common)
    bad = {name for name, ok in (("batch_norm", batch_norm is not None),
                                 ("base_dim", isinstance(base_dim, int) and base_dim >= 1),
                                 ("fc_units", 0 not in fc_units)) if not ok}
    channels = 8 * base_dim if "base_dim" not in bad else 0
    builder = getattr(kerascnn, f"vgg{depth}")
    check(builder, kw, (vgg_side(shape[0]), vgg_side(shape[1])), channels, 1000, bad)


@SETTINGS
@given(shape=sides(31, 70), variant=mostly(["paper", "torchvision"], ["v3"]),
       aux_classifiers=mostly([False, True], ["no"]), **COMMON)
def test_googlenet(shape, variant, aux_classifiers, **common):
    kw = dict(input_shape=shape, variant=variant, aux_classifiers=aux_classifiers, **common)
    bad = {name for name, ok in (("variant", variant in ("paper", "torchvision")),
                                 ("aux_classifiers", aux_classifiers in (True, False))) if not ok}
    v = variant if variant in ("paper", "torchvision") else "paper"
    (h4, h), (w4, w) = googlenet_sides(shape[0], v), googlenet_sides(shape[1], v)
    if aux_classifiers is True:
        if min(h4, w4) < 5:          # the auxiliary heads' 5x5/3 average pool needs 5x5 after 4a
            bad.add("input_shape")
        if not head_units(kw, 1000):
            bad.add("aux_classifiers")  # auxiliary heads classify: they need the top
    check(kerascnn.googlenet, kw, (h, w), 1024, 1000, bad, outputs=3 if aux_classifiers is True else 1)


@pytest.mark.every_runtime
@settings(SETTINGS, max_examples=4 if runtime.BACKEND == "jax" else 8)
@given(shape=sides(1, 16), depth=st.sampled_from([18, 34, 50]), se=st.booleans(),
       stride_in=mostly(["v1", "v1.5"], ["v2"]), **COMMON)
def test_resnet(shape, depth, se, stride_in, **common):
    kw = dict(input_shape=shape, stride_in=stride_in, **common)
    bad = {"stride_in"} if stride_in not in ("v1", "v1.5") else set()
    builder = getattr(kerascnn, f"{'se_' if se else ''}resnet{depth}")
    channels = 512 if depth < 50 else 2048
    check(builder, kw, (resnet_side(shape[0]), resnet_side(shape[1])), channels, 1000, bad)


@pytest.mark.slow  # the deepest model: the same blocks as the sampled depths, more times
def test_resnet152_at_a_small_input():
    """The deepest family member once (hypothesis above samples 18/34/50): 20x36 -> 1x2 x 2048."""
    kw = dict(input_shape=(20, 36, 3), num_classes=None, include_top=False, pooling=None,
              task="classification", classifier_activation="auto")
    check(kerascnn.resnet152, kw, (resnet_side(20), resnet_side(36)), 2048, 1000)
    assert (resnet_side(20), resnet_side(36)) == (1, 2)   # ceil(20 / 32), ceil(36 / 32)
