"""What a run got wrong, and for two classes how sensitivity trades against specificity.

:func:`write_reports` takes a model's test probabilities, the true labels, the test images
and the class names, and writes into a run directory:

* ``misclassified.png``: the worst mistakes (lowest probability given to the true class),
  each with its true and predicted label and the probability the model gave each;
* for a two-class task (one sigmoid unit, or a two-way softmax): ``roc.png`` (ROC curve, AUC)
  and ``pr.png`` (precision-recall curve, average precision), computed with scikit-learn.

It returns the figures for ``metrics.json``: ``misclassified`` (a count) and, for two
classes, ``roc_auc``, ``average_precision`` and ``positive_class``. Per-class precision,
recall and F1 are already there (:func:`kerascnn.train.evaluate_model`). :func:`report_run` is
the one call ``kerascnn train`` and ``kerascnn finetune`` make: it predicts the test split and
collects only the images it draws.

Examples:
    >>> import os, tempfile, numpy as np
    >>> folder = tempfile.mkdtemp()
    >>> probabilities = np.array([[0.9], [0.2], [0.7], [0.4]])   # sigmoid: P(class 1)
    >>> labels = np.array([1, 0, 0, 1])
    >>> images = np.zeros((4, 8, 8, 1))
    >>> write_reports(folder, probabilities, labels, images, ["healthy", "ill"])
    {'misclassified': 2, 'positive_class': 'ill', 'roc_auc': 0.75, 'average_precision': 0.8333333333333333}
    >>> sorted(os.listdir(folder))
    ['misclassified.png', 'pr.png', 'roc.png']
"""

from __future__ import annotations

import math

import numpy as np

from kerascnn.plots import _figure
from kerascnn.runs import MISCLASSIFIED, PR, ROC, atomic_save


def _save(figure, path) -> None:
    figure.tight_layout()
    atomic_save(path, lambda temporary: figure.savefig(temporary, format="png"))


def class_probabilities(probabilities) -> np.ndarray:
    """(N, classes) probabilities; a one-unit sigmoid output p becomes the two columns (1 - p, p).

    Examples:
        >>> class_probabilities([[0.8], [0.1]]).tolist()
        [[0.19999999999999996, 0.8], [0.9, 0.1]]
    """
    probabilities = np.asarray(probabilities, "float64")
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must have the shape (images, classes), got {probabilities.shape}.")
    if probabilities.shape[1] == 1:
        return np.concatenate([1.0 - probabilities, probabilities], axis=1)
    return probabilities


def top_classes(probabilities, class_names, count: int) -> list:
    """The ``count`` most likely classes of one image's output, as ``[(name, probability), ...]``.

    A one-unit sigmoid output is read as :func:`class_probabilities` does (its p is the second
    class's); classes without a name are named by their index.

    Examples:
        >>> [(name, round(p, 2)) for name, p in top_classes([0.8], ["benign", "malignant"], 2)]
        [('malignant', 0.8), ('benign', 0.2)]
    """
    row = class_probabilities(np.asarray(probabilities)[None])[0]
    order = row.argsort()[::-1][:count]
    return [(class_names[i] if i < len(class_names) else str(i), float(row[i])) for i in order]


def write_reports(folder: str, probabilities, labels, images, class_names, worst: int = 16) -> dict:
    """Write ``misclassified.png`` (and ``roc.png``, ``pr.png`` for two classes) into ``folder``.

    Arguments:
        folder: the run directory (it must exist).
        probabilities: the model's outputs on the test images, (N, classes) or (N, 1) sigmoid.
        labels: the true class indices (N,).
        images: the test images (N, H, W, C), or a function ``images(indices)`` that returns
            the images at those indices (so a large test split need not be held in memory).
        class_names: one name per class.
        worst: how many mistakes to draw at most.

    Returns the figures for ``metrics.json`` (see the module docstring and example).
    """
    table = class_probabilities(probabilities)
    labels = np.asarray(labels).astype(int).ravel()
    names = [str(name) for name in class_names]
    if len(labels) != len(table):
        raise ValueError(f"labels has {len(labels)} entries but probabilities has {len(table)} rows; "
                         "give one label per test image.")
    if table.shape[1] != len(names):
        raise ValueError(f"class_names has {len(names)} names but the model gives {table.shape[1]} class "
                         "probabilities; give one name per class.")
    predicted = table.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    chosen = wrong[np.argsort(table[wrong, labels[wrong]], kind="stable")][:worst]
    shown = images(chosen) if callable(images) else np.asarray(images)[chosen]
    _misclassified(folder, shown, labels[chosen], predicted[chosen], table[chosen], names, len(wrong), len(labels))
    metrics = {"misclassified": int(len(wrong))}
    if len(names) == 2:
        metrics.update(_two_class(folder, table[:, 1], labels, names))
    return metrics


def _misclassified(folder, images, truth, predicted, table, names, count, total):
    import os  # noqa: PLC0415

    from kerascnn.visualize.gradcam import display_image  # noqa: PLC0415

    columns = min(max(len(truth), 1), 4)
    rows = max(math.ceil(len(truth) / columns), 1)
    figure = _figure(2.3 * columns, 2.5 * rows + 0.5)
    if not len(truth):
        axes = figure.add_subplot(1, 1, 1)
        axes.axis("off")
        axes.text(0.5, 0.5, f"no misclassified test images\n(all {total} correct)", ha="center", va="center")
    for index, (image, true, guess, row) in enumerate(zip(images, truth, predicted, table)):
        axes = figure.add_subplot(rows, columns, index + 1)
        picture = display_image(image)
        axes.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=1)
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_title(f"true: {names[true][:14]} ({row[true]:.0%})\npredicted: {names[guess][:14]} ({row[guess]:.0%})",
                       fontsize=8, color="#b00020")
    figure.suptitle(f"misclassified: {count} of {total} test images"
                    + (f" (the {len(truth)} most confident mistakes)" if count > len(truth) else ""), fontsize=10)
    _save(figure, os.path.join(folder, MISCLASSIFIED))


def _two_class(folder, positive, labels, names) -> dict:
    import os  # noqa: PLC0415

    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve  # noqa: PLC0415

    result = {"positive_class": names[1], "roc_auc": None, "average_precision": None}
    if len(np.unique(labels)) < 2:  # both curves need examples of each class
        return result
    result["roc_auc"] = float(roc_auc_score(labels, positive))
    result["average_precision"] = float(average_precision_score(labels, positive))
    false_positive, true_positive, _ = roc_curve(labels, positive)
    figure = _figure(4.6, 4.4)
    axes = figure.add_subplot(1, 1, 1)
    axes.plot(false_positive, true_positive, lw=2, label=f"model (AUC {result['roc_auc']:.3f})")
    axes.plot([0, 1], [0, 1], "--", color="gray", lw=1, label="chance (AUC 0.5)")
    axes.set(xlabel="false positive rate (1 - specificity)", ylabel="true positive rate (sensitivity)",
             xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), title=f"ROC, positive class {names[1]!r}")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    _save(figure, os.path.join(folder, ROC))
    precision, recall, _ = precision_recall_curve(labels, positive)
    prevalence = float(np.mean(labels == 1))
    figure = _figure(4.6, 4.4)
    axes = figure.add_subplot(1, 1, 1)
    axes.step(recall, precision, where="post", lw=2, label=f"model (AP {result['average_precision']:.3f})")
    axes.axhline(prevalence, ls="--", color="gray", lw=1, label=f"chance (AP {prevalence:.3f})")
    axes.set(xlabel="recall (sensitivity)", ylabel="precision", xlim=(-0.01, 1.01), ylim=(-0.01, 1.01),
             title=f"precision-recall, positive class {names[1]!r}")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left", fontsize=8)
    _save(figure, os.path.join(folder, PR))
    return result


def report_run(folder: str, model, split, class_names, batch_size: int = 64, worst: int = 16) -> dict:
    """:func:`write_reports` for ``model`` on a :class:`kerascnn.data.Split` (the test split).

    The split is run through the model once for the probabilities and read once more for
    the few images drawn.
    """
    probabilities = model.predict(split.batches(batch_size), verbose=0)
    if isinstance(probabilities, (list, tuple)):
        probabilities = probabilities[0]  # auxiliary heads (GoogLeNet): the main output comes first

    def images(indices):
        wanted = {int(i): None for i in indices}
        start = 0
        for batch, _labels in split.batches(batch_size):
            batch = np.asarray(batch)
            for i in wanted:
                if start <= i < start + len(batch):
                    wanted[i] = batch[i - start]
            start += len(batch)
            if start > max(wanted, default=-1):
                break
        return [wanted[int(i)] for i in indices]

    return write_reports(folder, probabilities, split.y, images, class_names, worst=worst)
