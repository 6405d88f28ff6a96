"""One call for the fastest inference model on this machine: fold BatchNorm, then compute in bf16/fp16.

The order matters (measured on an AMX CPU, ResNet-50 at batch 16, docs/benchmarks.md):
folding alone gave 1.28x, ``mixed_bfloat16`` alone 1.30x, the folded model under
``mixed_bfloat16`` 4.79x keras.applications' fp32 model, since the BatchNorms left in a
bf16 graph are computed in float32 between casts.
"""

from __future__ import annotations

import dataclasses

from kerascnn.analysis.macs import macs
from kerascnn.deploy.hardware import Hardware, detect, resolve
from kerascnn.runtime import IS_KERAS3, keras
from kerascnn.surgery.fold import fold_batchnorm
from kerascnn.surgery.rewrite import Edit, Graph, check_model, network_of, rewrite

#: Keras' mixed dtype policy for each lower precision (variables stay float32).
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


@dataclasses.dataclass
class DeployInfo:
    """What :func:`optimize` did and why (``model.deploy_info``)."""

    precision: str
    reason: str
    policy: str
    hardware: str
    folded: list = dataclasses.field(default_factory=list)
    fold_note: str = ""

    def describe(self) -> str:
        """One line for users, e.g. ``bfloat16 (the CPU has amx_bf16: ...); 53 BatchNorms folded``."""
        fold = f"{len(self.folded)} BatchNorm folded" if self.folded else f"no BatchNorm folded ({self.fold_note})"
        return f"{self.precision} ({self.reason}); {fold}"

    def as_dict(self) -> dict:
        """The record as plain data (for JSON)."""
        return dataclasses.asdict(self)


class ComputeIn(Edit):
    """Copy every layer under the dtype policy ``policy``, except those producing a model's outputs.

    The layers that produce outputs keep float32, so the returned probabilities are float32
    (a final softmax in bfloat16 would round them to 3 significant digits).
    """

    def __init__(self, policy: str):
        self.policy = policy

    def call(self, rewriter, graph: Graph, call, args, kwargs):
        layer = call.layer
        if network_of(layer) is not None:
            return rewriter.call_nested(call, args, kwargs)
        if IS_KERAS3 and not isinstance(layer, keras.layers.Layer):
            return layer(*args, **kwargs)  # a stateless keras.ops operation: it follows its inputs
        final = any(graph.is_output(tensor) for tensor in call.outputs)
        copy = rewriter.copy_layer(layer, dtype="float32" if final else self.policy)
        return rewriter.call_layer(copy, call, args, kwargs)


def _has_batchnorm(model) -> bool:
    for layer in model.layers:
        if "BatchNormalization" in type(layer).__name__ or (hasattr(layer, "layers") and _has_batchnorm(layer)):
            return True
    return False


def optimize(model, precision: str = "auto", fold: bool = True, hardware: Hardware | None = None):
    """A new inference model computing as fast as this machine allows; ``model`` is left unchanged.

    Folds each BatchNorm after a convolution into it (:func:`kerascnn.surgery.fold_batchnorm`,
    when ``fold``), then rebuilds the model under Keras' mixed dtype policy for ``precision``:
    ``"auto"`` picks it from the hardware (:func:`kerascnn.deploy.hardware.choose_precision`:
    bfloat16 on CPUs with AMX or AVX-512 BF16 and on GPUs of compute capability >= 8.0, float16
    on older tensor-core GPUs, float32 elsewhere and for models under
    :data:`~kerascnn.deploy.hardware.MIN_GMACS` per image); ``"float32"``, ``"bfloat16"`` and ``"float16"``
    force one. Weights stay float32; the layers producing the outputs compute in float32, so
    outputs are float32. The result has ``deploy_info`` (a :class:`DeployInfo`: the precision,
    why, the BatchNorms folded). It is for inference only: do not train it.

    Works in Keras 3 (TensorFlow and JAX backends) and Keras 2 (tf-keras, same dtype policies).

    Examples:
        >>> import numpy as np
        >>> import kerascnn
        >>> from kerascnn.deploy import optimize
        >>> fast = optimize(kerascnn.lenet5(), precision="bfloat16")
        >>> fast.deploy_info.precision, fast.deploy_info.reason
        ('bfloat16', 'asked for')
        >>> fast.predict(np.zeros((1, 32, 32, 1), "float32"), verbose=0).dtype
        dtype('float32')
    """
    check_model(model)
    gmacs = macs(model, warn=False).total / 1e9 if precision == "auto" else None
    choice = resolve(precision, hardware, gmacs)
    info = DeployInfo(choice.precision, choice.reason, POLICIES[choice.precision],
                      (hardware or detect()).describe())
    new = model
    if not fold:
        info.fold_note = "fold=False"
    elif not _has_batchnorm(model):
        info.fold_note = "the model has no BatchNormalization"
    else:
        try:
            new, report = fold_batchnorm(model, report=True)
            info.folded = report["folded"]
        except ValueError as error:
            if not str(error).startswith("fold_batchnorm:"):
                raise
            info.fold_note = str(error).split(": ", 1)[1]
    if choice.precision != "float32":
        new = rewrite(new, ComputeIn(info.policy))
    elif new is model:
        new = rewrite(model, Edit())  # a copy, so the caller's model stays as it was
    new.deploy_info = info
    return new


def for_evaluation(model, precision: str = "auto", enabled: bool = True):
    """:func:`optimize` ``model`` and compile it with the original's loss and accuracy (for ``evaluate``).

    ``enabled=False`` returns ``model`` itself (the commands' ``--no-optimize``). The
    optimized model carries ``deploy_info``; a loaded, compiled model keeps its loss.

    Examples:
        >>> import kerascnn
        >>> from kerascnn.deploy.precision import for_evaluation
        >>> fast = for_evaluation(kerascnn.lenet5(), precision="float32")
        >>> fast.deploy_info.precision, fast.compiled_loss is not None
        ('float32', True)
    """
    if not enabled:
        return model
    fast = optimize(model, precision=precision)
    loss = getattr(model, "loss", None)
    if loss is not None:
        fast.compile(loss=loss, metrics=["accuracy"])
    return fast


def training_precision(model_name: str, input_shape=None, hardware: Hardware | None = None) -> Choice:
    """The ``--mixed-precision auto`` decision for training registered model ``model_name`` at ``input_shape``.

    The rule of :func:`optimize`, with the model's published cost (its card's ``gmacs``)
    scaled to the input's area. Returns a :class:`~kerascnn.deploy.hardware.Choice`; its
    ``precision`` is ``"float32"`` (no mixed precision), ``"bfloat16"`` or ``"float16"``.

    Examples:
        >>> from kerascnn.deploy import Hardware, training_precision
        >>> xeon = Hardware("cpu", "Xeon", cpu_flags=frozenset({"amx_bf16"}))
        >>> training_precision("resnet50", hardware=xeon).precision
        'bfloat16'
        >>> training_precision("lenet5", hardware=xeon).precision  # 0.0004 GMACs
        'float32'
    """
    from kerascnn.registry import model_card  # noqa: PLC0415

    machine = resolve("auto", hardware)
    if machine.precision == "float32":  # no fast path here: the model's cost cannot change that
        return machine
    card = model_card(model_name)
    gmacs = card.gmacs
    if gmacs is None:  # not published: count it on a built model (only where a fast path exists)
        from kerascnn.registry import build  # noqa: PLC0415

        gmacs = macs(build(model_name, compile=False), warn=False).total / 1e9
    if input_shape is not None:
        gmacs *= input_shape[0] * input_shape[1] / (card.input_shape[0] * card.input_shape[1])
    return resolve("auto", hardware, gmacs)
