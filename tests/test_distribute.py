"""kerascnn.distribute in one process: flags, mixed precision in every builder, launch's supervision."""

import os
import subprocess
import sys
import time

import pytest

from kerascnn import distribute, registry
from kerascnn.commands import launch
from kerascnn.runtime import keras
from tiers import representatives
from tests.models.zoo_helpers import zero_init

# also in the Keras 2 run: dtype policies and strategies have a Keras 2 path
pytestmark = pytest.mark.keras2


@pytest.fixture
def policy():
    """Leave the global dtype policy as it was found."""
    before = keras.mixed_precision.global_policy().name
    yield
    keras.mixed_precision.set_global_policy(before)


@pytest.mark.every_runtime
def test_setup_rejects_bad_flags_by_name(monkeypatch):
    for name in ("KERASCNN_COORDINATOR", "JAX_COORDINATOR_ADDRESS", "TF_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="distribute.*'ring'.*multiworker"):
        distribute.setup("ring")
    with pytest.raises(ValueError, match="num_processes=2 is only for --distribute multiworker"):
        distribute.setup("none", num_processes=2)
    with pytest.raises(ValueError, match="coordinator"):
        distribute.setup("multiworker", num_processes=2, process_id=0)
    with pytest.raises(ValueError, match="process_id=2 must be in 0..1"):
        distribute.setup("multiworker", coordinator="127.0.0.1:1", num_processes=2, process_id=2)
    with pytest.raises(ValueError, match="mixed_precision.*'float8'"):
        distribute.set_mixed_precision("float8")


@pytest.mark.every_runtime
def test_none_plan_is_one_chief_process(policy):
    plan = distribute.setup("none", mixed_precision="bfloat16", jit_compile=True)
    assert (plan.num_processes, plan.process_id, plan.is_chief, plan.replicas) == (1, 0, True, 1)
    facts = plan.describe()
    assert facts["dtype_policy"] == "mixed_bfloat16" and facts["jit_compile"] is True and facts["devices"]
    assert distribute.worker_out("runs/x", plan) == "runs/x"
    plan.process_id = 3
    assert distribute.worker_out("runs/x/", plan) == "runs/x.worker3"


def _output_dtypes(model):
    return [str(getattr(tensor, "dtype", "")).replace("<dtype: '", "").rstrip("'>") for tensor in model.outputs]


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("name", sorted(representatives(registry.list_models())))
def test_every_kind_of_builder_ends_in_float32_under_mixed_float16(name, policy):
    """The softmax of a float16 network must not be float16 (its sums underflow and saturate).

    One model of each kind (``tiers.representatives``): the head and its dtype come from the
    family's code, the same at every depth.
    """
    distribute.set_mixed_precision("float16")
    with zero_init():  # dtypes do not depend on the initial values; random draws are the slow part
        model = registry.build(name, compile=False)
    assert keras.mixed_precision.global_policy().name == "mixed_float16"
    assert _output_dtypes(model) == ["float32"] * len(model.outputs), name
    # the body really computes in float16: mixed precision is not silently off
    assert any(getattr(layer, "compute_dtype", None) == "float16" for layer in model.layers)


@pytest.mark.every_runtime
@pytest.mark.parametrize("name", ["lenet5", "googlenet"])
def test_bfloat16_keeps_final_activations_float32(name, policy):
    """GoogLeNet has three outputs (two auxiliary heads): all three stay float32."""
    distribute.set_mixed_precision("bfloat16")
    extra = {"aux_classifiers": True} if name == "googlenet" else {}
    model = registry.build(name, compile=False, **extra)
    assert _output_dtypes(model) == ["float32"] * (3 if name == "googlenet" else 1)


@pytest.mark.tensorflow_only
def test_transfer_head_is_float32_under_mixed_precision(policy):
    from kerascnn import transfer

    distribute.set_mixed_precision("float16")
    inputs = keras.Input((32, 32, 3))
    backbone = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs), name="tiny")
    model = transfer.build(backbone, num_classes=3, weights=None, compile=False)
    assert _output_dtypes(model) == ["float32"]


@pytest.mark.keras3_only
@pytest.mark.tensorflow_only
def test_launch_environments_give_each_process_its_place():
    environments = launch.worker_environments(3, base={})
    assert [env["KERASCNN_PROCESS_ID"] for env in environments] == ["0", "1", "2"]
    assert {env["KERASCNN_COORDINATOR"] for env in environments} == {environments[0]["KERASCNN_COORDINATOR"]}
    assert all(env["KERASCNN_NUM_PROCESSES"] == "3" for env in environments)
    assert '"index": 2' in environments[2]["TF_CONFIG"]


@pytest.mark.keras3_only
@pytest.mark.tensorflow_only
def test_launch_stops_the_others_when_one_fails(capsys):
    """Process 1 fails at once; process 0 would sleep 10 minutes but is stopped within seconds."""
    code = "import os, sys, time\nif os.environ['KERASCNN_PROCESS_ID'] == '1': sys.exit(3)\ntime.sleep(600)"
    started = time.time()
    status = launch.supervise([sys.executable, "-c", code], launch.worker_environments(2, base=dict(os.environ)),
                              grace=2)
    assert status == 3
    assert time.time() - started < 30
    assert "process 1 failed (exit status 3)" in capsys.readouterr().err


@pytest.mark.keras3_only
@pytest.mark.tensorflow_only
def test_launch_cli_without_command_is_a_usage_error():
    result = subprocess.run([sys.executable, "-m", "kerascnn.cli", "launch", "--nproc", "2"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "give the command to run after --" in result.stderr


@pytest.mark.every_runtime
def test_train_with_mixed_precision_gives_the_callers_policy_back(tmp_path, policy):
    from kerascnn.train import train

    keras.mixed_precision.set_global_policy("float32")
    result = train("lenet5", "digits", out=str(tmp_path / "run"), verbose=0, log=None, mixed_precision="bfloat16",
                   epochs=1, batch_size=16, limit=32)
    with open(os.path.join(result.path, "config.json")) as handle:
        assert '"dtype_policy": "mixed_bfloat16"' in handle.read()  # the run itself was mixed
    assert keras.mixed_precision.global_policy().name == "float32"
