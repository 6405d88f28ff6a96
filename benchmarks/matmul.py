"""The machine's fp32 matrix-product rate: a 4096 x 4096 by 4096 x 4096 product in NumPy and TensorFlow.

``2 * 4096**3`` floating-point operations per product; the median of ``--repeats`` products
after one warm-up. This is the practical ceiling of a convolutional network's inference on
a CPU (convolutions run as matrix products); the other benchmarks divide their achieved
GFLOP/s by the NumPy figure measured in their own run.

Usage::

    python benchmarks/matmul.py [--size 4096] [--repeats 5]
    python benchmarks/matmul.py --tiny
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tiny", action="store_true", help="smoke test: 256^3, one repeat")
    args = parser.parse_args(argv)
    size, repeats = (256, 1) if args.tiny else (args.size, args.repeats)
    from kerascnn import bench, runtime  # noqa: PLC0415

    result = {"size": size, "repeats": repeats}
    libraries = ["numpy"] + (["tensorflow"] if runtime.BACKEND == "tensorflow" else [])
    for library in libraries:
        rate = bench.matmul_gflops(size, repeats=repeats, library=library)
        result[f"{library}_gflops"] = round(rate, 1)
        print(f"{library:<10} fp32 {size}^3 matrix product: {rate:7.1f} GFLOP/s (load {bench.load_average()})",
              flush=True)
    result["conditions"] = bench.conditions()
    print(json.dumps(result["conditions"]))
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
