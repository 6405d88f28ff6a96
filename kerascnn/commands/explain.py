"""``kerascnn explain RUN IMAGE...``: top classes, Grad-CAM overlay and feature maps for each image.

For each image the command prints the top classes with their probabilities and writes two
PNGs to ``--out``: ``NAME_gradcam.png`` (the image, the Grad-CAM overlay of the predicted
class, the top-k probabilities) and ``NAME_features.png`` (the feature maps of each stage's
last convolution, or of ``--layer``). It works on the runs of ``kerascnn train`` and
``kerascnn finetune``; a run written by Keras 2 (a kecam backbone) is explained in a Keras 2
process, as ``finetune`` does.
"""

from __future__ import annotations

import os
import subprocess
import sys

from kerascnn.commands.train import add_inference_flags, inference_transform


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "explain", help="show where a run's model looks: top classes, Grad-CAM overlay, feature maps",
        description="For each IMAGE: print the top classes with probabilities and write OUT/NAME_gradcam.png "
                    "(Grad-CAM of the predicted class, Selvaraju et al. 2017) and OUT/NAME_features.png "
                    "(feature maps). See docs/visualize.md.")
    parser.add_argument("run", help="a run directory written by `kerascnn train` or `kerascnn finetune`")
    parser.add_argument("images", nargs="+", metavar="IMAGE",
                        help="image files (png, jpg, bmp, gif) or folders (every image under them)")
    parser.add_argument("--out", default="explain", help="folder for the PNGs (default ./explain)")
    parser.add_argument("--layer", default=None, metavar="NAME",
                        help="the layer for Grad-CAM and the feature maps (default: Grad-CAM on the last map, "
                             "feature maps of each stage's last convolution)")
    parser.add_argument("--top", type=int, default=3, metavar="K", help="classes to show per image (default 3)")
    add_inference_flags(parser)  # the optimized model by default (BatchNorm folded: name a conv, not a BN layer)
    parser.set_defaults(handler=run_explain)


def run_explain(args) -> int:
    from kerascnn import runs  # noqa: PLC0415 - reads no Keras
    from kerascnn.commands.finetune import LEGACY, _legacy_requested  # noqa: PLC0415

    config = runs.RunDirectory(args.run).config()
    if config.get("keras") == "tf_keras" and not _legacy_requested():
        if "tensorflow" not in sys.modules and "keras" not in sys.modules:
            os.environ[LEGACY] = "1"
        else:
            argv = ["explain", args.run, *args.images, "--out", args.out, "--top", str(args.top)]
            argv += ["--layer", args.layer] if args.layer else []
            return subprocess.run([sys.executable, "-m", "kerascnn.cli", *argv], env={**os.environ, LEGACY: "1"},
                                  check=False).returncode
    return _explain(args, config)


def load_model(run_path: str):
    """The model ``explain`` runs: the run's best ``model.keras`` (one place to change it)."""
    from kerascnn import runs  # noqa: PLC0415
    from kerascnn.train import load_run_model  # noqa: PLC0415

    return load_run_model(runs.RunDirectory(run_path))


def _explain(args, config) -> int:
    from kerascnn import runs, visualize  # noqa: PLC0415
    from kerascnn.data import image_files, read_images  # noqa: PLC0415
    from kerascnn.errors import check_int  # noqa: PLC0415
    from kerascnn.reports import top_classes  # noqa: PLC0415
    from kerascnn.train import image_scale  # noqa: PLC0415
    from kerascnn.visualize.capture import find_layer, last_spatial_layer  # noqa: PLC0415

    check_int("--top", args.top)
    runs.check_writable(args.out, "--out")
    model = inference_transform(args, [])(load_model(args.run))
    layer = find_layer(model, args.layer) if args.layer else None
    layer_name = layer.name if layer else last_spatial_layer(model)[0]
    paths = image_files(args.images)
    images = read_images(paths, tuple(model.input_shape[1:4]), image_scale(config.get("recipe", {})))
    heatmaps, probabilities = visualize.grad_cam(model, images, layer=layer, return_predictions=True)
    names = list(config.get("class_names") or [])
    os.makedirs(args.out, exist_ok=True)
    stems = [os.path.splitext(os.path.basename(path))[0] for path in paths]
    for index, (path, stem) in enumerate(zip(paths, stems)):
        if stems.count(stem) > 1:
            stem = f"{index}_{stem}"
        top = top_classes(probabilities[index], names, args.top)
        print(f"{path}: " + ", ".join(f"{name} {probability:.1%}" for name, probability in top))
        gradcam_path = os.path.join(args.out, f"{stem}_gradcam.png")
        _draw(images[index], heatmaps[index], top, layer_name, gradcam_path)
        features_path = os.path.join(args.out, f"{stem}_features.png")
        visualize.feature_maps(model, images[index], layers=[layer] if layer else None, path=features_path)
        print(f"  {gradcam_path}\n  {features_path}")
        if not heatmaps[index].any():
            print(f"  the Grad-CAM map at {layer_name} is empty: no position there adds evidence for the predicted "
                  "class (every channel's weighted sum is negative); an earlier layer (--layer) may show more")
    return 0


def _draw(image, heatmap, top, layer_name, path) -> None:
    from kerascnn.plots import _figure  # noqa: PLC0415
    from kerascnn.runs import atomic_save  # noqa: PLC0415
    from kerascnn.visualize.gradcam import colour_scale, display_image, overlay  # noqa: PLC0415

    figure = _figure(10, 3.6)
    figure.set_layout_engine("constrained")  # keeps the two-line title and the colour bar inside
    axes = figure.add_subplot(1, 3, 1)
    picture = display_image(image)
    axes.imshow(picture, cmap="gray" if picture.ndim == 2 else None)
    axes.set_title("input", fontsize=10)
    axes.axis("off")
    axes = figure.add_subplot(1, 3, 2)
    axes.imshow(overlay(image, heatmap))
    axes.set_title(f"Grad-CAM of {top[0][0]!r}\nat {layer_name}", fontsize=9)
    axes.axis("off")
    colour_scale(figure, axes)
    axes = figure.add_subplot(1, 3, 3)
    labels = [name[:16] for name, _ in top][::-1]
    axes.barh(labels, [probability for _, probability in top][::-1], color="#4a7ab5")
    axes.set_xlim(0, 1)
    axes.set_xlabel("probability")
    axes.set_title(f"top {len(top)}", fontsize=10)
    atomic_save(path, lambda temporary: figure.savefig(temporary, format="png"))
