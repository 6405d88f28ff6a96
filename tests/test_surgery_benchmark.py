"""benchmarks/fold_batchnorm.py runs end to end on a tiny setting (the figures themselves are in docs/surgery.md)."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "fold_batchnorm.py"


def test_fold_benchmark_runs(capsys):
    spec = importlib.util.spec_from_file_location("fold_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--model", "resnet18", "--size", "32", "--batch", "2", "--rounds", "2",
                          "--calls", "1", "--classes", "3"])
    assert result["batchnorm_folded"] == 20  # ResNet-18: stem + 2 per basic block x 8 + 3 projections
    assert result["layers_before"] - result["layers_after"] == 20
    assert result["max_abs_difference"] <= 1e-4
    assert len(result["all_before"]) == len(result["all_after"]) == 2
    assert result["images_per_s_before"] > 0 and result["speedup"] > 0
    assert "ratio after/before" in capsys.readouterr().out
