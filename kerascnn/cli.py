"""The ``kerascnn`` command.

Each subcommand lives in its own module under :mod:`kerascnn.commands` and exposes
``register(subparsers)``. Modules must not import Keras at import time: some commands
(``finetune`` with a kecam backbone) choose the runtime, which has to happen before
TensorFlow is first imported.

Errors in the user's input (``ValueError``/``TypeError`` from kerascnn) end with one line
on stderr and exit status 2; nothing else is printed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

#: Subcommand modules, in the order ``kerascnn --help`` lists them.
COMMAND_MODULES = [
    "kerascnn.commands.models",
    "kerascnn.commands.train",
    "kerascnn.commands.finetune",
    "kerascnn.commands.analysis",
    "kerascnn.commands.explain",
    "kerascnn.commands.bench",
    "kerascnn.commands.export",
    "kerascnn.commands.launch",
]

USAGE_ERROR = 2


class CommandError(Exception):
    """A user error found by a command itself; printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``kerascnn`` command (also used to generate the docs)."""
    parser = argparse.ArgumentParser(
        prog="kerascnn",
        description="Classic CNNs for Keras: build, train, evaluate, analyse.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("kerascnn")
    except PackageNotFoundError:
        return "unknown"


def main(argv=None) -> int:
    """Entry point of the ``kerascnn`` console script; returns the exit status."""
    # TensorFlow's C++ start-up chatter (CUDA probing on CPU machines) would bury our one-line
    # errors; users who want it back set TF_CPP_MIN_LOG_LEVEL themselves.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3":
        # ...and the lines its native libraries print while loading, which ignore that variable.
        import kerascnn._startup as _startup  # noqa: PLC0415

        _startup.QUIET_NATIVE_IMPORT = True
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return USAGE_ERROR
    try:
        status = args.handler(args)
    except (CommandError, ValueError, TypeError) as error:
        message = " ".join(str(error).split())
        print(f"kerascnn {args.command}: error: {message}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(f"kerascnn {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
