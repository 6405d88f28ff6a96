"""benchmarks/precision.py and `kerascnn bench --precisions`: the precision contenders and their own rate."""

import importlib.util
import os

import pytest

from kerascnn import cli

pytestmark = pytest.mark.tensorflow_only
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.full  # a benchmark script end to end, as in tests/test_bench.py
def test_precision_script_measures_every_contender():
    spec = importlib.util.spec_from_file_location("precision_benchmark", os.path.join(ROOT, "benchmarks", "precision.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--tiny", "--precisions", "bfloat16"])
    assert {row["contender"] for row in result["rows"]} == {"kerascnn", "applications", "kerascnn+fold",
                                                            "kerascnn+bfloat16"}
    assert set(result["machine"]["matmul_gflops"]) == {"float32", "bfloat16"} and result["machine"]["device"]


def test_bench_command_shows_precision_contenders(capsys):
    status = cli.main(["bench", "resnet18", "--size", "32", "--batches", "2", "--rounds", "1", "--matmul-size", "128",
                       "--no-train", "--precisions", "bfloat16"])
    printed = capsys.readouterr().out
    assert status == 0
    assert "matrix product (TensorFlow bfloat16 128^3)" in printed  # the bf16 rate, next to NumPy's fp32 one
    assert "kerascnn+bfloat16" in printed and "kerascnn " in printed
