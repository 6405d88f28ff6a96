"""``kerascnn list`` and ``kerascnn summary``: discover the zoo from the shell."""

from __future__ import annotations

import json


def register(subparsers) -> None:
    listing = subparsers.add_parser(
        "list", help="list registered models with parameters and input sizes",
        description="List registered models (shell wildcards select, e.g. 'resnet*').",
    )
    listing.add_argument("pattern", nargs="?", default="*", help="shell wildcard, default '*'")
    listing.add_argument("--pretrained", action="store_true", help="only models with pretrained weights")
    listing.add_argument("--json", action="store_true", help="print the reference cards as JSON")
    listing.set_defaults(handler=run_list)

    summary = subparsers.add_parser(
        "summary", help="print a model's summary and its reference card",
        description="Build a registered model and print model.summary() and its reference card.",
    )
    summary.add_argument("model", help="registered model name, e.g. resnet50")
    summary.add_argument("--input-shape", type=_shape, default=None, metavar="H,W,C",
                         help="input shape, e.g. 224,224,3 (default: the model's own)")
    summary.add_argument("--num-classes", type=int, default=None, help="classes of the head")
    summary.set_defaults(handler=run_summary)


def _shape(text: str) -> tuple:
    try:
        values = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        import argparse  # noqa: PLC0415

        raise argparse.ArgumentTypeError(f"expected H,W,C such as 224,224,3, got {text!r}")
    return values


def _format_count(value) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def run_list(args) -> int:
    import kerascnn  # noqa: PLC0415 - keep `kerascnn --help` free of TensorFlow

    names = kerascnn.list_models(args.pattern, pretrained=args.pretrained)
    if not names:
        with_weights = " with pretrained weights" if args.pretrained else ""
        raise ValueError(f"no registered model{with_weights} matches {args.pattern!r}; try `kerascnn list`.")
    cards = [kerascnn.model_card(name) for name in names]
    if args.json:
        print(json.dumps([card.as_dict() for card in cards], indent=2))
        return 0
    print(f"{'model':<16} {'params':>13} {'input':>13} {'min input':>10} {'GMACs':>7} {'top-1':>6}  weights")
    for card in cards:
        shape = "x".join(str(s) for s in card.input_shape)
        minimum = "x".join(str(s) for s in card.min_input_size)
        gmacs = f"{card.gmacs:.3f}" if card.gmacs else "-"
        top1 = f"{card.top1:.1f}" if card.top1 else "-"
        print(f"{card.name:<16} {_format_count(card.params):>13} {shape:>13} {minimum:>10} {gmacs:>7} "
              f"{top1:>6}  {', '.join(card.pretrained) or '-'}")
    return 0


def run_summary(args) -> int:
    import kerascnn  # noqa: PLC0415

    card = kerascnn.model_card(args.model)
    kwargs = {"compile": False}
    if args.input_shape:
        kwargs["input_shape"] = args.input_shape
    if args.num_classes is not None:
        kwargs["num_classes"] = args.num_classes
    model = kerascnn.build(args.model, **kwargs)
    model.summary()
    print(f"\nReference card: {card.name} ({card.family})\n  {card.description}")
    for key in ("params", "trainable_params", "non_trainable_params"):
        print(f"  {key:<22} {_format_count(getattr(card, key))}")
    print(f"  {'gmacs':<22} {card.gmacs if card.gmacs else '-'}")
    print(f"  {'top1':<22} {card.top1 if card.top1 else '-'}")
    print(f"  {'min input':<22} {card.min_input_size[0]}x{card.min_input_size[1]}")
    for figure, source in card.sources.items():
        print(f"  source of {figure}: {source}")
    if not args.input_shape and args.num_classes is None and card.params is not None:
        verdict = "matches" if model.count_params() == card.params else "DOES NOT MATCH"
        print(f"  this build: {model.count_params():,} parameters, {verdict} the card")
    return 0
