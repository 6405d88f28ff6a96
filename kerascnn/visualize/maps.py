"""Feature maps and filters: what each channel of a layer responds to, drawn as the documents do.

:func:`feature_maps` runs one image through the model and draws every output channel of
the chosen layers (default: each stage's last convolution) as a grid of gray images, one
grid per layer, as the documents do with ``plt.imshow`` channel by channel. :func:`filters`
draws the first convolution's kernels: RGB tiles for colour input, gray tiles otherwise.

Both return the NumPy arrays and a matplotlib ``Figure`` (object API, no ``pyplot`` state;
a notebook shows it as the cell's value); ``path=`` saves it as PNG, atomically.

Examples:
    >>> import numpy as np, kerascnn
    >>> model = kerascnn.build("lenet5")
    >>> maps, figure = feature_maps(model, np.zeros((32, 32, 1), "float32"))
    >>> {name: array.shape for name, array in maps.items()}
    {'c1_conv': (28, 28, 6), 'c3_conv': (10, 10, 16)}
    >>> kernels, figure = filters(model)
    >>> kernels.shape
    (5, 5, 1, 6)
"""

from __future__ import annotations

import math

import numpy as np

from kerascnn.errors import check_int
from kerascnn.plots import _figure
from kerascnn.runs import atomic_save
from kerascnn.visualize.capture import activations, find_layer, is_convolution, leaf_layers, stage_ends
from kerascnn.visualize.gradcam import as_batch, display_image


def feature_maps(model, image, layers=None, max_channels: int = 32, path: str | None = None, cmap: str = "gray"):
    """The activations of ``layers`` for one ``image``, and a figure with one grid per layer.

    Arguments:
        model: any functional Keras model (nested backbones are opened).
        image: one image (H, W, C) as the model takes it (or a batch: its first image).
        layers: layer names (or paths such as ``"backbone/conv2"``) or layers; default: each
            stage's last convolution (:func:`kerascnn.visualize.capture.stage_ends`).
        max_channels: draw at most this many channels per layer (all are returned).
        path: also save the figure there (PNG).
        cmap: matplotlib colour map; gray by default (bright = strong response).

    Returns ``({layer name: array (h, w, channels)}, figure)``. See the module example.
    """
    check_int("max_channels", max_channels)
    batch = as_batch(model, image)[:1]
    chosen = [find_layer(model, name) for name in layers] if layers is not None else \
        [layer for _, layer in stage_ends(model)]
    if not chosen:
        raise ValueError(f"model {model.name!r} has no convolution with a spatial output; name the layers to show.")
    caught, _ = activations(model, batch, chosen)
    maps = {layer.name: caught[layer.name][0] for layer in chosen if layer.name in caught}
    for name, value in maps.items():
        if value.ndim != 3:
            raise ValueError(f"layer {name!r} outputs shape {value.shape[1:] if value.ndim else ()} per image; "
                             "feature maps need (height, width, channels).")
    figure = _draw_grids(maps, max_channels, cmap)
    _save(figure, path)
    return maps, figure


def _draw_grids(maps: dict, max_channels: int, cmap: str):
    columns = 8
    blocks = [(name, value, min(value.shape[-1], max_channels)) for name, value in maps.items()]
    rows = [math.ceil(shown / columns) for _, _, shown in blocks]
    figure = _figure(columns * 1.1, sum(rows) * 1.1 + 0.45 * len(blocks))
    grid = figure.add_gridspec(sum(rows) + len(blocks), columns,
                               height_ratios=[r for count in rows for r in [0.35] + [1.0] * count])
    row = 0
    for (name, value, shown), count in zip(blocks, rows):
        title = figure.add_subplot(grid[row, :])
        title.axis("off")
        title.text(0.0, 0.1, f"{name}: {value.shape[0]}x{value.shape[1]}, {value.shape[-1]} channels"
                   + (f" (first {shown} shown)" if shown < value.shape[-1] else ""), fontsize=10, va="bottom")
        row += 1
        low, high = float(value.min()), float(value.max())  # one scale per layer: channels compare
        for channel in range(shown):
            axes = figure.add_subplot(grid[row + channel // columns, channel % columns])
            axes.imshow(value[..., channel], cmap=cmap, vmin=low, vmax=high if high > low else low + 1)
            axes.set_xticks([])
            axes.set_yticks([])
            axes.set_title(str(channel), fontsize=7, pad=2)
        row += count
    figure.subplots_adjust(left=0.02, right=0.98, top=0.98, bottom=0.02, hspace=0.35, wspace=0.1)
    return figure


def filters(model, layer=None, path: str | None = None):
    """The kernels of ``layer`` (default: the first convolution) as tiles; ``(kernels, figure)``.

    ``kernels`` is the layer's weight (kh, kw, in_channels, filters). Three input channels are
    drawn as RGB (each filter scaled to [0, 1] on its own), one as gray, others as the mean
    over input channels. See the module example.
    """
    if layer is None:
        first = next((found for _, found in leaf_layers(model) if is_convolution(found)), None)
        if first is None:
            raise ValueError(f"model {model.name!r} has no convolution layer; name the layer to show.")
        layer = first
    else:
        layer = find_layer(model, layer)
    if not layer.get_weights() or np.asarray(layer.get_weights()[0]).ndim != 4:
        raise ValueError(f"layer {layer.name!r} has no 2-D convolution kernel (kh, kw, in, out) to draw.")
    kernels = np.asarray(layer.get_weights()[0])
    count = kernels.shape[-1]
    columns = min(count, 16)
    rows = math.ceil(count / columns)
    figure = _figure(columns * 0.8, rows * 0.8 + 0.5)
    for index in range(count):
        kernel = kernels[..., index]
        tile = display_image(kernel if kernel.shape[-1] == 3 else kernel.mean(axis=-1))
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.imshow(tile, cmap=None if tile.ndim == 3 else "gray", interpolation="nearest", vmin=0, vmax=1)
        axes.set_xticks([])
        axes.set_yticks([])
    figure.suptitle(f"{layer.name}: {count} filters of {kernels.shape[0]}x{kernels.shape[1]}x{kernels.shape[2]}",
                    fontsize=10)
    figure.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.45 / (rows * 0.8 + 0.5),
                           wspace=0.1, hspace=0.1)
    _save(figure, path)
    return kernels, figure


def _save(figure, path) -> None:
    if path is not None:
        atomic_save(path, lambda temporary: figure.savefig(temporary, format="png", dpi=100))
