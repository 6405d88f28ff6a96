"""A picture of a model's architecture: Keras' own graph where graphviz exists, else stage by stage.

``engine="graphviz"`` is ``keras.utils.plot_model`` (every layer, with shapes); it needs the
``pydot`` package and graphviz's ``dot`` program, which a fresh machine lacks. The default
``engine="auto"`` uses it when both are there and kerascnn's own drawing otherwise;
``engine="kerascnn"`` always draws kerascnn's: one box per stage (the layers between trunk
points of one map size, :func:`stages`; nested backbones opened), top to bottom, each with its
map size, its layers by kind and its parameters, then the head. The docs' model pages use
``engine="kerascnn"`` so that they look the same wherever they are rebuilt
(``python docs_hooks/make_images.py --diagrams``).

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
from kerascnn.visualize.capture import is_model

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


def trunk(model, prefix: str = "") -> list:
    """``(path, layer, output shape, on the trunk)`` for every layer call in order, nested models opened.

    A call's output is on the trunk when everything after it depends on the rest of the
    model through it alone: no connection jumps over it (a residual shortcut, an inception
    module's parallel branches, a transformer block's attention reshapes all lie between two
    trunk points). Inside a nested model, a point is on the trunk when it is there and
    nothing in the outer graph jumps over the nested model's call.
    """
    from kerascnn.graph import Graph  # noqa: PLC0415

    graph = Graph(model)
    calls = graph.calls
    # the earliest call (-1: a model input) that each call reads from
    earliest = [min((graph.producer(t).index if graph.producer(t) is not None else -1 for t in call.inputs),
                    default=-1) for call in calls]
    reads_before = [min(earliest[index + 1:], default=len(calls)) for index in range(len(calls))]
    entries = []
    for call in calls:
        cut = reads_before[call.index] >= call.index
        path = prefix + call.name
        if is_model(call.layer):
            inner = trunk(call.layer, path + "/")
            entries += [(p, layer, shape, on and cut) for p, layer, shape, on in inner]
        elif call.kind != "InputLayer":
            shape = tuple(call.outputs[0].shape) if call.outputs else None
            entries.append((path, call.layer, shape, cut))
    return entries


def stages(model) -> list:
    """The model's stages in order: one per map size (height x width) on the trunk, then the head.

    Each trunk point (:func:`trunk`) closes the layers since the one before; they join the
    stage of its map size, or the head from the first trunk point that is no map. A padding
    layer joins the stage after it (its slightly larger map is no stage). Side branches (an SE
    block's squeeze, an auxiliary classifier, attention inside a block) join the stage they
    lie in, and a stage's channels are those of its trunk maps.
    """
    groups: dict = {}
    pending, key = [], None
    for path, layer, shape, on_trunk in trunk(model):
        pending.append((path, layer))
        if not on_trunk or type(layer).__name__ == "ZeroPadding2D":
            continue
        if key != "head":
            is_map = shape is not None and len(shape) == 4
            key = "x".join(str(side or "?") for side in shape[1:3]) if is_map else "head"
        _join(groups, key, pending)
        if key != "head":
            groups[key].channels.add(int(shape[3]))
        pending = []
    if pending:  # layers after the last trunk point (side outputs): the head
        _join(groups, "head", pending)
    ordered = [stage for name, stage in groups.items() if name != "head"]
    return ordered + ([groups["head"]] if "head" in groups else [])


def _join(groups: dict, key: str, members: list) -> None:
    """Add ``members`` (``(path, layer)``, in order) to the stage ``key``, created if new."""
    stage = groups.setdefault(key, Stage(key, collections.Counter(), 0, members[0][0], members[-1][0], set()))
    for _, member in members:
        stage.kinds[SHORT.get(type(member).__name__, type(member).__name__)] += 1
        stage.params += int(member.count_params()) if member.built else 0
    stage.last = members[-1][0]


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
