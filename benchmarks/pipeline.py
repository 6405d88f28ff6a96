"""Does the input pipeline, or retracing, slow training down? The digits recipe's epoch, live and frozen.

For the recipe ``kerascnn train`` runs by default (LeNet-5 on the embedded digits, batch 32,
mild augmentation), measured in one process:

* ``pipeline alone``: one pass over the live ``tf.data`` pipeline (shuffle, preprocessing,
  random augmentation, prefetch) with no model: the work the pipeline adds per epoch;
* ``fit live`` against ``fit frozen``: one ``model.fit`` epoch each, alternately after
  warm-up. The frozen set is the live pipeline's first pass cached in memory (its
  augmentation frozen: a measuring device, not a recipe). The difference is what the
  pipeline costs the training loop after prefetching has overlapped what it can;
* ``traces``: how many times Keras traced ``train_step`` over all those fits (a batch shape
  it has not seen makes it trace again; more than two would mean retracing).

Usage::

    python benchmarks/pipeline.py                    # lenet5 on digits, 5 rounds
    python benchmarks/pipeline.py --batch-size 16 --augment none
    python benchmarks/pipeline.py --tiny             # smoke test (seconds)
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def counting_traces(model) -> dict:
    """Wrap ``model.train_step`` so that each trace (each run of its Python body) is counted."""
    count = {"traces": 0}
    step = model.train_step

    def counted(data):
        count["traces"] += 1
        return step(data)

    model.train_step = counted
    return count


def run(model="lenet5", batch_size=32, augment="mild", rounds=5, limit=None) -> dict:
    import kerascnn  # noqa: PLC0415 - after argument parsing (slow import)
    from kerascnn import bench  # noqa: PLC0415
    from kerascnn.data import load_data  # noqa: PLC0415

    shape = tuple(kerascnn.model_card(model).input_shape)
    data = load_data("digits", shape, validation_split=0.0, seed=0, limit=limit)
    live = data.train.batches(batch_size, shuffle=True, seed=0, augment=None if augment == "none" else augment)
    frozen = live.cache()
    for _ in frozen:  # fills the cache
        pass
    started = time.perf_counter()
    batches = sum(1 for _ in live)
    alone = time.perf_counter() - started
    net = kerascnn.build(model, input_shape=shape, num_classes=data.num_classes)
    traces = counting_traces(net)
    epochs = {"fit live": lambda: net.fit(live, epochs=1, verbose=0),
              "fit frozen": lambda: net.fit(frozen, epochs=1, verbose=0)}
    timings = bench.alternate(epochs, rounds=rounds, warmup=1)
    live_s, frozen_s = timings["fit live"].median, timings["fit frozen"].median
    result = {"model": model, "images": data.train.count, "batches": batches, "batch_size": batch_size,
              "augment": augment, "pipeline_alone_s": round(alone, 4), "fit_live_s": round(live_s, 4),
              "fit_frozen_s": round(frozen_s, 4), "pipeline_share": round(1 - frozen_s / live_s, 3),
              "traces": traces["traces"], "fits": 2 * (rounds + 1), "conditions": bench.conditions()}
    print(f"{model} on digits, {data.train.count} images, batch {batch_size}, augment {augment}: "
          f"pipeline alone {alone:.3f} s/epoch; fit {live_s:.3f} s/epoch live, {frozen_s:.3f} s frozen "
          f"(the pipeline costs {result['pipeline_share']:.0%} of the epoch); train_step traced "
          f"{result['traces']} times in {result['fits']} fits (load {bench.load_average()})", flush=True)
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="lenet5", help="a registered model (default lenet5)")
    parser.add_argument("--batch-size", type=int, default=32, help="default 32, the recipe's")
    parser.add_argument("--augment", default="mild", help="an augmentation preset or none (default mild)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; medians over them")
    parser.add_argument("--tiny", action="store_true", help="smoke test: 64 images, batch 16, one round")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the result as JSON")
    args = parser.parse_args(argv)
    if args.tiny:
        result = run(args.model, batch_size=16, augment=args.augment, rounds=1, limit=64)
    else:
        result = run(args.model, batch_size=args.batch_size, augment=args.augment, rounds=args.rounds)
    from kerascnn.bench import finish  # noqa: PLC0415

    return finish(result, args.json)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
