"""The complexity chart: MACs against ImageNet top-1, bubble area = parameters.

Top-1 accuracies come from the models' reference cards (:class:`kerascnn.ModelCard`
``.top1``, with their sources); MACs and parameters are counted on the models as built.
The PNG is drawn with Matplotlib's Agg canvas (no display, no change to pyplot's state)
and written atomically.
"""

from __future__ import annotations

import math
import os
import warnings

from kerascnn.analysis.macs import macs
from kerascnn.analysis.table import make_parent
from kerascnn.runs import atomic_save

_SIZE_PER_MILLION = 6.0  # bubble area (points^2) per million parameters


def _point(entry, top1_overrides: dict) -> dict:
    import kerascnn  # noqa: PLC0415 - registers the zoo
    from kerascnn.registry import model_card  # noqa: PLC0415

    if isinstance(entry, str):
        card = model_card(entry)  # raises a ValueError with suggestions for unknown names
        model = kerascnn.build(entry, compile=False)
        name = entry
    elif hasattr(entry, "count_params") and hasattr(entry, "layers"):
        model, name = entry, entry.name
        card = model_card(name) if name in kerascnn.list_models() else None
    else:
        raise TypeError(
            f"names_or_models must hold registered model names (see kerascnn.list_models()) or "
            f"Keras models, got {entry!r} ({type(entry).__name__})."
        )
    cost = macs(model, warn=False)
    top1 = top1_overrides.get(name, card.top1 if card is not None else None)
    return {
        "name": name,
        "family": card.family if card is not None else "other",
        "gmacs": cost.total / 1e9,
        "params": int(model.count_params()),
        "top1": top1,
        "input_shape": tuple(model.input_shape[1:]),
        "unknown_layers": cost.unknown,
    }


def complexity_points(names_or_models, top1: dict | None = None) -> list:
    """The data of :func:`complexity_chart`: one dict per model (name, family, gmacs, params, top1)."""
    if isinstance(names_or_models, (str, bytes)) or not hasattr(names_or_models, "__iter__"):
        names_or_models = [names_or_models]
    if top1 is not None and not isinstance(top1, dict):
        raise TypeError(f"top1 must be a dict {{model name: top-1 accuracy in %}}, got {top1!r}.")
    points = [_point(entry, top1 or {}) for entry in names_or_models]
    if not points:
        raise ValueError("names_or_models is empty; give at least one model name or Keras model.")
    return points


def complexity_chart(names_or_models, path, top1: dict | None = None, title: str | None = None) -> list:
    """Draw MACs (x, log scale) against top-1 accuracy (y), bubble area = parameters; save a PNG.

    ``names_or_models``: registered names (built with ``compile=False``) and/or Keras models
    (a model named like a registered one takes that card's top-1). ``top1`` adds or
    overrides accuracies, ``{name: percent}``. A model without a top-1 is left off the
    chart with a warning. Returns the plotted points (dicts with name, family, gmacs,
    params, top1).

    Examples:
        >>> import os, tempfile
        >>> import kerascnn
        >>> from kerascnn.analysis import complexity_chart
        >>> path = os.path.join(tempfile.mkdtemp(), "lenet.png")
        >>> points = complexity_chart([kerascnn.lenet5()], path, top1={"lenet5": 99.0})
        >>> point = points[0]
        >>> round(point["gmacs"], 6), os.path.exists(path)
        (0.000417, True)
    """
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise ValueError(f"path must name a .png file, got {path!r}.")
    points = complexity_points(names_or_models, top1)
    plotted = [p for p in points if p["top1"] is not None]
    missing = [p["name"] for p in points if p["top1"] is None]
    if missing:
        warnings.warn(f"no top-1 accuracy for {', '.join(missing)} (none on the reference card; pass "
                      "top1={name: percent}); left off the chart.", stacklevel=2)
    if not plotted:
        raise ValueError(f"none of {', '.join(missing)} has a top-1 accuracy to plot; "
                         "pass top1={name: percent}.")
    save_chart(plotted, path, title)
    return plotted


def save_chart(points, path, title: str | None = None) -> None:
    """Draw already computed points (dicts with name, family, gmacs, params, top1) to a PNG, atomically."""
    figure = _draw(points, title)
    atomic_save(make_parent(path), lambda temporary: figure.savefig(temporary, format="png", dpi=120,
                                                                   bbox_inches="tight"))


def _draw(points, title):
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415
    from matplotlib.ticker import FuncFormatter  # noqa: PLC0415

    figure = Figure(figsize=(10.5, 6))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    families = sorted({p["family"] for p in points})
    colours = {family: f"C{i % 10}" for i, family in enumerate(families)}
    for family in families:
        group = [p for p in points if p["family"] == family]
        axes.scatter([p["gmacs"] for p in group], [p["top1"] for p in group],
                     s=[_bubble_area(p["params"]) for p in group],
                     color=colours[family], alpha=0.55, edgecolors="black", linewidths=0.6, label=family)
    axes.set_xscale("log")
    axes.margins(x=0.08, y=0.1)  # room for the largest bubbles and their names at the edges
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    axes.xaxis.set_major_formatter(plain)
    axes.xaxis.set_minor_formatter(plain)
    axes.tick_params(axis="x", which="both", labelsize=8)
    axes.set_xlabel("GMACs per image at the default input size (multiply-accumulates; FLOPs = 2 x MACs)")
    axes.set_ylabel("ImageNet top-1 accuracy (%) from the reference cards")
    axes.set_title(title or "Accuracy against computation (bubble area = parameters)")
    axes.grid(True, which="both", alpha=0.3)
    # both legends outside the axes, on the right: inside, the zoo's biggest bubbles lie under them
    family_legend = axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, title="family")
    for handle in family_legend.legend_handles:  # one marker size: the colour is what the legend tells
        handle.set_sizes([40])
    axes.add_artist(family_legend)
    # hollow circles, so that no family's colour (grey is one) reads as a size
    sizes = [axes.scatter([], [], s=_bubble_area(m * 1e6), facecolors="none", edgecolors="black", linewidths=0.6)
             for m in (10, 50, 100)]
    axes.legend(sizes, ["10 M params", "50 M", "100 M"], loc="lower left", bbox_to_anchor=(1.02, 0.0),
                fontsize=8, labelspacing=1.5, borderpad=1.0, title="parameters")
    figure.tight_layout()
    _place_names(axes, points)
    return figure


def _bubble_area(params) -> float:
    return 20 + _SIZE_PER_MILLION * params / 1e6


#: where a model's name may go, in points from its bubble's centre (first free one wins)
_NAME_OFFSETS = [(6, 6, "left"), (6, -14, "left"), (-6, 6, "right"), (-6, -14, "right"), (0, 12, "center"),
                 (0, -20, "center"), (10, -4, "left"), (-10, -4, "right")]


def _place_names(axes, points) -> None:
    """Name each bubble where the name covers no name placed before it and no other bubble
    (close clusters such as ResNet-101 and its relatives otherwise print on top of each other):
    farther places are tried when every near one is taken, the least crowded one when none is
    free, and a name away from its bubble's corner gets a thin line to it."""
    from matplotlib.transforms import Bbox  # noqa: PLC0415

    renderer = axes.figure.canvas.get_renderer()
    pixels_per_point = axes.figure.dpi / 72.0

    def bubble(p):
        x, y = axes.transData.transform((p["gmacs"], p["top1"]))
        radius = math.sqrt(_bubble_area(p["params"]) / math.pi) * pixels_per_point
        return Bbox.from_extents(x - radius, y - radius, x + radius, y + radius)

    bubbles = [bubble(p) for p in points]
    frame = axes.get_window_extent(renderer)
    placed = []
    for index in sorted(range(len(points)), key=lambda i: (-points[i]["top1"], points[i]["gmacs"])):
        p = points[index]
        others = placed + bubbles[:index] + bubbles[index + 1:]
        best = None
        for scale in (1.0, 1.8, 2.6):
            for dx, dy, align in _NAME_OFFSETS:
                label = axes.annotate(p["name"], (p["gmacs"], p["top1"]), xytext=(dx * scale, dy * scale),
                                      textcoords="offset points", fontsize=8, ha=align)
                box = label.get_window_extent(renderer).expanded(1.05, 1.1)
                crowding = sum(_overlap(box, other) for other in others) + _outside(box, frame)
                if best is None or crowding < best[0]:
                    if best is not None:
                        best[1].remove()
                    best = (crowding, label, box, scale > 1.0)
                else:
                    label.remove()
                if crowding == 0:
                    break
            if best[0] == 0:
                break
        _, label, box, far = best
        if far:  # drawn again with a line to its bubble
            label.remove()
            label = axes.annotate(p["name"], (p["gmacs"], p["top1"]), xytext=label.xyann, textcoords="offset points",
                                  fontsize=8, ha=label.get_ha(),
                                  arrowprops={"arrowstyle": "-", "color": "0.4", "linewidth": 0.6,
                                              "shrinkA": 0, "shrinkB": 2})
        placed.append(box)


def _outside(box, frame) -> float:
    """The area of ``box`` outside ``frame`` (a name over the axes' edge or the legends)."""
    return box.width * box.height - _overlap(box, frame)


def _overlap(a, b) -> float:
    """The area two display boxes share (0 when apart)."""
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(width, 0.0) * max(height, 0.0)
