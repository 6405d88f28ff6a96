"""Peak memory of a training step: kerascnn against keras.applications, one fresh process each.

``tracemalloc`` does not see TensorFlow's allocations, so each contender runs in its own
subprocess, which builds the model, records its resident set size, runs ``--steps``
SGD training steps through ``train_on_batch``, and reports the process's peak resident
set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``). The figures: peak RSS, RSS after
the build, and their difference (what the training step itself needed: activations kept
for the backward pass, gradients, optimizer slots, the compiled function).

Usage::

    python benchmarks/memory.py                          # resnet50 vgg16 googlenet, batch 16
    python benchmarks/memory.py --models resnet50 --batch 32
    python benchmarks/memory.py --tiny                   # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _rss_mib() -> float:
    """Current resident set size in MiB (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="utf-8") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(name: str, contender: str, batch: int, size, steps: int) -> dict:
    """Measure in this process (run by the parent with ``--child``)."""
    import kerascnn  # noqa: PLC0415
    from kerascnn import bench  # noqa: PLC0415

    card = kerascnn.model_card(name)
    shape = bench.input_shape(name, size)
    if contender == "kerascnn":
        model = kerascnn.build(name, input_shape=shape, compile=False)
    else:
        model = bench.build_application(bench.APPLICATIONS[name], shape, card.num_classes)
    built = _rss_mib()
    step = bench.training_function(model, bench.random_images(batch, shape), bench.random_labels(batch, card.num_classes))
    for _ in range(steps):
        step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"model": name, "contender": contender, "batch": batch, "rss_after_build_mib": round(built),
            "peak_rss_mib": round(peak), "step_mib": round(peak - built)}


def run(models=("resnet50", "vgg16", "googlenet"), batch=16, size=None, steps=2) -> dict:
    from kerascnn import bench  # noqa: PLC0415

    rows = []
    for name in models:
        for contender in ["kerascnn"] + (["applications"] if name in bench.APPLICATIONS else []):
            command = [sys.executable, os.path.abspath(__file__), "--child", name, contender, "--batch", str(batch),
                       "--steps", str(steps)] + (["--size", str(size)] if size else [])
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if done.returncode != 0 or not lines:
                raise RuntimeError(f"memory child for {name}/{contender} failed: {done.stderr[-2000:]}")
            row = json.loads(lines[-1])
            row["load_average"] = bench.load_average()
            rows.append(row)
            print(f"{name:<10} {contender:<13} batch {batch:>3}: peak RSS {row['peak_rss_mib']:6d} MiB, "
                  f"after build {row['rss_after_build_mib']:6d} MiB, training step +{row['step_mib']} MiB "
                  f"(load {row['load_average']})", flush=True)
    return {"rows": rows, "conditions": bench.conditions()}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--batch", type=int, default=None, help="images per step (default 16)")
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--tiny", action="store_true", help="smoke test: resnet50 on 32x32, batch 2, one step")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "CONTENDER"), help=argparse.SUPPRESS)
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the result as JSON")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child, args.batch or 16, args.size, args.steps)))
        return {"child": True}
    if args.tiny:
        result = run(args.models or ["resnet50"], batch=args.batch or 2, size=32, steps=1)
    else:
        result = run(args.models or ["resnet50", "vgg16", "googlenet"], batch=args.batch or 16, size=args.size,
                     steps=args.steps)
    from kerascnn.bench import finish  # noqa: PLC0415

    return finish(result, args.json)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
