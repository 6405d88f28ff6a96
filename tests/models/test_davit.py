"""Native DaViT against keras-cv-attention-models' (kecam) DaViT, built in a Keras 2 subprocess.

kecam runs only on Keras 2, so a subprocess with ``TF_USE_LEGACY_KERAS=1`` (once per module)
builds its DaViT_T with random weights (``pretrained=None``, every weight redrawn, LayerNorm
scales and biases included), saves them as kecam's ``.h5`` and records its outputs on a
fixed random batch at 224x224 (1000-class logits), at 160x256 and 32x32 (the feature maps), its
layer list at 280x280 and 160x256, its parameter counts (T, S, B, with and without the
head) and the MACs kerascnn.analysis counts on it. The native model loads that file by layer
name, in the runtime of the test run, and must give the same numbers.

Tolerance: the two runtimes compute the same float32 operations in other kernels and orders
(LayerNorm moments, matmul blocking, oneDNN vs Eigen), so outputs agree to rounding, not
bit for bit: ``rtol=1e-4`` with an absolute floor of 1e-4 of the largest output.
"""

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import kerascnn
from kerascnn import saving
from kerascnn.runtime import keras
from tests.models.zoo_helpers import fill_random, infer, shared_folder, zero_init

every_runtime = pytest.mark.every_runtime
# the tests that compare with kecam's model need its Keras 2 subprocess (tens of seconds): full tier
kecam_reference = pytest.mark.full
SQUARE, OBLONG, DOCS = (224, 224, 3), (160, 256, 3), (280, 280, 3)
VARIANTS = {"t": "DaViT_T", "s": "DaViT_S", "b": "DaViT_B"}

KECAM_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from keras_cv_attention_models import davit
    from kerascnn import analysis

    out = sys.argv[1]
    rng = np.random.default_rng(0)

    def redraw(model):
        for weight in model.weights:
            shape = tuple(weight.shape)
            if len(shape) > 1:
                value = rng.uniform(-1, 1, shape) * np.sqrt(3.0 / np.prod(shape[:-1]))
            elif "gamma" in weight.name:
                value = rng.uniform(0.5, 1.5, shape)
            else:
                value = rng.normal(0, 0.1, shape)
            weight.assign(value.astype("float32"))

    def structure(model):
        return [[len(layer.weights), layer.name if layer.weights else ""] for layer in model.layers]

    facts = {"params": {}, "structure": {}, "macs": {}}
    square = davit.DaViT_T(input_shape=(224, 224, 3), pretrained=None, classifier_activation=None)
    redraw(square)
    square.save_weights(out + "/davit_t.h5")
    batch = rng.normal(size=(2, 224, 224, 3)).astype("float32")
    oblong_batch = rng.normal(size=(2, 160, 256, 3)).astype("float32")
    logits = square(batch, training=False).numpy()
    facts["macs"]["224x224"] = analysis.macs(square).total
    del square
    oblong = davit.DaViT_T(input_shape=(160, 256, 3), num_classes=0, pretrained=None)
    oblong.load_weights(out + "/davit_t.h5", by_name=True, skip_mismatch=True)
    features = oblong(oblong_batch, training=False).numpy()
    facts["structure"]["160x256"] = structure(oblong)
    facts["macs"]["160x256"] = analysis.macs(oblong).total
    del oblong
    tiny = davit.DaViT_T(input_shape=(32, 32, 3), num_classes=0, pretrained=None)
    tiny.load_weights(out + "/davit_t.h5", by_name=True, skip_mismatch=True)
    tiny_batch = rng.normal(size=(2, 32, 32, 3)).astype("float32")
    tiny_features = tiny(tiny_batch, training=False).numpy()
    del tiny
    facts["structure"]["280x280"] = structure(davit.DaViT_T(input_shape=(280, 280, 3), num_classes=0,
                                                              pretrained=None))
    for function in ("DaViT_T", "DaViT_S", "DaViT_B"):
        model = getattr(davit, function)(input_shape=(64, 64, 3), pretrained=None)
        head = model.get_layer("predictions").count_params()
        facts["params"][function] = [model.count_params(), model.count_params() - head]
        del model
    np.savez(out + "/outputs.npz", batch=batch, logits=logits, oblong_batch=oblong_batch, features=features,
             tiny_batch=tiny_batch, tiny_features=tiny_features)
    with open(out + "/facts.json", "w") as handle:
        json.dump(facts, handle)
""")


@pytest.fixture(scope="module")
def kecam(tmp_path_factory):
    """kecam's DaViT in Keras 2: its weights file, outputs and facts (one subprocess per test run).

    Under ``tests/run_all.sh`` the three runtimes share one result (``KERASCNN_TEST_CACHE``,
    :func:`tests.models.zoo_helpers.shared_folder`): the first to get there runs the subprocess.
    """
    def make(folder):
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "PYTHONPATH": root, "TF_CPP_MIN_LOG_LEVEL": "2"}
        env.pop("KERAS_BACKEND", None)
        done = subprocess.run([sys.executable, "-c", KECAM_SCRIPT, str(folder)], env=env, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]

    folder = shared_folder("kecam_davit", make, tmp_path_factory)
    with open(folder / "facts.json") as handle:
        facts = json.load(handle)
    return {"h5": str(folder / "davit_t.h5"), "facts": facts, **dict(np.load(folder / "outputs.npz"))}


@pytest.fixture(scope="module")
def square(kecam):
    return kerascnn.davit_t(input_shape=SQUARE, classifier_activation=None, weights=kecam["h5"], compile=False)


@pytest.fixture(scope="module")
def oblong(kecam):
    return kerascnn.davit_t(input_shape=OBLONG, num_classes=0, weights=kecam["h5"], compile=False)


def _assert_close(actual, expected):
    actual = np.asarray(actual)
    assert actual.shape == expected.shape
    assert np.abs(expected).max() > 1.0  # not a degenerate all-zero comparison
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def _structure(model):
    return [[len(layer.weights), layer.name if layer.weights else ""] for layer in model.layers]


@kecam_reference
@every_runtime
def test_kecam_weights_give_kecams_logits_at_224(square, kecam):
    _assert_close(infer(square, kecam["batch"]), kecam["logits"])


@kecam_reference
@every_runtime
def test_kecam_weights_give_kecams_features_at_160x256(oblong, kecam):
    assert oblong.output_shape == (None, 5, 8, 768)
    _assert_close(infer(oblong, kecam["oblong_batch"]), kecam["features"])
    assert _structure(oblong) == kecam["facts"]["structure"]["160x256"]


@kecam_reference
@every_runtime
def test_one_token_windows_at_32_are_kecams_and_quiet(kecam):
    """At 32x32 every window holds one position, whose attention weight is exactly 1: kecam's
    softmax, our constant (Keras 3 warns about a softmax over one value on every call)."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = kerascnn.davit_t(input_shape=(32, 32, 3), num_classes=0, weights=kecam["h5"], compile=False)
        features = infer(model, kecam["tiny_batch"])
    assert not [str(w.message) for w in caught if "softmax" in str(w.message)]
    _assert_close(features, kecam["tiny_features"])


@kecam_reference
@every_runtime
def test_layer_list_is_kecams_at_280(kecam):
    """Same layers in the same order: ``layers[:80]`` is the same slice of the network as in kecam."""
    with zero_init():
        model = kerascnn.davit_t(input_shape=DOCS, num_classes=0, compile=False)
    assert _structure(model) == kecam["facts"]["structure"]["280x280"]
    assert len(model.layers) == 394 and model.count_params() == 27_591_168  # docs/references.md
    assert sum(len(layer.weights) for layer in model.layers[:80]) == 44    # 212 - 168 in the docs
    kinds = {type(layer).__name__ for layer in model.layers}
    assert "Lambda" not in kinds and "TFOpLambda" not in kinds


@kecam_reference
@every_runtime
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_parameters_equal_kecams(variant, kecam):
    with_head, without_head = kecam["facts"]["params"][VARIANTS[variant]]
    with zero_init():
        model = kerascnn.build(f"davit_{variant}", input_shape=(64, 64, 3), compile=False)
    assert model.count_params() == with_head == kerascnn.model_card(f"davit_{variant}").params
    assert model.count_params() - model.get_layer("predictions").count_params() == without_head
    assert model.non_trainable_weights == []


@kecam_reference
@every_runtime
def test_macs_count_attention_like_kecams(square, oblong, kecam):
    from kerascnn import analysis

    for model, size in ((square, "224x224"), (oblong, "160x256")):
        cost = analysis.macs(model)
        assert cost.unknown == []
        assert cost.total == pytest.approx(kecam["facts"]["macs"][size], rel=0.005)
        attention = sum(c.count for c in cost.layers if c.class_name == "MatMul")
        assert attention > 0.02 * cost.total  # the window and channel attention products are in
    # kecam's README: 4.56 G for DaViT_T at 224
    assert analysis.macs(square).giga == pytest.approx(4.56, rel=0.015)


@every_runtime
def test_saved_model_loads_with_safe_mode(tmp_path):
    with zero_init():
        model = fill_random(kerascnn.davit_t(input_shape=(64, 64, 3), num_classes=3))
    path = str(tmp_path / "davit.keras")
    model.save(path)
    with zero_init():
        loaded = saving.load_model(path, safe_mode=True, compile=False)  # keras.models.load_model's path (test_saving)
    x = np.random.default_rng(1).normal(size=(1, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(infer(loaded, x), infer(model, x), rtol=1e-5, atol=1e-6)
    assert {"BatchReshape", "Split", "MatMul"} <= {type(layer).__name__ for layer in loaded.layers}


def test_imagenet_table_is_kecams():
    from kerascnn.transfer import catalogue

    for variant, function in VARIANTS.items():
        entry = catalogue.kecam_catalogue()[function]
        record = kerascnn.model_card(f"davit_{variant}").weights_record("imagenet")
        assert record.file_hash == entry.pretrained["imagenet"]
        assert record.url == f"{catalogue.KECAM_RELEASES}/{entry.sub_release}/{record.file_name}"
        assert record.preprocessing == entry.rescale_mode


def _with_record_hash(monkeypatch, name, file_hash):
    """The card of ``name`` with its ImageNet record's hash replaced (a test file stands in for the release)."""
    from kerascnn import registry

    card = registry.model_card(name)
    record = dataclasses.replace(card.weights_record("imagenet"), file_hash=file_hash)
    monkeypatch.setitem(registry._CARDS, name, dataclasses.replace(card, weights=(record,)))


@kecam_reference
@every_runtime
def test_imagenet_download_from_a_file_mirror(kecam, square, tmp_path, monkeypatch):
    from kerascnn.weights import CACHE_VARIABLE, MIRROR_VARIABLE, WeightsError, hash_file

    mirror, cache = tmp_path / "mirror", tmp_path / "cache"
    mirror.mkdir()
    os.link(kecam["h5"], mirror / "davit_t_imagenet.h5")
    monkeypatch.setenv(CACHE_VARIABLE, str(cache))
    monkeypatch.setenv(MIRROR_VARIABLE, str(mirror))
    with pytest.raises(WeightsError, match="corrupt or not the expected one"):  # kecam's md5, not this file
        kerascnn.davit_t(input_shape=SQUARE, weights="imagenet")
    assert not (cache / "davit_t_imagenet.h5").exists()
    _with_record_hash(monkeypatch, "davit_t", hash_file(kecam["h5"]))
    monkeypatch.setenv(MIRROR_VARIABLE, "file://" + str(mirror))
    model = kerascnn.davit_t(input_shape=SQUARE, weights="imagenet", classifier_activation=None, compile=False)
    assert (cache / "davit_t_imagenet.h5").is_file()
    for a, b in zip(model.get_weights(), square.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_imagenet_offline_raises_and_names_the_file(tmp_path, monkeypatch):
    from kerascnn.weights import CACHE_VARIABLE, MIRROR_VARIABLE, WeightsError

    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path))
    monkeypatch.delenv(MIRROR_VARIABLE, raising=False)
    with pytest.raises(WeightsError) as error:
        kerascnn.davit_t(num_classes=0, weights="imagenet")
    assert "davit_t_imagenet.h5" in str(error.value) and "random weights" in str(error.value)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="the top has 1000 classes"):
        kerascnn.davit_t(num_classes=10, weights="imagenet")
    with pytest.raises(ValueError, match="too small"):
        kerascnn.davit_t(input_shape=(16, 16, 3))
    with pytest.raises(TypeError, match="weights"):
        kerascnn.davit_t(weights=3)


@pytest.mark.slow  # writes DaViT-B's 350 MB of weights
def test_a_wider_variants_weights_file_is_refused(tmp_path):
    path = str(tmp_path / "davit_b.weights.h5")
    with zero_init():
        kerascnn.davit_b(input_shape=(64, 64, 3), compile=False).save_weights(path)
    with pytest.raises(ValueError, match="davit_t"), zero_init():  # B is wider than T: its file does not fit
        kerascnn.davit_t(input_shape=(64, 64, 3), weights=path)


def test_surgery_refuses_with_the_reason():
    from kerascnn.surgery import add_se, fold_batchnorm

    with zero_init():
        model = kerascnn.davit_t(input_shape=(64, 64, 3), num_classes=10, compile=False)
    # LayerNorm, no BatchNorm; the residuals around attention and MLP end in Dense layers
    with pytest.raises(ValueError, match="no BatchNormalization layer"):
        fold_batchnorm(model)
    with pytest.raises(ValueError, match="no residual addition.*'stack1_block1_1_output'"):
        add_se(model)
