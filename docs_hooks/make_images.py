"""Regenerate the pictures of the docs: ``python docs_hooks/make_images.py`` from the repository root.

* Model diagrams: every ``img/models/NAME.png`` that a page of ``docs/`` links to is
  drawn from ``kerascnn.build(NAME)`` with :func:`kerascnn.visualize.model_diagram`
  (``engine="kerascnn"``, so the pictures do not depend on graphviz being installed). A new
  model page gets its diagram by linking ``![...](../img/models/NAME.png)`` and running this.
* The "Seeing inside" page (``docs/visualize.md``): feature maps, filters, Grad-CAM and a run's
  ``misclassified.png`` from LeNet-5 trained on the embedded digits; ROC and precision-recall
  curves from a two-class digits run (3 against 8, one epoch: good ranking, poor threshold); Grad-CAM of the trained and of a
  randomised CNN on the generated images of :mod:`kerascnn.visualize.synthetic`.

``--diagrams`` draws only the model diagrams (seconds per model); the rest trains for a few
minutes on a CPU. Figures printed at the end are the ones quoted in docs/visualize.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = os.path.join(ROOT, "docs", "img")
LINK = re.compile(r"img/models/([a-z0-9_]+)\.png")


def linked_diagrams() -> list:
    """The model names whose diagrams the pages of docs/ link to (``img/models/NAME.png``)."""
    names = []
    for folder, _, files in sorted(os.walk(os.path.join(ROOT, "docs"))):
        for page in sorted(files):
            if page.endswith(".md"):
                with open(os.path.join(folder, page), encoding="utf-8") as handle:
                    names += [name for name in LINK.findall(handle.read()) if name not in names]
    return names


def diagrams(names) -> None:
    import kerascnn
    from kerascnn.visualize import model_diagram

    os.makedirs(os.path.join(IMAGES, "models"), exist_ok=True)
    for name in names:
        model = kerascnn.build(name)
        path = os.path.join(IMAGES, "models", f"{name}.png")
        model_diagram(model, path, engine="kerascnn",
                      title=f"kerascnn.build({name!r}): {model.count_params():,} parameters")
        print(path)
        del model


def seeing_inside() -> None:
    import numpy as np

    from kerascnn.data import load_data
    from kerascnn.runtime import keras
    from kerascnn.train import load_run_model, train
    from kerascnn.runs import RunDirectory
    from kerascnn.visualize import feature_maps, filters, grad_cam
    from kerascnn.visualize.synthetic import CLASS_NAMES, object_images, peak_on, train_small_cnn

    out = os.path.join(IMAGES, "visualize")
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp()

    # LeNet-5 on the embedded digits (a short version of the default recipe)
    result = train("lenet5", "digits", epochs=20, out=os.path.join(work, "lenet5"), verbose=0)
    print(f"LeNet-5 on digits: test accuracy {result.test_accuracy:.2%}")
    shutil.copy(os.path.join(result.path, "misclassified.png"), os.path.join(out, "digits_misclassified.png"))
    model = load_run_model(RunDirectory(result.path))
    test = load_data("digits", (32, 32, 1)).test
    images = np.concatenate([np.asarray(batch) for batch, _ in test.batches(64)])
    labels = test.y
    feature_maps(model, images[0], path=os.path.join(out, "digits_feature_maps.png"))
    filters(model, path=os.path.join(out, "digits_filters.png"))
    chosen = [int(np.flatnonzero(labels == digit)[0]) for digit in range(10)]
    heatmaps, probabilities = grad_cam(model, images[chosen], layer="c3_conv", return_predictions=True)
    titles = [f"{labels[i]}: predicted {p.argmax()} ({p.max():.0%})" for i, p in zip(chosen, probabilities)]
    _overlay_grid([images[chosen], heatmaps], ["digit", "Grad-CAM at c3_conv"], titles,
                  os.path.join(out, "digits_grad_cam.png"))

    # two classes: digits 3 against 8
    data = load_data("digits", (32, 32, 1))
    x = np.concatenate([data.train.x, data.test.x])
    y = np.concatenate([data.train.y, data.test.y])
    keep = np.isin(y, (3, 8))
    binary = train("lenet5", (x[keep] / 16.0, (y[keep] == 8).astype(int)), epochs=1, augment="none",
                   out=os.path.join(work, "three_eight"), verbose=0)
    print(f"3 against 8: ROC AUC {binary.metrics['roc_auc']:.4f}, average precision "
          f"{binary.metrics['average_precision']:.4f}, accuracy {binary.test_accuracy:.2%}")
    for name in ("roc.png", "pr.png"):
        shutil.copy(os.path.join(binary.path, name), os.path.join(out, f"three_eight_{name}"))

    # generated images: where the class object is known
    small = train_small_cnn(seed=1)
    test_images, test_labels, places, distractors = object_images(200, seed=2)
    trained_maps = grad_cam(small, test_images, class_index=test_labels)
    keras.utils.set_random_seed(7)
    randomised = keras.models.clone_model(small)
    random_maps = grad_cam(randomised, test_images, class_index=test_labels)
    print(f"generated images: peak on the class object {peak_on(trained_maps, places).mean():.1%} trained, "
          f"{peak_on(random_maps, places).mean():.1%} randomised; on the distractor "
          f"{peak_on(trained_maps, distractors).mean():.1%}")
    shown = list(range(8))
    titles = [CLASS_NAMES[test_labels[i]] for i in shown]
    _overlay_grid([test_images[shown], trained_maps[shown], random_maps[shown]],
                  ["image (green: class object,\nwhite: distractor)", "Grad-CAM,\ntrained CNN",
                   "Grad-CAM,\nrandomised weights"], titles, os.path.join(out, "objects_grad_cam.png"),
                  boxes=(places[shown], distractors[shown]))


def _overlay_grid(rows, row_names, titles, path, boxes=None):
    """Columns of images; the first row plain, the others with a heatmap overlaid; a colour bar."""
    from matplotlib.patches import Rectangle

    from kerascnn.plots import _figure
    from kerascnn.runs import atomic_save
    from kerascnn.visualize.gradcam import colour_scale, display_image, overlay
    from kerascnn.visualize.synthetic import OBJECT

    images = rows[0]
    columns = len(images)
    figure = _figure(1.45 * columns + 1.9, 1.6 * len(rows) + 0.3)
    figure.set_layout_engine("constrained")
    grid = figure.subplots(len(rows), columns, squeeze=False)
    for row, (axes_row, name) in enumerate(zip(grid, row_names)):
        for column, axes in enumerate(axes_row):
            if row == 0:
                axes.imshow(display_image(images[column]), cmap="gray")
                axes.set_title(titles[column], fontsize=8)
            else:
                axes.imshow(overlay(images[column], rows[row][column]))
            if boxes is not None:
                for corners, colour, style in ((boxes[0], "#00d000", "-"), (boxes[1], "white", "--")):
                    y, x = corners[column]
                    axes.add_patch(Rectangle((x - 0.5, y - 0.5), OBJECT, OBJECT, fill=False, edgecolor=colour,
                                             linestyle=style, linewidth=1.2))
            axes.set_xticks([])
            axes.set_yticks([])
        axes_row[0].set_ylabel(name, fontsize=8)
    colour_scale(figure, grid[1:, -1].tolist() if len(rows) > 1 else grid[0, -1])
    atomic_save(path, lambda temporary: figure.savefig(temporary, format="png", dpi=100))
    print(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--diagrams", action="store_true", help="only the model diagrams")
    parser.add_argument("--models", nargs="*", default=None, metavar="NAME",
                        help="draw these diagrams (default: every one that docs/models/*.md links to)")
    args = parser.parse_args(argv)
    sys.path.insert(0, ROOT)
    diagrams(args.models if args.models else linked_diagrams())
    if not args.diagrams and args.models is None:
        seeing_inside()
    return 0


if __name__ == "__main__":
    sys.exit(main())
