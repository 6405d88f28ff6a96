"""Inference images/s of kerascnn's ResNet-50, VGG-16 and GoogLeNet against keras.applications.

For each model and batch size, the contenders run alternately in one process after a
warm-up call each, and the medians are compared:

* ``kerascnn``: our model's ``predict_on_batch`` (the compiled inference function);
* ``kerascnn+xla``: the same model under ``tf.function(jit_compile=True)`` (TensorFlow only);
* ``kerascnn+fold``: BatchNorm folded into the convolutions (:func:`kerascnn.surgery.fold_batchnorm`);
  ``kerascnn+fold+xla``: both;
* ``applications`` and ``applications+xla``: keras.applications ResNet50 / VGG16 (there is no
  keras.applications GoogLeNet; InceptionV3 is a different network, so GoogLeNet is only
  compared with itself folded and under XLA);
* ``kecam``: keras-cv-attention-models' ResNet-50 (``AotNet50``, the plain ResNet-50), in
  the Keras 2 runtime only (``TF_USE_LEGACY_KERAS=1``);
* ``call``: our model called eagerly, ``model(x, training=False)`` (with ``--modes call``):
  the price of Python dispatch without a compiled function.

The script promises TensorFlow that no weight changes (``TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1``
unless set, as ``kerascnn evaluate``/``predict`` do), so oneDNN caches its reordered
weights, for every contender alike. Also prints the machine's fp32 matrix-product rate (NumPy, 4096^3) measured in the same run
and each contender's achieved GFLOP/s (2 x MACs of :func:`kerascnn.analysis.macs` per image)
as a fraction of it, and the load average after every result.

Usage::

    python benchmarks/inference.py                                   # resnet50 vgg16 googlenet, batch 1 16 64
    python benchmarks/inference.py --models resnet50 --batches 16 --rounds 5
    TF_USE_LEGACY_KERAS=1 python benchmarks/inference.py --models resnet50   # adds kecam
    python benchmarks/inference.py --tiny                            # smoke test (seconds)
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODES = ("predict", "xla", "fold", "fold+xla", "call")


def contenders(name: str, shape, classes: int, modes, with_apps: bool = True) -> dict:
    """``{label: model-like callable on a batch}`` for one architecture."""
    import kerascnn  # noqa: PLC0415 - after argument parsing (slow import)
    from kerascnn import bench, runtime  # noqa: PLC0415

    ours = kerascnn.build(name, input_shape=shape, num_classes=classes, compile=False)
    models = {"kerascnn": ours}
    has_batchnorm = any("BatchNormalization" in type(layer).__name__ for layer in ours.layers)
    if has_batchnorm and ("fold" in modes or "fold+xla" in modes):
        from kerascnn.surgery import fold_batchnorm  # noqa: PLC0415

        models["kerascnn+fold"] = fold_batchnorm(ours)
    if with_apps and name in bench.APPLICATIONS:
        models["applications"] = bench.build_application(bench.APPLICATIONS[name], shape, classes)
    if with_apps and name == "resnet50" and not runtime.IS_KERAS3:
        from keras_cv_attention_models.aotnet import AotNet50  # noqa: PLC0415 - Keras 2 only

        models["kecam"] = AotNet50(input_shape=shape, num_classes=classes, pretrained=None)
    plain = {"kerascnn": "predict", "kerascnn+fold": "fold", "applications": "predict", "kecam": "predict"}
    compiled = {"kerascnn": "xla", "kerascnn+fold": "fold+xla", "applications": "xla", "kecam": "xla"}
    functions = {}
    for label, model in models.items():
        if plain[label] in modes:
            functions[label] = bench.inference_function(model)
        if compiled[label] in modes and runtime.BACKEND == "tensorflow":
            functions[label + "+xla"] = bench.xla_function(model)
    if "call" in modes:
        functions["kerascnn call"] = bench.eager_function(ours)
    return functions, ours


def run(models=("resnet50", "vgg16", "googlenet"), batches=(1, 16, 64), rounds=3, size=None,
        modes=("predict", "xla", "fold", "fold+xla"), matmul_size=4096) -> dict:
    from kerascnn import bench  # noqa: PLC0415
    import kerascnn  # noqa: PLC0415

    peak = bench.matmul_gflops(matmul_size, library="numpy")
    print(f"matrix product NumPy fp32 {matmul_size}^3: {peak:.1f} GFLOP/s (load {bench.load_average()})",
          flush=True)
    rows = []
    for name in models:
        card = kerascnn.model_card(name)
        shape = bench.input_shape(name, size)
        functions, ours = contenders(name, shape, card.num_classes, modes)
        gflop = bench.model_gflop(ours)
        for batch in batches:
            images = bench.random_images(batch, shape)
            timings = bench.alternate({k: bench.bound(f, images) for k, f in functions.items()},
                                      rounds=rounds, warmup=1, items=batch)
            rows.extend(bench.report(name, batch, timings, gflop, peak, "kerascnn"))
    return {"matmul_gflops": round(peak, 1), "rows": rows, "conditions": bench.conditions()}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=None, help="registered names (default resnet50 vgg16 googlenet)")
    parser.add_argument("--batches", nargs="+", type=int, default=None, help="batch sizes (default 1 16 64)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians over them")
    parser.add_argument("--size", type=int, default=None, help="input side (default: the model's, 224)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=["predict", "xla", "fold", "fold+xla"])
    parser.add_argument("--tiny", action="store_true", help="smoke test: resnet50 on 32x32, batch 1, one round")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the result as JSON")
    args = parser.parse_args(argv)
    from kerascnn import _startup  # noqa: PLC0415 - light; Keras is imported later

    # An inference-only process: oneDNN may keep its reordered weights (TF_ONEDNN_ASSUME_FROZEN_WEIGHTS;
    # set it to 0 to time the uncached path). Every contender shares the setting.
    _startup.declare_inference_only()
    if args.tiny:
        settings = dict(models=args.models or ["resnet50"], batches=args.batches or [1], rounds=1,
                        size=32, modes=args.modes, matmul_size=256)
    else:
        settings = dict(models=args.models or ["resnet50", "vgg16", "googlenet"],
                        batches=args.batches or [1, 16, 64], rounds=args.rounds, size=args.size,
                        modes=args.modes)
    result = run(**settings)
    from kerascnn.bench import finish  # noqa: PLC0415

    return finish(result, args.json)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
