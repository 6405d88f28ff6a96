"""kerascnn.deploy.export: every format loaded back by its own runtime computes the Keras model's outputs.

The model is a ResNet-18 for 32x32 grey images with random BatchNorm statistics, exported
after :func:`kerascnn.deploy.optimize` folded its BatchNorms (float32), so each round trip
checks the folding too. The batch is 16 real test images of the embedded digits. Tolerance:
probabilities within 1e-6 of the Keras model's (float32 arithmetic in another order: the
runtimes fuse and reorder operations; measured 7e-8 to 1.7e-7, printed with -s).
"""

import importlib.util
import os
import warnings

import numpy as np
import pytest

import kerascnn
from kerascnn.data import load_data, prepare_images
from kerascnn.deploy import export, optimize
from kerascnn.deploy.exporter import FORMATS, MissingConverterError, require_converter, unsupported
from kerascnn.runtime import BACKEND, RuntimeMismatchError, keras
from kerascnn.surgery import randomize_batchnorm

pytestmark = pytest.mark.every_runtime
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def case():
    model = kerascnn.build("resnet18", input_shape=(32, 32, 1), num_classes=10, compile=False)
    randomize_batchnorm(model, seed=5)
    data = load_data("digits", (32, 32, 1), validation_split=0.0)
    images = np.asarray(prepare_images(data.test.x[:16], (32, 32, 1), data.scale))
    folded = optimize(model, precision="float32")
    return model, folded, images, model.predict(images, verbose=0)


def run_savedmodel(path, images):
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    function = loaded.serve if hasattr(loaded, "serve") else loaded.signatures["serving_default"]
    outputs = function(tf.constant(images))
    return np.asarray(outputs if not isinstance(outputs, dict) else next(iter(outputs.values())))


def run_onnx(path, images):
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: images})[0]


def run_litert(path, images):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, images)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def run_keras(path, images):
    return keras.models.load_model(path).predict(images, verbose=0)


RUNNERS = {"keras": run_keras, "savedmodel": run_savedmodel, "onnx": run_onnx, "litert": run_litert}
ONNX_ON_JAX = BACKEND == "jax"  # jax2onnx is not in the extra (see kerascnn.deploy.exporter)


#: The converters' round trips (11-13 s each) run in the full tier; .keras and SavedModel stay in the fast one.
CONVERTED = {"onnx", "litert"}


@pytest.mark.parametrize("format", [pytest.param(name, marks=(pytest.mark.slow,) if name in CONVERTED else ())
                                    for name in FORMATS])
def test_round_trip_in_its_own_runtime(case, tmp_path, format):
    model, folded, images, expected = case
    path = os.path.join(tmp_path, "out", "model" + (FORMATS[format] or "_saved"))
    if unsupported(format):  # LiteRT on JAX: Keras cannot write it there
        with pytest.raises(RuntimeMismatchError, match="KERAS_BACKEND=tensorflow"):
            export(folded, path, format)
        assert not os.path.exists(path)
        return
    if format == "onnx" and ONNX_ON_JAX and importlib.util.find_spec("jax2onnx") is None:
        with pytest.raises(MissingConverterError, match="pip install jax2onnx"):
            export(folded, path, format)
        return
    assert export(folded, path, format) == path
    assert sorted(os.listdir(os.path.dirname(path))) == [os.path.basename(path)]  # no temporary left
    got = RUNNERS[format](path, images)
    difference = float(np.abs(got - expected).max())
    print(f"{format}: max |exported - keras| = {difference:.2e}")
    assert got.shape == expected.shape and difference < TOLERANCE
    assert np.array_equal(got.argmax(1), expected.argmax(1))


def test_export_replaces_an_existing_savedmodel_folder(case, tmp_path):
    _, folded, images, expected = case
    path = str(tmp_path / "saved")
    os.makedirs(path)
    with open(os.path.join(path, "stale.txt"), "w", encoding="utf-8") as handle:
        handle.write("old")
    export(folded, path, "savedmodel")
    assert "stale.txt" not in os.listdir(path) and os.listdir(tmp_path) == ["saved"]
    np.testing.assert_allclose(run_savedmodel(path, images), expected, atol=TOLERANCE)


def test_a_failed_export_leaves_nothing(tmp_path, monkeypatch):
    import kerascnn.deploy.exporter as module

    def broken(model, target, format):
        with open(target, "w", encoding="utf-8") as handle:
            handle.write("half")
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(module, "_write", broken)
    with pytest.raises(RuntimeError, match="converter crashed"):
        export(kerascnn.lenet5(), tmp_path / "lenet.onnx" if not ONNX_ON_JAX else tmp_path / "lenet.keras",
               "onnx" if not ONNX_ON_JAX else "keras")
    assert os.listdir(tmp_path) == []


@pytest.mark.keras3_only
@pytest.mark.tensorflow_only
def test_onnx_export_prints_no_numpy_warning(tmp_path, monkeypatch):
    """Keras' tf2onnx patch asks NumPy for ``np.object`` once per process, and NumPy 2 warns."""
    from keras.src.export.tf2onnx_lib import patch_tf2onnx

    if "object" in vars(np):  # as in a fresh process: the patch sets it (vars: hasattr would warn)
        monkeypatch.delattr(np, "object")
    patch_tf2onnx.cache_clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export(kerascnn.lenet5(), tmp_path / "lenet.onnx", "onnx")
    assert not [str(w.message) for w in caught if "np.object" in str(w.message)]
    assert (tmp_path / "lenet.onnx").stat().st_size > 0


def test_bad_format_and_suffix(tmp_path):
    model = kerascnn.lenet5()
    with pytest.raises(ValueError, match="format.*'tflite'"):
        export(model, tmp_path / "m.tflite", "tflite")
    with pytest.raises(ValueError, match=r"must end with '\.tflite' for format='litert'"):
        export(model, tmp_path / "m.lite", "litert")


def test_missing_converter_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("tf2onnx", "jax2onnx") else real(name, *a))
    with pytest.raises(MissingConverterError, match=r"jax2onnx" if ONNX_ON_JAX else r"kerascnn\[export\]"):
        require_converter("onnx")


@pytest.mark.tensorflow_only  # tf2onnx's path (Keras 3 and Keras 2); the JAX backend converts with jax2onnx
def test_onnx_export_of_the_exact_gelu(tmp_path):
    """TensorFlow's exact GELU (DaViT's and ConvNeXt's MLPs) computes erfc, which tf2onnx 1.17 could not
    convert: it wrote the node as is and onnxruntime refused the file ("No Op registered for Erfc")."""
    inputs = keras.Input((6,))
    outputs = keras.layers.Dense(4, activation="gelu", name="mlp")(inputs)
    model = keras.Model(inputs, outputs)
    x = np.linspace(-4, 4, 24, dtype="float32").reshape(4, 6)
    path = export(model, tmp_path / "gelu.onnx", "onnx")
    np.testing.assert_allclose(run_onnx(path, x), np.asarray(model(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.keras3_only
@pytest.mark.tensorflow_only
def test_an_onnx_file_onnx_rejects_is_not_written(tmp_path, monkeypatch):
    import onnx
    from onnx import TensorProto, helper

    import kerascnn.deploy.exporter as module

    def unknown_operator(model, target, format):
        tensor = helper.make_tensor_value_info
        node = helper.make_node("Erfc", ["x"], ["y"])
        graph = helper.make_graph([node], "g", [tensor("x", TensorProto.FLOAT, [1])], [tensor("y", TensorProto.FLOAT, [1])])
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)]), target)

    monkeypatch.setattr(module, "_write", unknown_operator)
    with pytest.raises(ValueError, match="ONNX rejects.*Erfc.*nothing was written"):
        export(kerascnn.lenet5(), tmp_path / "lenet.onnx", "onnx")
    assert os.listdir(tmp_path) == []


@pytest.mark.tensorflow_only  # tf2onnx's path (Keras 3 and Keras 2)
def test_onnx_export_of_a_transfer_models_preprocessing(tmp_path):
    """The per-channel ImageNet statistics inside a transfer model (DaViT's, DenseNet's) were a
    Normalization layer, whose constants tf2onnx made two more inputs of the ONNX model."""
    from kerascnn.transfer.preprocessing import preprocessing

    inputs = keras.Input((8, 8, 3), name="image")
    x = preprocessing("torch").apply(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="conv")(x))
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    path = export(model, tmp_path / "pre.onnx", "onnx")
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert [tensor.name for tensor in session.get_inputs()] == ["image"]
    np.testing.assert_allclose(session.run(None, {"image": pixels})[0], np.asarray(model(pixels)), rtol=1e-5, atol=1e-5)
