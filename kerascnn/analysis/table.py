"""One table per model: layer, output shape, parameters, MACs, receptive field.

Examples:
    >>> import kerascnn
    >>> from kerascnn.analysis import summary
    >>> table = summary(kerascnn.lenet5())
    >>> first = table.rows[0]
    >>> first["layer"], first["macs"], first["receptive_field"]
    ('c1_conv', 117600, '5')
    >>> print(table.to_csv().splitlines()[0])
    layer,class,output_shape,params,macs,other_ops,receptive_field,jump
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass

from kerascnn.analysis.graph import walk
from kerascnn.analysis.macs import macs
from kerascnn.analysis.receptive import _fmt, receptive_field
from kerascnn.runs import atomic_write_text

COLUMNS = ("layer", "class", "output_shape", "params", "macs", "other_ops", "receptive_field", "jump")


def layer_params(layer) -> int:
    """Parameters held by a layer (0 for operations and unbuilt layers)."""
    return sum(math.prod(tuple(w.shape)) for w in getattr(layer, "weights", []) or [])


def make_parent(path) -> str:
    """``path`` as a string, after creating its folder if needed."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return path


@dataclass
class ModelSummary:
    """The rows of :func:`summary` (``rows``: list of dicts) with the model's totals."""

    model_name: str
    rows: list
    total_params: int
    total_macs: int
    unknown: list

    def as_dicts(self) -> list:
        """The rows as plain dicts (one per layer call), e.g. for ``pandas.DataFrame``."""
        return [dict(row) for row in self.rows]

    def to_csv(self, path=None) -> str:
        """The table as CSV text; written (atomically) to ``path`` when given."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        text = buffer.getvalue()
        if path is not None:
            atomic_write_text(make_parent(path), text)
        return text

    def __str__(self) -> str:
        headers = ("layer", "class", "output shape", "params", "MACs", "RF", "jump")
        cells = [(r["layer"], r["class"], r["output_shape"], f"{r['params']:,}",
                  "?" if r["macs"] is None else f"{r['macs']:,}", r["receptive_field"], r["jump"])
                 for r in self.rows]
        widths = [max(len(str(c)) for c in column) for column in zip(headers, *cells)]
        right = (False, False, False, True, True, True, True)

        def line(values):
            return "  ".join(str(v).rjust(w) if r else str(v).ljust(w)
                             for v, w, r in zip(values, widths, right))

        rule = "-" * len(line(headers))
        text = [f"Model: {self.model_name}", rule, line(headers), rule, *(line(c) for c in cells), rule,
                f"Total params: {self.total_params:,}",
                f"Total MACs: {self.total_macs:,} ({self.total_macs / 1e9:.3f} G; FLOPs = 2 x MACs)"]
        if self.unknown:
            text.append(f"Unknown cost (not counted): {', '.join(self.unknown)}")
        return "\n".join(text)

    def print(self) -> None:
        """Print the table."""
        print(str(self))


def summary(model, warn: bool = True) -> ModelSummary:
    """Layer, output shape, parameters, MACs and receptive field of every layer, in one table.

    ``str(table)`` (or ``table.print()``) is a text table; ``table.rows`` /
    ``table.as_dicts()`` are dicts with the keys ``layer, class, output_shape, params, macs,
    other_ops, receptive_field, jump``; ``table.to_csv(path)`` writes CSV. ``macs`` is
    ``None`` for a layer of unknown cost; a layer shared by several calls shows its
    parameters on its first call only.
    """
    cost = macs(model, warn=warn)
    fields = receptive_field(model)
    rows = []
    params = {step.name: (layer_params(step.layer) if step.first_call else 0) for step in walk(model)}
    for layer in cost.layers:
        field = fields.get(layer.name)
        rows.append({
            "layer": layer.name,
            "class": layer.class_name,
            "output_shape": "(" + ", ".join(str(d) for d in ("None", *layer.output_shape)) + ")",
            "params": params.get(layer.name, 0),
            "macs": layer.count if layer.known else None,
            "other_ops": layer.other_ops if layer.known else None,
            "receptive_field": "" if field is None else str(field),
            "jump": "" if field is None or field.covers_input else _fmt(field.jump),
        })
    return ModelSummary(model.name, rows, int(model.count_params()), cost.total, cost.unknown)
