"""Grad-CAM (Selvaraju et al. 2017): where in the image the evidence for a class lies.

For class ``c`` and the maps ``A_k`` of a convolutional layer (default: the last map before
the head, found through a nested backbone), each channel gets the weight
``alpha_k = mean over (i, j) of d s_c / d A_k[i, j]``; the heatmap is
``ReLU(sum_k alpha_k A_k)``, resized to the image and scaled to [0, 1].

The score ``s_c`` is ``y_c``, the class's score before the softmax, as in the paper (the
output layer's softmax is skipped while the gradient is taken). For a one-unit sigmoid head,
class 1's score is the logit ``z`` and class 0's is ``-z``.

The gradient with respect to ``A`` is taken as the gradient with respect to a zero
perturbation added to the layer's output (:func:`kerascnn.visualize.capture.intercepted`),
so the same code serves Keras 2, Keras 3 on TensorFlow and Keras 3 on JAX.

Examples:
    >>> import numpy as np, kerascnn
    >>> model = kerascnn.build("lenet5")
    >>> heatmaps = grad_cam(model, np.random.default_rng(0).random((2, 32, 32, 1), "float32"))
    >>> heatmaps.shape, float(heatmaps.min()) >= 0.0, float(heatmaps.max()) <= 1.0
    ((2, 32, 32), True, True)
"""

from __future__ import annotations

import numpy as np

from kerascnn.visualize.capture import (activations, find_layer, gradient, intercepted, last_spatial_layer,
                                        scores_before_activation)


def as_batch(model, images) -> np.ndarray:
    """``images`` as a float32 batch (N, H, W, C) for ``model``; one image (H, W, C) becomes N=1."""
    array = np.asarray(images, "float32")
    expected = len(model.input_shape) if not isinstance(model.input_shape, list) else len(model.input_shape[0])
    if array.ndim == expected - 1:
        array = array[None]
    if array.ndim != expected:
        raise ValueError(f"images must have the shape (batch, height, width, channels) or (height, width, "
                         f"channels) of model {model.name!r} (input {model.input_shape}), got {array.shape}.")
    return array


def grad_cam(model, images, class_index=None, layer=None, return_predictions: bool = False):
    """Grad-CAM heatmaps (N, H, W) in [0, 1] for ``images`` (N, H, W, C) or one image.

    Arguments:
        model: any functional Keras model (kerascnn's zoo, a transfer model with a nested
            backbone, keras.applications, kecam in Keras 2).
        images: what the model takes, preprocessed as for ``model.predict``.
        class_index: None (each image's predicted class), an int (the same class for all), or
            one int per image.
        layer: a layer name (``"backbone/conv5_block3_out"`` or the plain name, looked for in
            nested models too) or layer; default: the last layer with a map larger than 1x1.
        return_predictions: also return the model's outputs (the probabilities).

    Returns the heatmaps, or ``(heatmaps, predictions)``. See the module example.
    """
    batch = as_batch(model, images)
    target = find_layer(model, layer) if layer is not None else last_spatial_layer(model)[1]
    maps, predictions = activations(model, batch, [target])
    if target.name not in maps:
        raise ValueError(f"layer {target.name!r} was not called when the model ran; choose a layer on the "
                         "path from the input to the output.")
    feature = maps[target.name]
    if feature.ndim != 4:
        raise ValueError(f"layer {target.name!r} outputs shape {feature.shape}; Grad-CAM needs a map "
                         "(batch, height, width, channels).")
    classes = _classes(predictions, class_index)
    weights = _class_weights(predictions, classes)

    def score(perturbation):
        with scores_before_activation(model), intercepted([target], lambda _layer, output: output + perturbation):
            outputs = model(batch, training=False)
        if isinstance(outputs, (list, tuple)):
            outputs = outputs[0]
        return outputs * weights, None

    grads, _ = gradient(score, np.zeros_like(feature))
    alpha = grads.mean(axis=(1, 2), keepdims=True)
    cams = np.maximum((alpha * feature).sum(axis=-1), 0.0)
    heatmaps = np.stack([_resize(cam, batch.shape[1:3]) for cam in cams])
    peaks = heatmaps.max(axis=(1, 2), keepdims=True)
    heatmaps = np.where(peaks > 0, heatmaps / np.where(peaks > 0, peaks, 1.0), 0.0).astype("float32")
    return (heatmaps, predictions) if return_predictions else heatmaps


def _classes(predictions, class_index) -> np.ndarray:
    count = len(predictions)
    if class_index is None:
        if predictions.shape[-1] == 1:
            return (predictions[:, 0] > 0.5).astype(int)
        return predictions.argmax(axis=-1)
    classes = np.broadcast_to(np.asarray(class_index), (count,)).astype(int)
    top = max(predictions.shape[-1], 2) - 1
    if classes.min() < 0 or classes.max() > top:
        raise ValueError(f"class_index must be between 0 and {top} for this model, got {class_index!r}.")
    return classes


def _class_weights(predictions, classes) -> np.ndarray:
    """The (N, outputs) weights whose product with the scores, summed, is the sum of y_c."""
    if predictions.shape[-1] == 1:
        return np.where(classes == 1, 1.0, -1.0).astype("float32")[:, None]
    return np.eye(predictions.shape[-1], dtype="float32")[classes]


def _resize(cam, size):
    """Bilinear resize of one (h, w) map to ``size``, pixel centres aligned."""
    from scipy.ndimage import zoom  # noqa: PLC0415

    factors = (size[0] / cam.shape[0], size[1] / cam.shape[1])
    return zoom(cam, factors, order=1, mode="nearest", grid_mode=True)


def overlay(image, heatmap, alpha: float = 0.45, colormap: str = "jet") -> np.ndarray:
    """The image in gray with the heatmap on top in colour: an RGB array (H, W, 3) in [0, 1].

    ``image`` (H, W), (H, W, 1) or (H, W, 3), any range (scaled to [0, 1] for display);
    ``heatmap`` (h, w) in [0, 1], resized to the image if needed.

    Examples:
        >>> import numpy as np
        >>> picture = overlay(np.zeros((8, 8, 1)), np.ones((4, 4)))
        >>> picture.shape, float(picture.max()) <= 1.0
        ((8, 8, 3), True)
    """
    from matplotlib import colormaps  # noqa: PLC0415

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}.")
    base = display_image(image)
    if base.ndim == 2:
        base = base[..., None]
    base = np.repeat(base.mean(axis=-1, keepdims=True), 3, axis=-1)  # gray, so the colours are the heatmap's
    heat = np.asarray(heatmap, "float32")
    if heat.shape != base.shape[:2]:
        heat = _resize(heat, base.shape[:2])
    coloured = colormaps[colormap](np.clip(heat, 0.0, 1.0))[..., :3]
    return np.clip((1.0 - alpha) * base + alpha * coloured, 0.0, 1.0)


def colour_scale(figure, axes, colormap: str = "jet"):
    """A colour bar beside ``axes`` that reads an :func:`overlay`: 0 = no evidence, 1 = the peak."""
    from matplotlib import cm, colors  # noqa: PLC0415

    mappable = cm.ScalarMappable(norm=colors.Normalize(0, 1), cmap=colormap)
    bar = figure.colorbar(mappable, ax=axes, fraction=0.046, pad=0.03, ticks=[0, 0.5, 1])
    bar.ax.tick_params(labelsize=7)
    bar.set_label("Grad-CAM", fontsize=8)
    return bar


def display_image(image) -> np.ndarray:
    """An image scaled to [0, 1] for display (min to max), a single channel squeezed.

    Examples:
        >>> display_image([[0, 8], [2, 4]]).tolist()
        [[0.0, 1.0], [0.25, 0.5]]
    """
    array = np.asarray(image, "float32")
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    low, high = float(array.min()), float(array.max())
    return (array - low) / (high - low) if high > low else np.zeros_like(array)
