"""The notebooks run top to bottom and are stored without outputs.

Each notebook is executed with nbclient in a kernel of the current interpreter
(jupyter_client starts ``python3`` kernels with ``sys.executable``), in Keras 3 on
TensorFlow (05's DaViT is kerascnn's native model: no Keras 2 needed). The kernel inherits
this process's environment, so the runtime variables are set explicitly. Every notebook
asserts its own figures (parameter counts by hand, output sizes, accuracies), so running
it is the test. They are kept small (tiny epochs, small inputs, subsets).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
KERAS3 = [
    "01_convolution_arithmetic",
    "02_classic_architectures",
    "03_inception_googlenet",
    "04_resnet_se",
    "05_transfer_learning",
]


def _execute(name: str, tmp_path: Path, monkeypatch):
    from nbclient import NotebookClient  # noqa: PLC0415

    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "0")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.delenv("KERASCNN_WEIGHTS", raising=False)  # 05: random weights, no download in CI

    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [output for cell in notebook.cells for output in cell.get("outputs", [])
              if output.get("output_type") == "error"]
    assert not errors, errors


@pytest.mark.full
@pytest.mark.keras3_only
@pytest.mark.tensorflow_only
@pytest.mark.parametrize("name", KERAS3)
def test_keras3_notebook_runs(name, tmp_path, monkeypatch):
    _execute(name, tmp_path, monkeypatch)


@pytest.mark.keras3_only
@pytest.mark.tensorflow_only
def test_notebooks_are_listed_and_stored_without_outputs():
    stored = sorted(path.stem for path in NOTEBOOKS.glob("*.ipynb"))
    assert stored == sorted(KERAS3), "a notebook is missing from the lists of this test"
    for name in stored:
        notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{name}: clear the outputs"
