"""Figures of a training run: learning curves and the confusion matrix, saved atomically as PNG.

Matplotlib is used through its object API (``matplotlib.figure.Figure`` with the Agg
canvas), so nothing here touches ``pyplot``'s global state or a notebook's backend.

Examples:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.6, 0.8]}
    >>> save_curves(history, os.path.join(folder, "curves.png"))
    >>> save_confusion_matrix([0, 1, 1], [0, 1, 0], os.path.join(folder, "cm.png"),
    ...                       class_names=["cat", "dog"]).tolist()
    [[1, 0], [1, 1]]
    >>> sorted(os.listdir(folder))
    ['cm.png', 'curves.png']
"""

from __future__ import annotations

import numpy as np

from kerascnn.runs import atomic_save


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 - import on use
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def history_columns(history) -> dict:
    """``{metric: [values per epoch]}`` from a Keras ``History``, such a dict, or CSV rows.

    Examples:
        >>> history_columns([{"epoch": 0, "loss": 1.0}, {"epoch": 1, "loss": 0.5}])
        {'loss': [1.0, 0.5]}
    """
    if hasattr(history, "history"):
        history = history.history
    if isinstance(history, dict):
        return {key: [float(v) for v in values] for key, values in history.items()}
    columns: dict = {}
    for row in history:
        for key, value in row.items():
            if key != "epoch":
                columns.setdefault(key, []).append(np.nan if value is None else float(value))
    return columns


def save_curves(history, path: str, title: str | None = None) -> None:
    """Plot loss and accuracy (training vs validation) per epoch; one panel per metric.

    ``history``: a Keras ``History``, ``{"loss": [...], "val_loss": [...], ...}`` or the rows
    of ``history.csv`` (:func:`kerascnn.callbacks.read_history`). The learning rate, if
    present, is left out. See the module example.
    """
    columns = history_columns(history)
    metrics = [k for k in columns if not k.startswith("val_") and k not in ("learning_rate", "lr")]
    metrics += [k[4:] for k in columns if k.startswith("val_") and k[4:] not in metrics]
    metrics = metrics or ["loss"]
    figure = _figure(5 * len(metrics), 3.8)
    for index, metric in enumerate(metrics, start=1):
        axes = figure.add_subplot(1, len(metrics), index)
        for key, label, style in ((metric, "training", "-"), ("val_" + metric, "validation", "--")):
            if key in columns:
                values = columns[key]
                axes.plot(range(1, len(values) + 1), values, style, marker="o", markersize=3, label=label)
        axes.set_xlabel("epoch")
        axes.set_ylabel(metric)
        axes.grid(alpha=0.3)
        axes.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    atomic_save(path, lambda temporary: figure.savefig(temporary, format="png"))


def save_confusion_matrix(y_true, y_pred, path: str, class_names=None, title: str | None = None) -> np.ndarray:
    """Plot the confusion matrix (rows: true class, columns: predicted) with counts; return it.

    ``y_true`` and ``y_pred`` are integer class indices. See the module example.
    """
    from sklearn.metrics import confusion_matrix  # noqa: PLC0415

    y_true = np.asarray(y_true).astype(int).ravel()
    y_pred = np.asarray(y_pred).astype(int).ravel()
    count = len(class_names) if class_names is not None else int(max(y_true.max(), y_pred.max())) + 1
    names = [str(n) for n in class_names] if class_names is not None else [str(i) for i in range(count)]
    matrix = confusion_matrix(y_true, y_pred, labels=list(range(count)))
    side = min(4 + 0.45 * count, 30)
    figure = _figure(side + 1, side)
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    ticks = range(count)
    axes.set_xticks(list(ticks))
    axes.set_yticks(list(ticks))
    fontsize = 8 if count <= 20 else 5
    axes.set_xticklabels(names, rotation=90 if count > 10 or max(map(len, names)) > 3 else 0, fontsize=fontsize)
    axes.set_yticklabels(names, fontsize=fontsize)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if count <= 30:
        threshold = matrix.max() / 2 if matrix.size else 0
        for i in ticks:
            for j in ticks:
                if matrix[i, j]:
                    axes.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=fontsize,
                              color="white" if matrix[i, j] > threshold else "black")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    axes.set_title(title or f"confusion matrix (accuracy {accuracy:.2%})")
    figure.tight_layout()
    atomic_save(path, lambda temporary: figure.savefig(temporary, format="png"))
    return matrix
