"""Writing a model for another runtime: ``.keras``, TensorFlow SavedModel, ONNX, LiteRT.

Built on Keras' own ``model.export`` (Keras 3) and the converters it calls: TensorFlow's
SavedModel writer, ``tf2onnx`` (``jax2onnx`` on the JAX backend) and TensorFlow's
LiteRT (TFLite) converter. Keras 2 (tf-keras) has ``model.export`` for SavedModel only;
there ONNX goes through ``tf2onnx.convert.from_function`` and LiteRT through
``tf.lite.TFLiteConverter.from_keras_model``, the calls Keras 3 makes underneath.

Every format is written under a temporary name next to ``path`` and renamed into place
at the end, so a failed or interrupted export never leaves a half-written model at ``path``.

=============  ===========  ======================================  ==================================
format         ``path``     loaded back by                          needs
=============  ===========  ======================================  ==================================
``keras``      ``*.keras``  ``keras.models.load_model``             nothing more
``savedmodel`` a folder     ``tf.saved_model.load`` (TF Serving)    nothing more (TensorFlow)
``onnx``       ``*.onnx``   ``onnxruntime.InferenceSession``        ``pip install 'kerascnn[export]'``
``litert``     ``*.tflite`` ``ai_edge_litert.interpreter``          the TensorFlow backend
=============  ===========  ======================================  ==================================
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import shutil
import tempfile
import warnings

import numpy as np

from kerascnn._keras_internals import was_called
from kerascnn.errors import check_choice
from kerascnn.runtime import BACKEND, IS_KERAS3, RuntimeMismatchError, describe, keras

#: Export formats and the file suffix each needs ("" = a folder).
FORMATS = {"keras": ".keras", "savedmodel": "", "onnx": ".onnx", "litert": ".tflite"}
#: The optional dependencies that hold the converters: ``pip install 'kerascnn[export]'``.
EXTRA = "export"


class MissingConverterError(ImportError):
    """The converter a format needs is not installed; the message says what to install."""


def _converters(format: str) -> list[str]:
    if format == "onnx":
        return ["jax2onnx", "onnx"] if BACKEND == "jax" else ["tf2onnx", "onnx"]
    return []


def unsupported(format: str) -> str | None:
    """Why this runtime cannot write ``format`` (None when it can).

    Examples:
        >>> from kerascnn.deploy.exporter import unsupported
        >>> unsupported("keras") is None
        True
    """
    if format == "litert" and BACKEND == "jax":
        return ("Keras exports LiteRT from the TensorFlow backend only (model.export: 'LiteRT export requires "
                "TensorFlow or PyTorch backend'); save the model as .keras, then export it with "
                "KERAS_BACKEND=tensorflow")
    return None


def require_converter(format: str) -> None:
    """Raise :class:`MissingConverterError` naming the extra to install when ``format``'s converter is absent.

    Examples:
        >>> from kerascnn.deploy.exporter import require_converter
        >>> require_converter("keras")
    """
    missing = [name for name in _converters(format) if importlib.util.find_spec(name) is None]
    if not missing:
        return
    how = f"pip install 'kerascnn[{EXTRA}]'"
    if "jax2onnx" in missing:  # not in the extra: it brings flax, optax and orbax with it
        how = "pip install jax2onnx (the JAX backend's ONNX converter), or export from the TensorFlow backend"
    raise MissingConverterError(f"exporting to {format} needs {', '.join(missing)}, which is not installed: {how}.")


def taking_pixels(model, scale: float):
    """``model`` behind a ``Rescaling(scale)`` layer: a model that takes pixels (0-255) where
    ``model`` takes them times ``scale`` (a ``kerascnn train`` model: 1/255, so [0, 1]).

    ``kerascnn export`` writes this, so that every exported run takes what an image file
    holds, as fine-tuned models already do (their preprocessing is inside them). The input is
    named ``pixels``.

    Examples:
        >>> import numpy as np, kerascnn
        >>> from kerascnn.deploy.exporter import taking_pixels
        >>> net = kerascnn.lenet5(compile=False)
        >>> x = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 1)).astype("float32")
        >>> bool(np.allclose(taking_pixels(net, 1 / 255)(x), net(x / 255), atol=1e-6))
        True
    """
    inputs = keras.Input(model.input_shape[1:], name="pixels")
    scaled = keras.layers.Rescaling(scale, name="pixel_scaling")(inputs)
    return keras.Model(inputs, model(scaled), name=model.name)


def default_path(folder: str, format: str, stem: str = "model") -> str:
    """Where ``kerascnn export`` writes ``format`` in ``folder`` by default, e.g. ``model.onnx``.

    Examples:
        >>> from kerascnn.deploy.exporter import default_path
        >>> default_path("runs/x", "savedmodel"), default_path("runs/x", "litert")
        ('runs/x/model_savedmodel', 'runs/x/model.tflite')
    """
    suffix = FORMATS[format]
    return os.path.join(folder, f"{stem}{suffix}" if suffix else f"{stem}_{format}")


def _check_path(path, format: str) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file or folder name, got {type(path).__name__}.")
    path = os.fspath(path)
    suffix = FORMATS[format]
    if suffix and not path.endswith(suffix):
        raise ValueError(f"path {path!r} must end with {suffix!r} for format={format!r}.")
    if not suffix and os.path.isfile(path):
        raise ValueError(f"path {path!r} is a file; a SavedModel is a folder: give a folder name.")
    return path


def _write(model, target: str, format: str) -> None:
    if format == "keras":
        model.save(target)
    elif format == "savedmodel":
        if IS_KERAS3:
            model.export(target, format="tf_saved_model", verbose=False)
        else:
            with contextlib.redirect_stdout(io.StringIO()):  # tf-keras prints every captured variable
                model.export(target)
    elif IS_KERAS3:
        if not was_called(model):  # Keras' ONNX export refuses a model never called
            model([np.zeros((1, *tensor.shape[1:]), tensor.dtype) for tensor in model.inputs]
                  if len(model.inputs) > 1 else np.zeros((1, *model.inputs[0].shape[1:]), model.inputs[0].dtype))
        with warnings.catch_warnings():
            # Keras' tf2onnx patch (keras/src/export/tf2onnx_lib.py, 3.x) tests hasattr(np, "object"),
            # which NumPy 2 answers with a FutureWarning on the first ONNX export of each process
            warnings.filterwarnings("ignore", message=r"In the future `np\.object`", category=FutureWarning)
            model.export(target, format=format, verbose=False)
    elif format == "onnx":
        _onnx_keras2(model, target)
    else:
        import tensorflow as tf  # noqa: PLC0415 - Keras 2 runs on TensorFlow

        with open(target, "wb") as handle:
            handle.write(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def _teach_tf2onnx_erfc() -> None:
    """Give tf2onnx a conversion for TensorFlow's ``Erfc``: ``1 - Erf``.

    TensorFlow computes the exact GELU (``tf.nn.gelu(approximate=False)``, Keras' ``"gelu"``:
    DaViT's and ConvNeXt's MLPs) as ``0.5 * x * erfc(-x / sqrt(2))``. tf2onnx 1.17 has no
    handler for ``Erfc``: it writes the node into the ONNX graph anyway, and onnxruntime
    refuses the file ("No Op registered for Erfc"). Registered once per process, and only
    while tf2onnx has no handler of its own (a later version may add one).
    """
    import tf2onnx.tfonnx  # noqa: F401,PLC0415 - registers tf2onnx's own handlers first
    from tf2onnx import utils  # noqa: PLC0415
    from tf2onnx.handler import tf_op  # noqa: PLC0415

    if any("Erfc" in handlers for opsets in tf_op.get_opsets().values() for handlers in opsets):
        return

    @tf_op("Erfc")
    class Erfc:  # noqa: F841 - registered by the decorator
        @classmethod
        def version_9(cls, ctx, node, **kwargs):  # ONNX has Erf from opset 9
            node.type = "Erf"
            dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.output[0]))
            one = ctx.make_const(utils.make_name(node.name + "_one"), np.array(1.0, dtype))
            ctx.insert_new_node_on_output("Sub", node.output[0], name=utils.make_name(node.name + "_erfc"),
                                          inputs=[one.output[0], node.output[0]])


def _check_onnx(target: str) -> None:
    """Refuse an ONNX file that ONNX's checker rejects (an operator tf2onnx could not convert
    is written as is): the export fails, naming the operators, instead of leaving a file
    that no runtime loads."""
    import onnx  # noqa: PLC0415 - checked by require_converter

    graph = onnx.load(target)
    try:
        onnx.checker.check_model(graph, full_check=True)
    except onnx.checker.ValidationError as error:
        reason = " ".join(str(error).split())[:300]
        raise ValueError(f"the ONNX converter wrote a model that ONNX rejects ({reason}); nothing was written. "
                         "Export as savedmodel or keras instead.") from None


def _onnx_keras2(model, target: str) -> None:
    import tensorflow as tf  # noqa: PLC0415
    import tf2onnx  # noqa: PLC0415 - checked by require_converter

    signature = [tf.TensorSpec((None, *tensor.shape[1:]), tensor.dtype, name=tensor.name.split(":")[0])
                 for tensor in model.inputs]
    function = tf.function(lambda *inputs: model(list(inputs) if len(inputs) > 1 else inputs[0], training=False))
    tf2onnx.convert.from_function(function, input_signature=signature, output_path=target)


def export(model, path, format: str = "keras") -> str:
    """Write ``model`` to ``path`` in ``format`` (``keras``, ``savedmodel``, ``onnx``, ``litert``); return ``path``.

    The batch size of the exported model stays open (any batch runs). Written atomically:
    a temporary name in the same folder, renamed to ``path`` at the end (an existing
    ``path`` is replaced). To export the fast inference form, pass
    ``kerascnn.deploy.optimize(model, precision="float32")`` (folded BatchNorm; keep float32
    for a machine whose precision you do not know: ONNX Runtime and LiteRT run bfloat16
    convolutions poorly or not at all).

    Raises:
        ValueError: unknown format, or ``path`` without the format's suffix.
        MissingConverterError: the converter is not installed (the message names the extra).
        RuntimeMismatchError: the runtime cannot write the format (LiteRT on the JAX backend).

    Examples:
        >>> import os, tempfile
        >>> import kerascnn
        >>> from kerascnn.deploy import export
        >>> folder = tempfile.mkdtemp()
        >>> path = export(kerascnn.lenet5(), os.path.join(folder, "lenet.keras"), "keras")
        >>> sorted(os.listdir(folder))
        ['lenet.keras']
    """
    check_choice("format", format, tuple(FORMATS))
    path = _check_path(path, format)
    reason = unsupported(format)
    if reason:
        raise RuntimeMismatchError(f"cannot export to {format} on {describe()}: {reason}.")
    require_converter(format)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp", dir=parent)
    try:
        target = os.path.join(scratch, os.path.basename(path))
        if format == "onnx" and BACKEND == "tensorflow":  # tf2onnx converts (Keras 3 and Keras 2)
            _teach_tf2onnx_erfc()
        _write(model, target, format)
        if format == "onnx":
            _check_onnx(target)
        if os.path.isdir(path) and not os.path.islink(path):
            os.replace(path, os.path.join(scratch, "previous"))  # a folder cannot be replaced by rename
        os.replace(target, path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return path
