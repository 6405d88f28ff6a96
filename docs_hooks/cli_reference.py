"""MkDocs hook: pages write ``<!-- cli-reference -->`` and get the live ``--help`` of every
subcommand, generated from kerascnn's own argument parser, so the reference cannot drift."""

from __future__ import annotations

MARKER = "<!-- cli-reference -->"


def _cli_reference() -> str:
    from kerascnn.cli import build_parser

    parser = build_parser()
    parts = ["```text", parser.format_help().rstrip(), "```"]
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, sub in subparsers.choices.items():
        parts += [f"\n## `kerascnn {name}`\n", "```text", sub.format_help().rstrip(), "```"]
    return "\n".join(parts)


def on_page_markdown(markdown, page, config, files):
    if MARKER in markdown:
        return markdown.replace(MARKER, _cli_reference())
    return markdown
