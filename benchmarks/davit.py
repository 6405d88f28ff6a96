"""Training-step and inference images/s of kerascnn's native DaViT-T against kecam's, runtime by runtime.

kecam's DaViT runs only on Keras 2, and a process has one runtime, so every contender runs
in its own process: the driver starts them one after the other, in alternating order from
round to round (a drift of the machine's load falls on all alike), and compares the
medians over rounds. Contenders:

* ``native-tf``: ``kerascnn.davit_t`` on Keras 3, TensorFlow backend (the default runtime);
* ``native-jax``: the same on Keras 3, JAX backend (``KERAS_BACKEND=jax``);
* ``kecam``: keras-cv-attention-models' ``DaViT_T`` on Keras 2 (``TF_USE_LEGACY_KERAS=1``);
* ``native-keras2``: ``kerascnn.davit_t`` on Keras 2 too: the same TensorFlow graph engine as
  kecam's, so it separates "our layers" from "Keras 3" when native-tf and kecam differ;
* ``layernorm-keras3`` / ``layernorm-keras2`` (not run by default): a probe, 12 LayerNorm
  layers on a stage-1 feature map (``size / 4`` square, 96 channels) and a 1000-class head, in
  each runtime: Keras 3 computes LayerNorm from ``moments`` and element-wise ops, Keras 2 with
  TensorFlow's fused batch-norm kernel.

Each process builds its model (random weights, 1000 classes, ``--size`` square input), times
``--steps`` calls of ``train_on_batch`` (SGD with momentum, sparse cross-entropy) and of
``predict_on_batch`` on one random batch after ``--warmup`` calls of each (Keras' default
compilation: a traced ``tf.function`` on TensorFlow, ``jax.jit`` on JAX) and prints one JSON
line. The driver prints images/s per round, the medians and the ratios to kecam's.

Usage::

    python benchmarks/davit.py                               # batch 16, 224x224, 3 rounds
    python benchmarks/davit.py --rounds 2 --steps 5 --batch 8
    python benchmarks/davit.py --contenders native-tf kecam --json davit.json
    python benchmarks/davit.py --contenders layernorm-keras3 layernorm-keras2 --batch 16
    python benchmarks/davit.py --tiny                        # smoke test (64x64, batch 2, 1 round)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: contender -> environment of its process
CONTENDERS = {
    "native-tf": {"KERAS_BACKEND": "tensorflow", "TF_USE_LEGACY_KERAS": "0"},
    "native-jax": {"KERAS_BACKEND": "jax", "TF_USE_LEGACY_KERAS": "0"},
    "kecam": {"TF_USE_LEGACY_KERAS": "1"},
    "native-keras2": {"TF_USE_LEGACY_KERAS": "1"},
    "layernorm-keras3": {"KERAS_BACKEND": "tensorflow", "TF_USE_LEGACY_KERAS": "0"},
    "layernorm-keras2": {"TF_USE_LEGACY_KERAS": "1"},
}
DEFAULT = ("native-tf", "native-jax", "kecam", "native-keras2")
LEGACY = ("kecam", "native-keras2", "layernorm-keras2")


def build(contender: str, size: int):
    """The DaViT-T of ``contender`` in this process's runtime (or the LayerNorm probe)."""
    from kerascnn.runtime import keras  # noqa: PLC0415

    if contender.startswith("layernorm"):
        x = inputs = keras.Input((size // 4, size // 4, 96))
        for _ in range(12):
            x = keras.layers.LayerNormalization(epsilon=1e-5)(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(1000, activation="softmax")(x))
    if contender == "kecam":
        from keras_cv_attention_models import davit  # noqa: PLC0415 - Keras 2 only

        return davit.DaViT_T(input_shape=(size, size, 3), pretrained=None)
    import kerascnn  # noqa: PLC0415

    return kerascnn.davit_t(input_shape=(size, size, 3), compile=False)


def worker(contender: str, size: int, batch: int, steps: int, warmup: int) -> dict:
    """Time one contender in this process; returns images/s of a training step and of inference."""
    import numpy as np  # noqa: PLC0415

    from kerascnn import bench, runtime  # noqa: PLC0415
    from kerascnn.runtime import keras  # noqa: PLC0415

    model = build(contender, size)
    images = bench.random_images(batch, tuple(model.input_shape[1:]))
    labels = bench.random_labels(batch, 1000)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
    result = {"contender": contender, "runtime": runtime.describe(), "batch": batch, "size": size}
    for label, call in (("train", lambda: model.train_on_batch(images, labels)),
                        ("inference", lambda: model.predict_on_batch(images))):
        started = time.perf_counter()
        for _ in range(warmup):
            call()
        result[f"{label}_warmup_s"] = time.perf_counter() - started
        seconds = []
        for _ in range(steps):
            start = time.perf_counter()
            np.asarray(call())
            seconds.append(time.perf_counter() - start)
        result[f"{label}_images_per_s"] = batch / statistics.median(seconds)
    result["load"] = bench.load_average()
    return result


def run_process(contender: str, args) -> dict:
    env = {**os.environ, **CONTENDERS[contender], "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if contender in LEGACY:
        env.pop("KERAS_BACKEND", None)
    command = [sys.executable, os.path.abspath(__file__), "--worker", contender, "--size", str(args.size),
               "--batch", str(args.batch), "--steps", str(args.steps), "--warmup", str(args.warmup)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{contender} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(lines[-1])


def drive(args) -> dict:
    rounds = {name: [] for name in args.contenders}
    for index in range(args.rounds):
        order = args.contenders if index % 2 == 0 else args.contenders[::-1]
        for name in order:
            result = run_process(name, args)
            rounds[name].append(result)
            print(f"round {index + 1} {name:14s} train {result['train_images_per_s']:7.2f} img/s  "
                  f"inference {result['inference_images_per_s']:7.2f} img/s  ({result['runtime']}, "
                  f"load {result['load']})", flush=True)
    summary = {}
    for name, results in rounds.items():
        summary[name] = {kind: statistics.median(r[f"{kind}_images_per_s"] for r in results)
                         for kind in ("train", "inference")}
    print(f"\nmedians over {args.rounds} round(s), batch {args.batch}, {args.size}x{args.size}:")
    for name, medians in summary.items():
        ratios = ""
        if "kecam" in summary and name != "kecam":
            ratios = "  vs kecam: " + ", ".join(f"{kind} x{medians[kind] / summary['kecam'][kind]:.2f}"
                                                for kind in ("train", "inference"))
        print(f"  {name:14s} train {medians['train']:7.2f}  inference {medians['inference']:7.2f}{ratios}")
    data = {"batch": args.batch, "size": args.size, "steps": args.steps, "rounds": rounds, "medians": summary}
    if args.json:
        from kerascnn.bench import write_json  # noqa: PLC0415

        write_json(args.json, data)
    return data


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contenders", nargs="+", default=list(DEFAULT), choices=list(CONTENDERS))
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--tiny", action="store_true", help="smoke test: 64x64, batch 2, 2 steps, 1 round")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tiny:
        args.size, args.batch, args.steps, args.warmup, args.rounds = 64, 2, 2, 1, 1
    if args.worker:
        result = worker(args.worker, args.size, args.batch, args.steps, args.warmup)
        print(json.dumps(result), flush=True)
        return result
    return drive(args)


if __name__ == "__main__":
    main()
