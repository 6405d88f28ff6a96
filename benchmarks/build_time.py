"""Build time (graph + weight initialisation) of every registered model, against keras.applications.

For each model, kerascnn's builder and (where one exists: ResNet50/101/152, VGG16/19, InceptionV3, Xception)
keras.applications' constructor with ``weights=None`` are timed alternately, each build
after ``keras.backend.clear_session()``, after one warm-up build each. Medians and the
ratio are printed with the load average.

Then the cost of the weights' random initialisation alone: Keras's ``GlorotUniform``
(the default initializer of both libraries) on VGG-16's largest kernel, 25088 x 4096,
against NumPy drawing the same uniform distribution in float32. On a big model this
is most of the build time (VGG-16: 138 M random numbers).

Usage::

    python benchmarks/build_time.py                     # every registered model
    python benchmarks/build_time.py --models 'vgg*' resnet50 --rounds 3
    python benchmarks/build_time.py --tiny              # smoke test (seconds)
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def builders(name: str, size):
    """``{label: callable building the model from a clean session}``."""
    import kerascnn  # noqa: PLC0415 - after argument parsing (slow import)
    from kerascnn import bench  # noqa: PLC0415
    from kerascnn.runtime import keras  # noqa: PLC0415

    card = kerascnn.model_card(name)
    shape = bench.input_shape(name, size)

    def ours():
        keras.backend.clear_session()
        kerascnn.build(name, input_shape=shape, compile=False)

    found = {"kerascnn": ours}
    if name in bench.APPLICATIONS:
        def theirs():
            keras.backend.clear_session()
            bench.build_application(bench.APPLICATIONS[name], shape, card.num_classes)

        found["applications"] = theirs
    return found


def initializer_cost(shape=(25088, 4096), repeats=3) -> dict:
    """Seconds to draw one Glorot-uniform kernel: Keras's initializer vs NumPy float32."""
    import numpy as np  # noqa: PLC0415

    from kerascnn import bench  # noqa: PLC0415
    from kerascnn.runtime import keras  # noqa: PLC0415

    limit = float(np.sqrt(6.0 / (shape[0] + shape[1])))
    generator = np.random.default_rng(0)

    def with_keras():
        value = keras.initializers.GlorotUniform(seed=0)(shape)
        np.asarray(value)  # wait for the (possibly asynchronous) result

    def with_numpy():
        generator.uniform(-limit, limit, size=shape).astype(np.float32)

    def with_numpy_float32():
        (generator.random(shape, dtype=np.float32) * np.float32(2 * limit) - np.float32(limit))

    timings = bench.alternate({"keras GlorotUniform": with_keras, "numpy float64 uniform": with_numpy,
                               "numpy float32 random": with_numpy_float32}, rounds=repeats, warmup=1)
    rows = {}
    for label, timing in timings.items():
        rows[label] = round(timing.median, 3)
        print(f"initializer {shape}: {label:<24} {timing.median:6.2f} s (load {bench.load_average()})", flush=True)
    return rows


def run(patterns=("*",), rounds=3, size=None, initializer_shape=(25088, 4096)) -> dict:
    import kerascnn  # noqa: PLC0415
    from kerascnn import bench  # noqa: PLC0415

    names = []
    for pattern in patterns:
        names.extend(n for n in kerascnn.list_models(pattern) if n not in names)
    rows = []
    for name in names:
        timings = bench.alternate(builders(name, size), rounds=rounds, warmup=1)
        row = {"model": name, "load_average": bench.load_average()}
        row.update({f"{label}_s": round(timing.median, 3) for label, timing in timings.items()})
        if "applications" in timings:
            row["kerascnn_speedup"] = round(bench.ratio(timings, "kerascnn", "applications"), 3)
        rows.append(row)
        others = f"  applications {row['applications_s']:6.2f} s  kerascnn {row['kerascnn_speedup']:.2f}x" \
            if "applications_s" in row else ""
        print(f"build {name:<14} kerascnn {row['kerascnn_s']:6.2f} s{others} (load {row['load_average']})",
              flush=True)
    started = time.perf_counter()
    initializers = initializer_cost(initializer_shape, repeats=rounds)
    print(f"(initializer comparison took {time.perf_counter() - started:.1f} s)")
    return {"rows": rows, "initializers": initializers, "conditions": bench.conditions()}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=None, help="names or wildcards (default: every model)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=None, help="input side (default: each model's)")
    parser.add_argument("--tiny", action="store_true", help="smoke test: lenet5 and resnet18/50 on 32x32, one round")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the result as JSON")
    args = parser.parse_args(argv)
    if args.tiny:
        result = run(args.models or ["lenet5", "resnet50"], rounds=1, size=32, initializer_shape=(256, 128))
    else:
        result = run(args.models or ["*"], rounds=args.rounds, size=args.size)
    from kerascnn.bench import finish  # noqa: PLC0415

    return finish(result, args.json)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
