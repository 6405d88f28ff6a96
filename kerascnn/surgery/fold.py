"""Fold each BatchNorm that directly follows a convolution into the convolution (for inference).

In inference mode BatchNorm is an affine map per channel,
``y = gamma * (x - mean) / sqrt(var + eps) + beta``, and a convolution is linear in its
kernel, so the pair is one convolution with

``W' = W * gamma / sqrt(var + eps)`` (per output channel) and
``b' = (b - mean) * gamma / sqrt(var + eps) + beta``.

Folded: a BatchNorm on the channel axis whose input comes from a ``Conv1D``, ``Conv2D``,
``Conv3D``, ``DepthwiseConv1D/2D`` or ``SeparableConv1D/2D`` (into its pointwise kernel)
without activation, where the convolution's output feeds nothing else (not another layer,
not a model output), neither layer is shared, and the BatchNorm is not forced into training
mode. A BatchNorm without gamma (``scale=False``) counts as gamma = 1. Everything else is
copied unchanged.
"""

from __future__ import annotations

import numpy as np

from kerascnn.runtime import IS_KERAS3
from kerascnn.graph import Graph, check_model, class_name
from kerascnn.surgery.rewrite import Edit, Rewriter, rewrite

CONVOLUTIONS = ("Conv1D", "Conv2D", "Conv3D")
DEPTHWISE = ("DepthwiseConv1D", "DepthwiseConv2D")
SEPARABLE = ("SeparableConv1D", "SeparableConv2D")
#: Smallest epsilon TensorFlow's fused batch norm uses (Keras 2 runs BatchNorm fused on 4D inputs).
FUSED_MIN_EPSILON = 1.001e-5


def _channel_axis(conv, rank: int) -> int:
    return 1 if conv.get_config().get("data_format") == "channels_first" else rank - 1


def _bn_axes(bn, rank: int) -> list[int]:
    axis = bn.axis  # an int in Keras 3, a list in Keras 2
    axes = list(axis) if hasattr(axis, "__iter__") else [axis]
    return sorted(a % rank for a in axes)


def why_not_foldable(graph: Graph, call) -> str | None:
    """None when the BatchNorm ``call`` can be folded into its input's convolution, else the reason."""
    if len(call.inputs) != 1:
        return "it has several inputs"
    tensor = call.inputs[0]
    conv_call = graph.producer(tensor)
    if conv_call is None or conv_call.kind not in CONVOLUTIONS + DEPTHWISE + SEPARABLE:
        return "its input does not come from a convolution"
    conv, bn = conv_call.layer, call.layer
    if conv.get_config().get("activation", "linear") != "linear":
        return f"the convolution {conv.name!r} has an activation before it"
    if not graph.feeds_only(tensor, call):
        return f"the output of {conv.name!r} is also used elsewhere"
    if graph.uses(conv) != 1 or graph.uses(bn) != 1:
        return "a layer is shared"
    if call.kwargs.get("training"):
        return "it is called with training=True"
    rank = len(tensor.shape)
    if _bn_axes(bn, rank) != [_channel_axis(conv, rank)]:
        return "it does not normalise the channel axis"
    if getattr(bn, "renorm", False) or getattr(bn, "virtual_batch_size", None):
        return "batch renormalisation / virtual batches"
    return None


def folded_weights(conv, bn) -> list[np.ndarray]:
    """``[kernel, bias]`` of the convolution that computes ``bn(conv(x))`` in inference mode.

    A separable convolution gives ``[depthwise kernel, pointwise kernel, bias]``: only the
    pointwise kernel (whose last axis is the output channel) is scaled.
    """
    conv_weights = conv.get_weights()
    kept = []
    if class_name(conv) in SEPARABLE:
        kept, conv_weights = conv_weights[:1], conv_weights[1:]
    dtype = np.asarray(conv_weights[0]).dtype
    kernel = np.asarray(conv_weights[0], dtype=np.float64)
    depthwise = class_name(conv) in DEPTHWISE
    channels = kernel.shape[-2] * kernel.shape[-1] if depthwise else kernel.shape[-1]
    bias = np.asarray(conv_weights[1], np.float64) if conv.use_bias else np.zeros(channels)

    def value(variable, default):
        return np.asarray(variable, np.float64).reshape(-1) if variable is not None else default

    gamma = value(getattr(bn, "gamma", None), np.ones(channels))
    beta = value(getattr(bn, "beta", None), np.zeros(channels))
    mean, variance = value(bn.moving_mean, None), value(bn.moving_variance, None)
    epsilon = float(bn.epsilon)
    if not IS_KERAS3 and getattr(bn, "fused", False):
        epsilon = max(epsilon, FUSED_MIN_EPSILON)  # what tf.nn.fused_batch_norm really uses
    scale = gamma / np.sqrt(variance + epsilon)
    if depthwise:  # kernel (..., in_channels, multiplier); output channel c * multiplier + m
        new_kernel = kernel * scale.reshape(kernel.shape[-2], kernel.shape[-1])
    else:
        new_kernel = kernel * scale
    new_bias = (bias - mean) * scale + beta
    return [*kept, new_kernel.astype(dtype), new_bias.astype(dtype)]


class FoldBatchNorm(Edit):
    """The :class:`~kerascnn.surgery.rewrite.Edit` behind :func:`fold_batchnorm`."""

    def __init__(self):
        self.into: dict[int, object] = {}  # id(conv call) -> the BatchNorm call folded into it
        self.folded: set[int] = set()  # id(BatchNorm call)
        self.names: list[str] = []
        self.kept: dict[str, str] = {}  # BatchNorm name -> why it was not folded

    def plan(self, graph: Graph) -> None:
        for call in graph.calls:
            if "BatchNormalization" not in call.kind:
                continue
            reason = why_not_foldable(graph, call)
            if reason is not None:
                self.kept[call.name] = reason
                continue
            conv_call = graph.producer(call.inputs[0])
            self.into[id(conv_call)] = call
            self.folded.add(id(call))

    def finish(self) -> None:
        if self.names:
            return
        if not self.kept:
            raise ValueError("fold_batchnorm: the model has no BatchNormalization layer to fold.")
        reasons = "; ".join(f"{name!r}: {why}" for name, why in list(self.kept.items())[:5])
        raise ValueError(
            f"fold_batchnorm: none of the {len(self.kept)} BatchNormalization layers directly follows a "
            f"convolution whose output feeds nothing else ({reasons}{'; ...' if len(self.kept) > 5 else ''})."
        )

    def call(self, rewriter: Rewriter, graph: Graph, call, args, kwargs):
        if id(call) in self.folded:
            return args[0]  # the folded convolution's output already includes this BatchNorm
        bn_call = self.into.get(id(call))
        if bn_call is None:
            return rewriter.copy_call(call, args, kwargs)
        conv, bn = call.layer, bn_call.layer
        weights = folded_weights(conv, bn)
        new = rewriter.copy_layer(conv, weights=weights, use_bias=True)
        self.names.append(f"{bn.name} -> {conv.name}")
        return rewriter.call_layer(new, call, args, kwargs)


def fold_batchnorm(model, report: bool = False):
    """A new model for inference, with each BatchNorm after a convolution folded into it.

    The convolution keeps its name and gets a bias; the BatchNorm layer disappears.
    Outputs equal the original's in inference mode (``training=False``) up to float
    rounding; the folded model must not be trained (it has no BatchNorm left to learn).
    Every layer of the new model is a copy: the original model is unchanged.

    Args:
        model: a functional or Sequential Keras model (nested models are folded too).
        report: also return a dict ``{"folded": ["bn -> conv", ...], "kept": {bn: reason}}``.

    Raises:
        ValueError: not one BatchNorm can be folded (the message names them and says why),
            or the model has none.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((8, 8, 3))
        >>> y = keras.layers.BatchNormalization(name="bn")(keras.layers.Conv2D(4, 3, name="conv")(x))
        >>> folded = fold_batchnorm(keras.Model(x, keras.layers.ReLU(name="relu")(y)))
        >>> [layer.name for layer in folded.layers[1:]]
        ['conv', 'relu']
    """
    check_model(model)
    edit = FoldBatchNorm()
    new = rewrite(model, edit)
    if report:
        return new, {"folded": list(edit.names), "kept": dict(edit.kept)}
    return new


def all_layers(model):
    """Every layer of ``model``, those of nested models (a transfer backbone) included."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from all_layers(layer)


def randomize_batchnorm(model, seed: int = 0) -> int:
    """Give every BatchNorm of ``model`` random, non-trivial statistics; return how many changed.

    A freshly built BatchNorm computes the identity in inference mode (mean 0, variance
    1, gamma 1, beta 0), so checking :func:`fold_batchnorm` on it proves nothing. This
    draws gamma ~ U(0.5, 1.5), beta ~ N(0, 0.2), moving mean ~ N(0, 0.2) and moving variance
    ~ U(0.5, 2) for every BatchNorm (nested models included). For tests and benchmarks.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((4, 4, 3))
        >>> model = keras.Model(x, keras.layers.BatchNormalization()(x))
        >>> randomize_batchnorm(model, seed=1)
        1
    """
    rng = np.random.default_rng(seed)
    draws = {
        "gamma": lambda n: rng.uniform(0.5, 1.5, n),
        "beta": lambda n: rng.normal(0.0, 0.2, n),
        "moving_mean": lambda n: rng.normal(0.0, 0.2, n),
        "moving_variance": lambda n: rng.uniform(0.5, 2.0, n),
    }
    changed = 0
    for layer in all_layers(model):
        if "BatchNormalization" not in class_name(layer):
            continue
        for attribute, draw in draws.items():
            variable = getattr(layer, attribute, None)
            if variable is not None:
                shape = tuple(variable.shape)
                variable.assign(draw(shape).astype(np.asarray(variable).dtype))
        changed += 1
    return changed
