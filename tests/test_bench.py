"""The benchmark scripts and ``kerascnn bench`` run on a tiny setting (no timing assertions).

Benchmarks are not part of the test run; these tests only check that each script still
runs end to end (``--tiny``: small inputs, one round) and reports the figures it promises.
"""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

from kerascnn import bench, cli

# Once, in the default runtime: the scripts choose their own runtimes for contenders that
# need another one (kecam under Keras 2), and each smoke run builds ResNet-50-sized models.
pytestmark = [pytest.mark.tensorflow_only, pytest.mark.keras3_only]

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


def script(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_alternate_reverses_the_order_every_other_round():
    calls = []
    timings = bench.alternate({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                              rounds=3, warmup=1, items=4)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up, then a b / b a / a b
    assert len(timings["a"].seconds) == 3 and timings["a"].items == 4


@pytest.mark.parametrize("argument, value", [("rounds", 0), ("calls", 0), ("warmup", -1)])
def test_alternate_rejects_bad_counts(argument, value):
    with pytest.raises(ValueError, match=argument):
        bench.alternate({"a": lambda: None}, **{argument: value})


def test_matmul_probe_counts_two_n_cubed(monkeypatch):
    # a product that "takes" exactly 1 s: 2 * 64**3 FLOP/s
    monkeypatch.setattr(bench, "alternate", lambda contenders, **_: {
        name: bench.Timing(name, [1.0, 1.0, 1.0]) for name in contenders})
    assert bench.matmul_gflops(64, library="numpy") == pytest.approx(2 * 64**3 / 1e9)
    with pytest.raises(ValueError, match="library"):
        bench.matmul_gflops(64, library="blas")


def test_matmul_script():
    result = script("matmul").main(["--tiny"])
    assert result["numpy_gflops"] > 0 and result["tensorflow_gflops"] > 0


@pytest.mark.full  # a benchmark script end to end: tens of seconds to minutes
def test_inference_script():
    # one XLA contender only: compiling is the slow part
    result = script("inference").main(["--tiny", "--modes", "predict", "fold+xla"])
    labels = {row["contender"] for row in result["rows"]}
    assert {"kerascnn", "kerascnn+fold+xla", "applications"} <= labels
    assert all(row["images_per_s"] > 0 and row["load_average"] is not None for row in result["rows"])


@pytest.mark.full  # a benchmark script end to end: tens of seconds to minutes
def test_training_script():
    # the smallest model with a keras.applications twin: the script's path is ResNet-50's, in about half
    # the time (88 s -> 43 s in a full-tier run)
    result = script("training").main(["--tiny", "--models", "mobilenet"])
    assert {"kerascnn", "applications"} <= {row["contender"] for row in result["rows"]}


@pytest.mark.full  # a benchmark script end to end: tens of seconds to minutes
def test_build_time_script():
    result = script("build_time").main(["--tiny"])
    by_model = {row["model"]: row for row in result["rows"]}
    assert "applications_s" not in by_model["lenet5"]  # no keras.applications LeNet
    assert by_model["resnet50"]["kerascnn_speedup"] > 0
    assert set(result["initializers"]) == {"keras GlorotUniform", "numpy float64 uniform", "numpy float32 random"}


@pytest.mark.full  # a benchmark script end to end: tens of seconds to minutes
def test_memory_script():
    result = script("memory").main(["--tiny", "--models", "mobilenet"])  # as in test_training_script
    assert [row["contender"] for row in result["rows"]] == ["kerascnn", "applications"]
    assert all(row["peak_rss_mib"] >= row["rss_after_build_mib"] > 0 for row in result["rows"])


def test_bench_command(capsys, tmp_path):
    out = tmp_path / "bench.json"
    status = cli.main(["bench", "resnet18", "--size", "32", "--batches", "2", "--rounds", "1",
                       "--matmul-size", "128", "--no-train", "--fold", "--json", str(out)])
    printed = capsys.readouterr().out
    assert status == 0 and "images/s" in printed and "GFLOP/s" in printed and "load" in printed
    assert "kerascnn+fold" in printed  # resnet18 has BatchNorm to fold
    assert out.exists()


def test_bench_command_rejects_unknown_models(capsys):
    assert cli.main(["bench", "resnet5"]) == cli.USAGE_ERROR
    assert "resnet50" in capsys.readouterr().err  # the suggestion


@pytest.mark.full  # a benchmark script end to end: tens of seconds to minutes
def test_pipeline_script():
    result = script("pipeline").main(["--tiny"])
    assert result["batches"] == 4  # 64 images in batches of 16
    assert result["fit_live_s"] > 0 and result["fit_frozen_s"] > 0 and result["pipeline_alone_s"] > 0
    assert 1 <= result["traces"] <= result["fits"]
