"""Training-step images/s of kerascnn's ResNet-50, VGG-16 and GoogLeNet against keras.applications.

One SGD step (momentum 0.9, sparse categorical cross-entropy) through ``train_on_batch``,
for each contender alternately in one process after a warm-up step each: ``kerascnn``,
``applications`` (ResNet50 / VGG16; none for GoogLeNet), ``kecam`` (its plain ResNet-50,
``AotNet50``, in the Keras 2 runtime only), each also with ``jit_compile=True``
(``+xla``, TensorFlow only) when ``--xla`` is given. A training step is counted as three
forward passes of FLOPs (forward, gradient of the input, gradient of the weights) for the
achieved GFLOP/s, compared with the matrix-product rate measured in the same run.

Usage::

    python benchmarks/training.py                       # resnet50 vgg16 googlenet, batch 16
    python benchmarks/training.py --models resnet50 --batches 16 32 --xla
    python benchmarks/training.py --tiny                # smoke test (seconds)
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def models_for(name: str, shape, classes: int, copies: int = 1) -> dict:
    """``{label: model}``: ours, keras.applications' and (Keras 2) kecam's of one architecture."""
    import kerascnn  # noqa: PLC0415 - after argument parsing (slow import)
    from kerascnn import bench, runtime  # noqa: PLC0415

    found = {}
    for copy in range(copies):
        suffix = "" if copy == 0 else "+xla"
        found["kerascnn" + suffix] = kerascnn.build(name, input_shape=shape, num_classes=classes, compile=False)
        if name in bench.APPLICATIONS:
            found["applications" + suffix] = bench.build_application(bench.APPLICATIONS[name], shape, classes)
        if name == "resnet50" and not runtime.IS_KERAS3:
            from keras_cv_attention_models.aotnet import AotNet50  # noqa: PLC0415 - Keras 2 only

            found["kecam" + suffix] = AotNet50(input_shape=shape, num_classes=classes, pretrained=None)
    return found


def run(models=("resnet50", "vgg16", "googlenet"), batches=(16,), rounds=3, size=None, xla=False,
        matmul_size=4096) -> dict:
    import kerascnn  # noqa: PLC0415
    from kerascnn import bench, runtime  # noqa: PLC0415

    peak = bench.matmul_gflops(matmul_size, library="numpy")
    print(f"matrix product NumPy fp32 {matmul_size}^3: {peak:.1f} GFLOP/s (load {bench.load_average()})",
          flush=True)
    rows = []
    copies = 2 if xla and runtime.BACKEND == "tensorflow" else 1
    for name in models:
        card = kerascnn.model_card(name)
        shape = bench.input_shape(name, size)
        found = models_for(name, shape, card.num_classes, copies)
        gflop = bench.model_gflop(found["kerascnn"])
        for batch in batches:
            images = bench.random_images(batch, shape)
            labels = bench.random_labels(batch, card.num_classes)
            steps = {label: bench.training_function(model, images, labels, xla=label.endswith("+xla"))
                     for label, model in found.items()}
            timings = bench.alternate(steps, rounds=rounds, warmup=1, items=batch)
            rows.extend(bench.report(name, batch, timings, gflop, peak, "kerascnn", factor=3))
    return {"matmul_gflops": round(peak, 1), "rows": rows, "conditions": bench.conditions()}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=None, help="registered names (default resnet50 vgg16 googlenet)")
    parser.add_argument("--batches", nargs="+", type=int, default=None, help="batch sizes (default 16)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians over them")
    parser.add_argument("--size", type=int, default=None, help="input side (default: the model's, 224)")
    parser.add_argument("--xla", action="store_true", help="also time every contender with jit_compile=True")
    parser.add_argument("--tiny", action="store_true", help="smoke test: resnet50 on 32x32, batch 2, one round")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the result as JSON")
    args = parser.parse_args(argv)
    if args.tiny:
        settings = dict(models=args.models or ["resnet50"], batches=args.batches or [2], rounds=1, size=32,
                        xla=args.xla, matmul_size=256)
    else:
        settings = dict(models=args.models or ["resnet50", "vgg16", "googlenet"], batches=args.batches or [16],
                        rounds=args.rounds, size=args.size, xla=args.xla)
    result = run(**settings)
    from kerascnn.bench import finish  # noqa: PLC0415

    return finish(result, args.json)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
