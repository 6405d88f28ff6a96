"""Precision-aware inference and training: what ``kerascnn.deploy`` gains on this machine.

Inference (default): for each model and batch size, in one process, alternating, after a
warm-up call each (medians of ``--rounds``):

* ``applications``: keras.applications' model in float32 (ResNet50, VGG16; none for GoogLeNet);
* ``kerascnn``: our model in float32; ``kerascnn+fold``: BatchNorm folded (float32);
* ``kerascnn+P``: :func:`kerascnn.deploy.optimize` in precision ``P`` (folded, computing in P),
  for each precision of ``--precisions`` (default: the one this machine's rule picks, if not float32).

Each contender's achieved GFLOP/s is given as a fraction of the matrix-product rate in its
own precision (TensorFlow fp32 / bf16, 4096^3, measured in the same run). The process
promises oneDNN that no weight changes (``TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1``), as
``kerascnn evaluate`` does; so training is measured in another process:

``--train``: one training step (SGD, ``train_on_batch``) of our model built under each dtype
policy (``float32`` and ``mixed_P``), alternating, plus keras.applications' fp32 model; under
``mixed_P`` also with BatchNorm through TensorFlow's fused kernel (``+fusedbn``, what
``kerascnn train`` runs: :func:`kerascnn.deploy.use_fused_batchnorm`).

``--torch PYTHON``: also runs ``benchmarks/torch_resnet50.py`` with that Python (a venv with
torch and torchvision; torch is no dependency of kerascnn) in its own process after ours.

Usage::

    python benchmarks/precision.py                                      # resnet50 vgg16 googlenet, batch 1 16 64
    python benchmarks/precision.py --models resnet50 --batches 16 --rounds 3
    python benchmarks/precision.py --train --models resnet50 --batches 16
    python benchmarks/precision.py --train --models resnet50 --batches 16 --torch /work/venv-torch/bin/python
    python benchmarks/precision.py --tiny                               # smoke test (seconds)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def machine(matmul_size: int, precisions) -> dict:
    """Print and return the CPU's features, the precision rule's choice and the matrix-product rates."""
    from kerascnn import bench, deploy  # noqa: PLC0415

    hardware = deploy.detect()
    choice = deploy.choose_precision(hardware)
    peaks = {"float32": bench.matmul_gflops(matmul_size, library="tensorflow")}
    for precision in precisions:
        if precision != "float32":
            peaks[precision] = bench.matmul_gflops(matmul_size, library="tensorflow", dtype=precision)
    print(f"device: {hardware.describe()}")
    print(f"precision rule: {choice.precision} ({choice.reason})")
    print("matrix product (TensorFlow, %d^3): %s (load %s)" % (
        matmul_size, ", ".join(f"{p} {rate:.1f} GFLOP/s" for p, rate in peaks.items()), bench.load_average()),
        flush=True)
    return {"device": hardware.describe(), "rule": choice.precision, "reason": choice.reason,
            "matmul_gflops": {p: round(rate, 1) for p, rate in peaks.items()}}


def inference(name, shape, batches, rounds, precisions, peaks) -> list:
    import kerascnn  # noqa: PLC0415
    from kerascnn import bench  # noqa: PLC0415
    from kerascnn.deploy import optimize  # noqa: PLC0415
    from kerascnn.surgery import fold_batchnorm  # noqa: PLC0415

    ours = kerascnn.build(name, input_shape=shape, num_classes=1000, compile=False)
    models = {"kerascnn": ours}
    if name in bench.APPLICATIONS:
        models["applications"] = bench.build_application(bench.APPLICATIONS[name], shape, 1000)
    if any("BatchNormalization" in type(layer).__name__ for layer in ours.layers):
        models["kerascnn+fold"] = fold_batchnorm(ours)
    for precision in precisions:
        models[f"kerascnn+{precision}"] = optimize(ours, precision=precision)
    gflop = bench.model_gflop(ours)
    own_peaks = {who: peaks[who.split("+")[1]] for who in models if who.split("+")[-1] in peaks}
    rows = []
    for batch in batches:
        images = bench.random_images(batch, shape)
        functions = {who: bench.bound(bench.inference_function(model), images) for who, model in models.items()}
        timings = bench.alternate(functions, rounds=rounds, warmup=1, items=batch)
        rows += bench.report(f"infer {name}", batch, timings, gflop, peaks["float32"], "applications"
                             if "applications" in timings else "kerascnn", peaks=own_peaks)
    return rows


def training(name, shape, batches, rounds, precisions, peaks) -> list:
    import kerascnn  # noqa: PLC0415
    from kerascnn import bench  # noqa: PLC0415
    from kerascnn.deploy import use_fused_batchnorm  # noqa: PLC0415
    from kerascnn.deploy.precision import POLICIES  # noqa: PLC0415
    from kerascnn.runtime import keras  # noqa: PLC0415

    rows = []
    for batch in batches:
        images, labels = bench.random_images(batch, shape), bench.random_labels(batch, 1000)
        functions = {}
        for precision in ["float32", *[p for p in precisions if p != "float32"]]:
            keras.mixed_precision.set_global_policy(POLICIES[precision])
            try:
                model = kerascnn.build(name, input_shape=shape, num_classes=1000, compile=False)
            finally:
                keras.mixed_precision.set_global_policy("float32")
            functions[f"kerascnn {POLICIES[precision]}"] = bench.training_function(model, images, labels)
            if precision != "float32":  # what kerascnn train runs: BatchNorm through the fused kernel
                keras.mixed_precision.set_global_policy(POLICIES[precision])
                try:
                    fused = kerascnn.build(name, input_shape=shape, num_classes=1000, compile=False)
                finally:
                    keras.mixed_precision.set_global_policy("float32")
                if use_fused_batchnorm(fused):
                    functions[f"kerascnn {POLICIES[precision]}+fusedbn"] = bench.training_function(
                        fused, images, labels)
        if name in bench.APPLICATIONS:
            functions["applications"] = bench.training_function(
                bench.build_application(bench.APPLICATIONS[name], shape, 1000), images, labels)
        timings = bench.alternate(functions, rounds=rounds, warmup=2, items=batch)
        own_peaks = {who: peaks[p] for p in peaks for who in functions if who.startswith(f"kerascnn {POLICIES[p]}")}
        rows += bench.report(f"train {name}", batch, timings, bench.model_gflop(model), peaks["float32"],
                             "kerascnn float32", factor=3, peaks=own_peaks)
    return rows


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["resnet50", "vgg16", "googlenet"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 16, 64])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=None, help="input height and width (default: the model's)")
    parser.add_argument("--precisions", nargs="+", default=None,
                        help="optimize contenders (default: the precision this machine's rule picks)")
    parser.add_argument("--train", action="store_true", help="training steps instead of inference")
    parser.add_argument("--torch", default=None, metavar="PYTHON", help="also run benchmarks/torch_resnet50.py")
    parser.add_argument("--matmul-size", type=int, default=4096)
    parser.add_argument("--json", default=None)
    parser.add_argument("--tiny", action="store_true", help="smoke test: resnet50 at 32x32, batch 2, 1 round")
    args = parser.parse_args(argv)
    if args.tiny:
        args.models, args.batches, args.rounds, args.size, args.matmul_size = ["resnet50"], [2], 1, 32, 256
    if not args.train:
        from kerascnn import _startup  # noqa: PLC0415

        _startup.declare_inference_only()  # before TensorFlow is imported
    from kerascnn import bench, deploy  # noqa: PLC0415

    precisions = args.precisions
    if precisions is None:
        chosen = deploy.choose_precision(deploy.detect()).precision
        precisions = [] if chosen == "float32" else [chosen]
    result = {"machine": machine(args.matmul_size, precisions), "rows": []}
    measure = training if args.train else inference
    for name in args.models:
        shape = bench.input_shape(name, args.size)
        result["rows"] += measure(name, shape, args.batches, args.rounds, precisions,
                                  result["machine"]["matmul_gflops"])
    result["conditions"] = bench.conditions()
    bench.finish(result, args.json)
    if args.torch:
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_resnet50.py")
        command = [args.torch, script, "--batches", *map(str, args.batches), "--rounds", str(args.rounds)]
        if args.train:
            command.append("--train")
        if args.size:
            command += ["--size", str(args.size)]
        subprocess.run(command, check=True)
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
