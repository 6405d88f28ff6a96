"""The docs site builds with `mkdocs build --strict` (warnings are failures)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Built once, in the default runtime only: the site does not depend on the runtime.
pytestmark = [pytest.mark.full, pytest.mark.keras3_only, pytest.mark.tensorflow_only]


def test_mkdocs_build_strict(tmp_path):
    mkdocs = shutil.which("mkdocs") or str(Path(sys.executable).with_name("mkdocs"))
    result = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "site" / "cli" / "index.html").read_text().count("kerascnn list") >= 1
    assert not list((tmp_path / "site").rglob("*.py")), "the site must not ship the build's Python hooks"
