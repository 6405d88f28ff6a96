"""Reach inside a model: find its layers (through nested models) and catch what they output.

Two facts make every other module of :mod:`kerascnn.visualize` work on any model:

* :func:`leaf_layers` walks a model and every model nested in it (a transfer model's
  backbone, a kecam model's blocks), in call order, so a layer deep in a backbone can be
  named and found like any other.
* :func:`intercepted` replaces, for the length of a ``with`` block, a layer's ``call`` on the
  instance, so its output passes through a hook. Keras 2 and Keras 3 both look ``call`` up on
  the instance each time, whatever nests the layer, so a plain ``model(images)`` hands over
  the activations (feature maps) or takes a perturbation added to them (Grad-CAM's gradient,
  :func:`gradient`), with no sub-model to build and no graph to rewire.

:func:`gradient` is the one backend-specific function: ``tf.GradientTape`` on TensorFlow
(Keras 2 and Keras 3), ``jax.grad`` on JAX.

Examples:
    >>> from kerascnn.runtime import keras
    >>> inputs = keras.Input((8, 8, 1))
    >>> x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    >>> model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D(name="gap")(x))
    >>> [path for path, _ in leaf_layers(model)]
    ['conv', 'gap']
    >>> last_spatial_layer(model)[0]
    'conv'
"""

from __future__ import annotations

import contextlib

import numpy as np

from kerascnn.errors import closest
from kerascnn.runtime import BACKEND, IS_KERAS3, RuntimeMismatchError, keras

CONVOLUTIONS = ("Conv1D", "Conv2D", "Conv3D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose")


def is_model(layer) -> bool:
    return isinstance(layer, keras.Model)


def leaf_layers(model, prefix: str = ""):
    """``(path, layer)`` for every layer that is not a model, nested models opened, in order.

    A layer inside a nested model has the path ``"backbone_name/layer_name"``.
    """
    for layer in model.layers:
        path = prefix + layer.name
        if is_model(layer):
            yield from leaf_layers(layer, path + "/")
        elif type(layer).__name__ != "InputLayer":
            yield path, layer


def output_shape(layer):
    """The layer's output shape, or None for a layer called more than once (shared)."""
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError, RuntimeError):
        return None


def is_spatial(layer) -> bool:
    """True when the layer outputs a map (batch, height, width, channels) larger than 1x1."""
    shape = output_shape(layer)
    return shape is not None and len(shape) == 4 and (shape[1] or 2) * (shape[2] or 2) > 1


def is_convolution(layer) -> bool:
    return type(layer).__name__ in CONVOLUTIONS or isinstance(layer, keras.layers.Conv2D)


def last_spatial_layer(model):
    """``(path, layer)`` of the last layer whose output is still a map: Grad-CAM's default.

    That is the last convolutional map of Selvaraju et al. (after its activation), found
    through a nested backbone; a ValueError if the model has no map larger than 1x1.
    """
    found = [(path, layer) for path, layer in leaf_layers(model) if is_spatial(layer)]
    if not found:
        raise ValueError(f"model {model.name!r} has no layer with a spatial output (batch, height, width, "
                         "channels) larger than 1x1; Grad-CAM and feature maps need a convolutional model.")
    return found[-1]


def stage_ends(model):
    """``(path, layer)`` of each stage's last convolution: the last one before the map shrinks.

    Examples:
        >>> import kerascnn
        >>> [path for path, _ in stage_ends(kerascnn.build("lenet5"))]
        ['c1_conv', 'c3_conv']
    """
    convolutions = [(path, layer) for path, layer in leaf_layers(model) if is_convolution(layer) and is_spatial(layer)]
    ends = []
    for index, (path, layer) in enumerate(convolutions):
        following = convolutions[index + 1] if index + 1 < len(convolutions) else None
        if following is None or output_shape(following[1])[1:3] != output_shape(layer)[1:3]:
            ends.append((path, layer))
    return ends


def find_layer(model, name):
    """The layer called ``name`` (a plain name, a ``"backbone/layer"`` path, or a layer object).

    A plain name is looked for in nested models too. A missing name raises a ValueError that
    lists the closest names.
    """
    if not isinstance(name, str):
        if hasattr(name, "call") and hasattr(name, "name"):
            return name
        raise TypeError(f"layer must be a layer name or a Keras layer, got {type(name).__name__}.")
    everything = list(_all_layers(model))
    for path, layer in everything:
        if path == name:
            return layer
    for path, layer in everything:
        if path.rsplit("/", 1)[-1] == name:
            return layer
    near = closest(name, [path for path, _ in everything]) or [path for path, _ in everything if "/" not in path][-5:]
    raise ValueError(f"layer {name!r} is not in model {model.name!r}; layers there include {', '.join(near)}.")


def _all_layers(model, prefix=""):
    for layer in model.layers:
        yield prefix + layer.name, layer
        if is_model(layer):
            yield from _all_layers(layer, prefix + layer.name + "/")


@contextlib.contextmanager
def intercepted(layers, hook):
    """Within the block, each of ``layers`` returns ``hook(layer, output)`` instead of ``output``."""
    patched = []
    try:
        for layer in layers:
            original = layer.call

            def call(*args, _layer=layer, _original=original, **kwargs):
                return hook(_layer, _original(*args, **kwargs))

            object.__setattr__(layer, "call", call)  # past Keras' attribute tracking
            patched.append(layer)
        yield
    finally:
        for layer in patched:
            object.__delattr__(layer, "call")


@contextlib.contextmanager
def scores_before_activation(model):
    """Within the block the output layer's softmax/sigmoid is skipped; yields its name (or None).

    Grad-CAM differentiates class scores before the output activation (Selvaraju et al. 2017).
    """
    layer = model.layers[-1]
    while is_model(layer):
        layer = layer.layers[-1]
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None)
    if name not in ("softmax", "sigmoid"):
        yield None
        return
    object.__setattr__(layer, "activation", keras.activations.linear)
    try:
        yield name
    finally:
        object.__setattr__(layer, "activation", activation)


def activations(model, images, layers) -> tuple[dict, np.ndarray]:
    """Run ``images`` through ``model`` once; ``({layer name: output}, predictions)`` as NumPy."""
    caught = {}

    def keep(layer, output):
        caught.setdefault(layer.name, output)
        return output

    with intercepted(layers, keep):
        predictions = model(images, training=False)
    return {name: to_numpy(value) for name, value in caught.items()}, to_numpy(predictions)


def to_numpy(value) -> np.ndarray:
    if isinstance(value, (list, tuple)):
        value = value[0]  # several outputs (GoogLeNet's auxiliary heads): the main one comes first
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


def gradient(function, argument):
    """``(d sum(score) / d argument, aux)`` for ``function(argument) -> (score, aux)``.

    The backend-specific part of Grad-CAM: TensorFlow's ``GradientTape`` in Keras 2 and in
    Keras 3 on TensorFlow, ``jax.grad`` in Keras 3 on JAX.

    Examples:
        >>> import numpy as np
        >>> grad, aux = gradient(lambda x: (x * x, "aux"), np.array([1.0, 2.0], "float32"))
        >>> np.asarray(grad).tolist(), aux
        ([2.0, 4.0], 'aux')
    """
    argument = np.asarray(argument, "float32")
    if BACKEND == "jax":
        import jax  # noqa: PLC0415

        def summed(value):
            score, aux = function(value)
            return jax.numpy.sum(score), aux

        grad, aux = jax.grad(summed, has_aux=True)(jax.numpy.asarray(argument))
        return np.asarray(grad), aux
    if BACKEND == "tensorflow":
        import tensorflow as tf  # noqa: PLC0415

        value = tf.convert_to_tensor(argument)
        with tf.GradientTape() as tape:
            tape.watch(value)
            score, aux = function(value)
            score = tf.reduce_sum(score)
        return tape.gradient(score, value).numpy(), aux
    raise RuntimeMismatchError(f"Grad-CAM supports the TensorFlow and JAX backends, not {BACKEND!r} "
                               f"(Keras {'3' if IS_KERAS3 else '2'}).")
