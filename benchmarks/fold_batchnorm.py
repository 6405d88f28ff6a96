"""Inference throughput before and after folding BatchNorm into the convolutions.

Builds a model (a kerascnn builder name, or ``applications:ResNet50`` for keras.applications),
gives its BatchNorm layers random statistics, folds them with
:func:`kerascnn.surgery.fold_batchnorm`, checks that both models agree, then times
``predict_on_batch`` (the compiled inference function) on the same batch, alternating
original and folded model round after round so that both see the same machine load.
Prints the median images/s of each, their ratio, the median of the per-round ratios (the
more robust figure on a shared machine) and the conditions of the measurement.

Usage (any runtime: default Keras 3/TensorFlow, ``KERAS_BACKEND=jax``, ``TF_USE_LEGACY_KERAS=1``)::

    python benchmarks/fold_batchnorm.py --model resnet50 --size 224 --batch 32 --rounds 7
    python benchmarks/fold_batchnorm.py --model applications:ResNet50 --size 224
    python benchmarks/fold_batchnorm.py --model resnet18 --size 32 --batch 2 --rounds 2 --calls 1  # smoke test

Not part of the test run (tests/test_surgery_benchmark.py only checks that it runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np


def build(name: str, size: int, classes: int):
    """The model to measure: a kerascnn builder name or ``applications:<Name>``."""
    from kerascnn.runtime import keras  # noqa: PLC0415 - after argument parsing (slow import)

    shape = (size, size, 3)
    if name.startswith("applications:"):
        constructor = getattr(keras.applications, name.split(":", 1)[1])
        return constructor(weights=None, input_shape=shape, classes=classes)
    import kerascnn  # noqa: PLC0415

    return kerascnn.build(name, input_shape=shape, num_classes=classes, compile=False)


def throughput(model, batch, calls: int) -> float:
    """Images per second of ``calls`` compiled inference calls on ``batch``."""
    start = time.perf_counter()
    for _ in range(calls):
        model.predict_on_batch(batch)
    return calls * len(batch) / (time.perf_counter() - start)


def conditions() -> dict:
    """Where the figures were measured (so a reader can judge them)."""
    from kerascnn import runtime  # noqa: PLC0415

    devices = "cpu"
    if runtime.BACKEND == "tensorflow":
        import tensorflow as tf  # noqa: PLC0415 - the backend in use

        gpus = tf.config.list_physical_devices("GPU")
        devices = ", ".join(g.name for g in gpus) or "cpu"
    elif runtime.BACKEND == "jax":
        import jax  # noqa: PLC0415 - the backend in use

        devices = ", ".join(sorted({d.platform for d in jax.devices()}))
    return {
        "runtime": runtime.describe(),
        "devices": devices,
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


def run(model_name="resnet50", size=224, batch_size=32, rounds=7, calls=3, classes=1000, seed=0) -> dict:
    """Measure; return a dict with both medians, the ratio and the conditions."""
    from kerascnn.surgery import fold_batchnorm, randomize_batchnorm  # noqa: PLC0415

    model = build(model_name, size, classes)
    randomize_batchnorm(model, seed)
    start = time.perf_counter()
    folded, report = fold_batchnorm(model, report=True)
    fold_seconds = time.perf_counter() - start
    batch = np.random.default_rng(seed).normal(size=(batch_size, size, size, 3)).astype("float32")
    difference = float(np.max(np.abs(model.predict_on_batch(batch) - folded.predict_on_batch(batch))))
    for m in (model, folded):  # warm up: compile and run once more
        throughput(m, batch, 1)
    before, after = [], []
    for index in range(rounds):
        pair = [(model, before), (folded, after)]
        for m, results in pair if index % 2 == 0 else pair[::-1]:
            results.append(throughput(m, batch, calls))
    median_before, median_after = statistics.median(before), statistics.median(after)
    return {
        "model": model_name,
        "input": [size, size, 3],
        "batch": batch_size,
        "rounds": rounds,
        "calls_per_round": calls,
        "batchnorm_folded": len(report["folded"]),
        "batchnorm_kept": len(report["kept"]),
        "layers_before": len(model.layers),
        "layers_after": len(folded.layers),
        "max_abs_difference": difference,
        "fold_seconds": round(fold_seconds, 2),
        "images_per_s_before": round(median_before, 2),
        "images_per_s_after": round(median_after, 2),
        "speedup": round(median_after / median_before, 3),
        "median_round_ratio": round(statistics.median(a / b for a, b in zip(after, before)), 3),
        "best_before": round(max(before), 2),
        "best_after": round(max(after), 2),
        "all_before": [round(v, 2) for v in before],
        "all_after": [round(v, 2) for v in after],
        "conditions": conditions(),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet50", help="kerascnn model name or applications:<Name>")
    parser.add_argument("--size", type=int, default=224, help="input height and width")
    parser.add_argument("--batch", type=int, default=32, help="images per inference call")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (medians over them)")
    parser.add_argument("--calls", type=int, default=3, help="inference calls per model per round")
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = parser.parse_args(argv)
    result = run(args.model, args.size, args.batch, args.rounds, args.calls, args.classes)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['model']} {result['input']} batch {result['batch']}: "
              f"{result['batchnorm_folded']} BatchNorm folded ({result['layers_before']} -> "
              f"{result['layers_after']} layers), max |difference| {result['max_abs_difference']:.2e}")
        print(f"before: {result['images_per_s_before']:.1f} images/s   after: "
              f"{result['images_per_s_after']:.1f} images/s   ratio after/before: {result['speedup']:.3f} "
              f"(median of the per-round ratios: {result['median_round_ratio']:.3f}; best rounds "
              f"{result['best_before']:.1f} -> {result['best_after']:.1f} images/s)")
        print(f"medians of {result['rounds']} alternating rounds x {result['calls_per_round']} calls; "
              f"{json.dumps(result['conditions'])}")
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
