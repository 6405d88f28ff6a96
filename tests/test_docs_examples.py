"""The docs pages' Python examples marked ``<!-- runnable -->`` run, and every page is in the nav.

A page marks a cheap example by writing ``<!-- runnable -->`` on the line before its
```` ```python ```` block; each marked block is executed on its own, in a fresh namespace,
in both TensorFlow runtimes. (Docstring examples are doctests: tests/test_doctests.py.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MARKER = "<!-- runnable -->"
BLOCK = re.compile(re.escape(MARKER) + r"\s*\n```python\n(.*?)\n```", re.DOTALL)


def _runnable_blocks():
    blocks = []
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        found = BLOCK.findall(text)
        assert len(found) == text.count(MARKER), f"{page}: a {MARKER} marker is not followed by a ```python block"
        blocks += [pytest.param(code, id=f"{page.relative_to(DOCS)}#{i}") for i, code in enumerate(found, 1)]
    return blocks


BLOCKS = _runnable_blocks()


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("code", BLOCKS)
def test_runnable_example(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    exec(compile(code, "<docs example>", "exec"), {"__name__": "__docs__"})  # noqa: S102


def test_pages_have_runnable_examples():
    assert len(BLOCKS) >= 4


def _nav_pages(entries) -> list:
    pages = []
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


@pytest.mark.keras3_only
@pytest.mark.tensorflow_only
def test_every_page_is_in_the_nav():
    import yaml  # noqa: PLC0415 - PyYAML, a dependency of mkdocs
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    in_nav = set(_nav_pages(config["nav"]))
    pages = {str(page.relative_to(DOCS)) for page in DOCS.rglob("*.md")}
    assert pages - in_nav == set(), "pages missing from mkdocs.yml's nav"
    assert in_nav - pages == set(), "nav entries without a page"


@pytest.mark.keras3_only
@pytest.mark.tensorflow_only
def test_the_home_page_links_every_page_and_counts_the_models():
    """docs/index.md's table listed five of the thirteen model pages and none of the newer guides,
    and it and the README named the zoo of an earlier day."""
    import yaml  # noqa: PLC0415

    import kerascnn  # noqa: PLC0415

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    home = (DOCS / "index.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([a-z0-9_/-]+\.md)\)", home))
    wanted = {page for page in _nav_pages(config["nav"]) if page != "index.md" and not page.startswith("api/")}
    assert wanted - linked == set(), "pages the home page does not link"
    for text in (home, (ROOT / "README.md").read_text(encoding="utf-8")):
        [count] = re.findall(r"\((\d+) models\)", text)
        assert int(count) == len(kerascnn.list_models())
