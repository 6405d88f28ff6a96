"""A picture of a model's architecture: Keras' own graph where graphviz exists, else stage by stage.

``engine="graphviz"`` is ``keras.utils.plot_model`` (every layer, with shapes); it needs the
``pydot`` package and graphviz's ``dot`` program, which a fresh machine lacks. The default
``engine="auto"`` uses it when both are there and kerascnn's own drawing otherwise;
``engine="kerascnn"`` always draws kerascnn's: one box per stage (the layers whose output
has the same height and width, nested backbones opened), top to bottom, each with its map
size, its layers by kind and its parameters, then the head. The docs' model pages use
``engine="kerascnn"`` so that they look the same wherever they are rebuilt
(``python -m kerascnn.visualize.docs_images``).

Examples:
    >>> import os, tempfile, kerascnn
    >>> path = os.path.join(tempfile.mkdtemp(), "lenet5.png")
    >>> model_diagram(kerascnn.build("lenet5"), path, engine="kerascnn")
    'kerascnn'
    >>> [stage.label for stage in stages(kerascnn.build("lenet5"))]
    ['28x28', '14x14', '10x10', '5x5', '1x1', 'head']
"""

from __future__ import annotations

import collections
import dataclasses
import shutil

from kerascnn.errors import check_choice
from kerascnn.plots import _figure
from kerascnn.runs import atomic_save
from kerascnn.visualize.capture import leaf_layers, output_shape

ENGINES = ("auto", "graphviz", "kerascnn")
SHORT = {"BatchNormalization": "BatchNorm", "GlobalAveragePooling2D": "GlobalAvgPool", "MaxPooling2D": "MaxPool",
         "AveragePooling2D": "AvgPool", "DepthwiseConv2D": "DepthwiseConv", "SeparableConv2D": "SeparableConv",
         "ZeroPadding2D": "ZeroPad", "GlobalMaxPooling2D": "GlobalMaxPool", "Concatenate": "Concat",
         "LocalResponseNormalization": "LRN"}


@dataclasses.dataclass
class Stage:
    """Layers that output maps of one size (or the head: everything after the last map)."""

    label: str
    kinds: collections.Counter
    params: int
    first: str
    last: str
    channels: set

    @property
    def size(self) -> str:
        """``"56x56x256"``, or ``"28x28x(16-480)"`` when the stage's layers differ in channels."""
        if not self.channels:
            return ""
        low, high = min(self.channels), max(self.channels)
        return f"{self.label}x{low}" if low == high else f"{self.label}x({low}-{high})"


def stages(model) -> list:
    """The model's stages in order: one per map size (height x width), then the head.

    A padding layer joins the stage of the layer after it (its slightly larger map is no
    stage); a side branch whose map is smaller than one that comes later (an SE block's 1x1
    squeeze, an auxiliary classifier) joins the stage it branches from.
    """
    layers = [(path, layer, output_shape(layer)) for path, layer in leaf_layers(model)]
    layers = [(path, layer, shape) for path, layer, shape in layers if shape is not None]
    areas = [shape[1] * shape[2] if len(shape) == 4 and None not in shape[1:3]
             and type(layer).__name__ != "ZeroPadding2D" else 0 for _, layer, shape in layers]
    later = [max(areas[index + 1:], default=0) for index in range(len(areas))]
    groups: dict = {}
    waiting, key = [], None
    for (path, layer, shape), area, biggest_after in zip(layers, areas, later):
        if type(layer).__name__ == "ZeroPadding2D":
            waiting.append(layer)
            continue
        if len(shape) != 4:
            key = "head"
        elif key is None or area >= biggest_after:
            key = f"{shape[1]}x{shape[2]}"
        stage = groups.setdefault(key, Stage(key, collections.Counter(), 0, path, path, set()))
        for member in [*waiting, layer]:
            stage.kinds[SHORT.get(type(member).__name__, type(member).__name__)] += 1
            stage.params += int(member.count_params()) if member.built else 0
        if len(shape) == 4 and key != "head" and area >= biggest_after:
            stage.channels.add(int(shape[3]))
        stage.last = path
        waiting = []
    ordered = [stage for name, stage in groups.items() if name != "head"]
    return ordered + ([groups["head"]] if "head" in groups else [])


def graphviz_available() -> bool:
    """True when ``keras.utils.plot_model`` can run: ``pydot`` importable and ``dot`` on PATH."""
    try:
        import pydot  # noqa: F401,PLC0415
    except ImportError:
        return False
    return shutil.which("dot") is not None


def model_diagram(model, path: str, engine: str = "auto", title: str | None = None) -> str:
    """Draw ``model`` into the PNG file ``path``; returns the engine used (see the module doc)."""
    check_choice("engine", engine, ENGINES)
    if engine == "graphviz" and not graphviz_available():
        raise ValueError("engine='graphviz' needs the pydot package and graphviz's `dot` program "
                         "(pip install pydot; apt-get install graphviz); use engine='kerascnn' without them.")
    if engine == "graphviz" or (engine == "auto" and graphviz_available()):
        from kerascnn.runtime import keras  # noqa: PLC0415

        atomic_save(path, lambda temporary: keras.utils.plot_model(
            model, to_file=temporary, show_shapes=True, show_layer_names=True, expand_nested=True, dpi=72))
        return "graphviz"
    _draw_stages(model, path, title)
    return "kerascnn"


def _draw_stages(model, path, title):
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: PLC0415

    parts = stages(model)
    shape = tuple(model.input_shape if not isinstance(model.input_shape, list) else model.input_shape[0])
    rows = [("input", "x".join(str(s) for s in shape[1:]), "", "#dddddd")]
    for index, stage in enumerate(parts, start=1):
        kinds = ", ".join(f"{count} {kind}" if count > 1 else kind for kind, count in stage.kinds.most_common(4))
        kinds += ", ..." if len(stage.kinds) > 4 else ""
        layers = sum(stage.kinds.values())
        name = "head" if stage.label == "head" else f"stage {index}"
        detail = f"{stage.params:,} params  |  {layers} layer{'s' * (layers != 1)}: {kinds}"
        rows.append((name, stage.size, detail,
                     "#fde0c5" if stage.label == "head" else "#cfe2f3"))
    height = 0.62 * len(rows) + 0.7
    figure = _figure(8.2, height)
    axes = figure.add_axes([0, 0, 1, 1])
    axes.set_xlim(0, 10)
    axes.set_ylim(0, height)
    axes.axis("off")
    axes.text(5, height - 0.35, title or f"{model.name}: {model.count_params():,} parameters",
              ha="center", va="center", fontsize=11, weight="bold")
    top = height - 0.75
    for index, (name, size, detail, colour) in enumerate(rows):
        y = top - index * 0.62
        axes.add_patch(FancyBboxPatch((0.2, y - 0.42), 9.6, 0.42, boxstyle="round,pad=0.02,rounding_size=0.08",
                                      facecolor=colour, edgecolor="#555555", linewidth=0.8))
        axes.text(0.35, y - 0.21, name, va="center", fontsize=9, weight="bold")
        axes.text(1.45, y - 0.21, size, va="center", fontsize=8.5, family="monospace")
        axes.text(3.4, y - 0.21, _fit(detail, 84), va="center", fontsize=7.5)
        if index:
            axes.add_patch(FancyArrowPatch((5, y + 0.2), (5, y + 0.02), arrowstyle="-|>", mutation_scale=8,
                                           color="#555555", linewidth=0.8))
    atomic_save(path, lambda temporary: figure.savefig(temporary, format="png", dpi=110))


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
