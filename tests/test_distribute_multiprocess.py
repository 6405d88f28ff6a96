"""Mirrored replicas and multi-process training, each in its own subprocesses (bounded time).

Every test starts fresh Python processes: TensorFlow's logical devices and JAX's
distributed runtime must be configured before either initialises, and a multi-process
run needs several processes. The multi-process tests run once per suite (JAX path in
the default run, Keras 2 path in the ``TF_USE_LEGACY_KERAS=1`` run).
"""

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import h5py
import numpy as np
import pytest

from kerascnn import saving
from kerascnn.commands.launch import free_ports

pytestmark = pytest.mark.full  # several Python processes per test

PYTHON = sys.executable
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
TRAIN = ["-m", "kerascnn.cli", "train", "lenet5", "--epochs", "2", "--limit", "96", "--batch-size", "32",
         "--augment", "none", "--quiet", "--distribute", "multiworker"]

MIRRORED = r"""
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from kerascnn import distribute, registry
from kerascnn.train import train
from kerascnn.runtime import keras

import csv
result = train("lenet5", "digits", out=sys.argv[1], epochs=2, batch_size=32, limit=96, augment="none",
               schedule="constant", distribute="mirrored", verbose=0, log=None)
scaling = json.load(open(sys.argv[1] + "/config.json"))["scaling"]
losses = [float(row["loss"]) for row in csv.DictReader(open(sys.argv[1] + "/history.csv"))]

plan = distribute.setup("mirrored")
with plan.scope():
    net = registry.build("lenet5", optimizer="adam", learning_rate=1e-3)
rng = np.random.default_rng(0)
x, y = rng.random((64, 32, 32, 1), dtype=np.float32), rng.integers(0, 10, 64)
history = net.fit(x, y, batch_size=32, epochs=2, verbose=0).history["loss"]
replicas = []
for variable in net.trainable_variables:
    values = getattr(variable, "values", None) or getattr(getattr(variable, "value", None), "values", None)
    replicas.append([np.asarray(v) for v in values])
print(json.dumps({"scaling": scaling, "losses": losses, "fit_losses": history,
                  "copies": [len(r) for r in replicas],
                  "spread": max(float(np.abs(r[0] - r[i]).max()) for r in replicas for i in range(len(r)))}))
"""


@pytest.mark.tensorflow_only
@pytest.mark.keras2  # and in the Keras 2 run: its own strategy path
def test_mirrored_two_devices_keep_identical_replicas_and_learn(tmp_path):
    result = subprocess.run([PYTHON, "-c", MIRRORED, str(tmp_path / "run")], capture_output=True, text=True,
                            timeout=400, env={**os.environ, **QUIET})
    assert result.returncode == 0, result.stderr[-3000:]
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts["scaling"]["strategy"] == "mirrored" and facts["scaling"]["replicas"] == 2
    assert len(facts["scaling"]["devices"]) == 2
    assert facts["losses"][1] < facts["losses"][0]  # the loss falls over the two epochs
    assert facts["fit_losses"][1] < facts["fit_losses"][0]
    assert set(facts["copies"]) == {2}  # every variable is mirrored on both devices ...
    assert facts["spread"] == 0.0  # ... and the copies are bit-for-bit the same after training


def _saved_arrays(path):
    """Every array a ``.keras`` file holds (its ``model.weights.h5``: weights and optimizer state),
    by its path in the file; read with h5py, so no process of the run's runtime is needed."""
    arrays = {}

    def keep(name, item):
        if isinstance(item, h5py.Dataset):
            arrays[name] = item[()]

    with zipfile.ZipFile(path) as archive:
        contents = io.BytesIO(archive.read(saving.WEIGHTS))
    with h5py.File(contents, "r") as weights:
        weights.visititems(keep)
    return arrays


def _two_workers(tmp_path, env):
    port = free_ports(1)[0]
    out = str(tmp_path / "run")
    processes = [subprocess.Popen([PYTHON, *TRAIN, "--out", out, "--coordinator", f"127.0.0.1:{port}",
                                   "--num-processes", "2", "--process-id", str(index)],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for index in range(2)]
    logs = []
    try:
        for process in processes:
            logs.append(process.communicate(timeout=500)[0])
    finally:
        for process in processes:
            process.kill()
    for process, log in zip(processes, logs):
        assert process.returncode == 0, log[-3000:]
    return out, logs


def _check_identical(out):
    chief = json.load(open(os.path.join(out, "config.json")))
    other = json.load(open(out + ".worker1/config.json"))
    assert chief["scaling"]["num_processes"] == 2 and chief["scaling"]["replicas"] == 2
    assert (chief["scaling"]["process_id"], other["scaling"]["process_id"]) == (0, 1)
    history = [json.loads(json.dumps(line)) for line in open(os.path.join(out, "history.csv")).read().split()]
    assert len(history) == 3  # header + two epochs
    first, second = _saved_arrays(os.path.join(out, "model.keras")), _saved_arrays(out + ".worker1/model.keras")
    assert first.keys() == second.keys()
    assert len([name for name in first if name.startswith("layers/")]) == 10  # LeNet-5's 5 kernels, 5 biases
    for name in first:  # the weights and the optimizer's state
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


@pytest.mark.keras3_only
@pytest.mark.tensorflow_only
def test_two_jax_processes_end_with_identical_weights(tmp_path):
    env = {**os.environ, **QUIET, "KERAS_BACKEND": "jax"}
    out, _ = _two_workers(tmp_path, env)
    _check_identical(out)


@pytest.mark.legacy_only
def test_two_keras2_multiworker_processes_end_with_identical_weights(tmp_path):
    env = {**os.environ, **QUIET, "TF_USE_LEGACY_KERAS": "1"}
    env.pop("TF_CONFIG", None)  # written by kerascnn from --coordinator: ports PORT and PORT+1
    out, _ = _two_workers(tmp_path, env)
    _check_identical(out)


@pytest.mark.keras3_only
@pytest.mark.tensorflow_only
def test_a_killed_jax_worker_makes_the_other_fail_in_bounded_time(tmp_path):
    """SIGKILL process 1 mid-training: process 0 must exit non-zero, not wait forever."""
    env = {**os.environ, **QUIET, "KERAS_BACKEND": "jax", "KERASCNN_HEARTBEAT_TIMEOUT": "10"}
    port = free_ports(1)[0]
    argv = [a if a != "2" else "500" for a in TRAIN[:5]] + TRAIN[5:]  # 500 epochs: still training when killed
    processes = [subprocess.Popen([PYTHON, *argv, "--out", str(tmp_path / "run"),
                                   "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
                                   "--process-id", str(index)],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for index in range(2)]
    try:
        lines = []
        for line in processes[0].stdout:  # wait until process 0 is training
            lines.append(line)
            if line.startswith("kerascnn train:"):
                break
        time.sleep(3)
        processes[1].send_signal(signal.SIGKILL)
        killed = time.time()
        rest = processes[0].communicate(timeout=180)[0]
        waited = time.time() - killed
    finally:
        for process in processes:
            process.kill()
    assert processes[0].returncode != 0, "".join(lines) + rest
    assert waited < 120, waited
