"""``kerascnn compare`` and ``kerascnn check``: complexity tables and parameter checks from the shell.

``compare`` builds the named models, prints parameters, MACs (counted), the published
figures of their cards, and writes the complexity chart. ``check`` builds every
registered model matching a pattern and compares its parameter counts with its card:
exit status 0 when all match, 1 on a mismatch (for CI), 2 on bad input.
"""

from __future__ import annotations

import contextlib

MISMATCH = 1


def register(subparsers) -> None:
    compare = subparsers.add_parser(
        "compare", help="compare models: parameters, MACs, top-1; write the complexity chart",
        description="Build registered models and print their parameters, MACs (multiply-accumulates, "
                    "counted on the built model) and the reference cards' figures; write a chart of "
                    "MACs against top-1 accuracy (bubble area = parameters).",
    )
    compare.add_argument("models", nargs="+",
                         help="registered model names or shell wildcards, e.g. resnet50 'vgg1?'")
    compare.add_argument("--out", default="complexity.png", metavar="PATH",
                         help="where to write the chart (PNG), default complexity.png; '-' for no chart")
    compare.add_argument("--csv", default=None, metavar="PATH", help="also write the table as CSV")
    compare.set_defaults(handler=run_compare)

    check = subparsers.add_parser(
        "check",
        help="build registered models and compare parameter counts with their cards (exit 1 on a mismatch)",
        description="Build every registered model matching a PATTERN and compare its parameter counts "
                    "(total, trainable, non-trainable) with its reference card. Exit status: 0 all "
                    "match, 1 a mismatch, 2 bad input.",
    )
    check.add_argument("patterns", nargs="*", default=["*"], metavar="PATTERN",
                       help="model names or shell wildcards, e.g. lenet5 'resnet*' (default: every model)")
    check.set_defaults(handler=run_check)


def _expand(patterns) -> list:
    import kerascnn  # noqa: PLC0415 - keep `kerascnn --help` free of TensorFlow
    from kerascnn.errors import unknown_name_error  # noqa: PLC0415

    names = []
    for pattern in patterns:
        found = kerascnn.list_models(pattern)
        if not found:
            raise unknown_name_error("model", pattern, kerascnn.list_models())
        names.extend(n for n in found if n not in names)
    return names


def _g(value) -> str:
    """GMACs to three decimals, or to three significant digits below 0.01 (LeNet-5: 0.000417, not 0.000)."""
    if value is None:
        return "-"
    return f"{value:.3f}" if value >= 0.01 or value == 0 else f"{value:.3g}"


def run_compare(args) -> int:
    import kerascnn  # noqa: PLC0415
    from kerascnn.analysis import complexity_points  # noqa: PLC0415
    from kerascnn.analysis.chart import save_chart  # noqa: PLC0415
    from kerascnn.runtime import keras  # noqa: PLC0415

    names = _expand(args.models)
    if args.out != "-" and not args.out.lower().endswith(".png"):
        raise ValueError(f"--out must name a .png file (or '-' for no chart), got {args.out!r}.")
    rows, points = [], []
    for name in names:
        # one model at a time, only its numbers kept: `compare '*'` builds every model in the zoo
        point = complexity_points([_without_values(name)])[0]
        keras.backend.clear_session()
        points.append(point)
        rows.append({
            "model": name, "input": "x".join(str(s) for s in point["input_shape"]), "params": point["params"],
            "gmacs": point["gmacs"], "card_gmacs": kerascnn.model_card(name).gmacs, "top1": point["top1"],
            "unknown": point["unknown_layers"],
        })
    print(f"{'model':<16} {'input':>11} {'params':>13} {'GMACs':>8} {'card GMACs':>10} {'top-1':>6}")
    for row in rows:
        top1 = "-" if row["top1"] is None else f"{row['top1']:.1f}"
        print(f"{row['model']:<16} {row['input']:>11} {row['params']:>13,} {_g(row['gmacs']):>8} "
              f"{_g(row['card_gmacs']):>10} {top1:>6}")
        if row["unknown"]:
            print(f"  not counted (unknown cost): {', '.join(row['unknown'])}")
    print("GMACs: multiply-accumulates of convolutions and dense layers, counted on the built model "
          "(FLOPs = 2 x MACs); card GMACs: the published figure.")
    if args.csv:
        _write_csv(args.csv, rows)
    if args.out != "-":
        plotted = [point for point in points if point["top1"] is not None]
        left_off = [point["name"] for point in points if point["top1"] is None]
        if plotted:
            save_chart(plotted, args.out)
            print(f"chart: {args.out}" + (f" (left off, no top-1 on their cards: {', '.join(left_off)})"
                                          if left_off else ""))
        else:
            print("chart: not written, none of these models has a top-1 accuracy on its card")
    return 0


def _write_csv(path, rows) -> None:
    import csv  # noqa: PLC0415
    import io  # noqa: PLC0415

    from kerascnn.analysis.table import make_parent  # noqa: PLC0415
    from kerascnn.runs import atomic_write_text  # noqa: PLC0415

    buffer = io.StringIO()
    fields = ["model", "input", "params", "gmacs", "card_gmacs", "top1"]
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(make_parent(path), buffer.getvalue())


def _without_values(name: str):
    """``kerascnn.build(name, compile=False)`` for counting: in Keras 3 its variables get shapes
    but no drawn values (``keras.StatelessScope``), which saves the random initialisation."""
    import kerascnn  # noqa: PLC0415
    from kerascnn.runtime import IS_KERAS3, keras  # noqa: PLC0415

    with keras.StatelessScope() if IS_KERAS3 else contextlib.nullcontext():
        return kerascnn.build(name, compile=False)


def run_check(args) -> int:
    import kerascnn  # noqa: PLC0415
    from kerascnn.runtime import keras  # noqa: PLC0415
    from kerascnn.testing import card_mismatches, parameter_counts  # noqa: PLC0415

    names = _expand(args.patterns)
    failed = 0
    for name in names:
        card = kerascnn.model_card(name)
        if card.params is None and card.trainable_params is None and card.non_trainable_params is None:
            print(f"{name:<16} SKIP      the card records no parameter counts")
            continue
        model = _without_values(name)  # one at a time: the whole zoo held 6.8 GB at once, this 2.7 GB
        problems = card_mismatches(model, card)
        total = parameter_counts(model)["total"]
        del model
        keras.backend.clear_session()
        if problems:
            failed += 1
            print(f"{name:<16} MISMATCH  {'; '.join(problems)}")
        else:
            print(f"{name:<16} ok        {total:,} parameters")
    print(f"{len(names) - failed} of {len(names)} model(s) match their cards")
    return MISMATCH if failed else 0
