"""Scaling out with the engines that exist: mixed precision, XLA, tf.distribute, keras.distribution.

:func:`setup` turns the ``kerascnn train`` flags into a :class:`Plan`:

==================  ======================================================================
``distribute``      what runs
==================  ======================================================================
``"none"``          one process, Keras' default placement (one GPU if there is one)
``"mirrored"``      ``tf.distribute.MirroredStrategy``: every local GPU (or logical CPU
                    device) holds a replica; Keras 3 on TensorFlow and Keras 2
``"multiworker"``   several processes (one per machine or per GPU):

                    * Keras 3: the JAX backend, ``jax.distributed.initialize`` and
                      ``keras.distribution.DataParallel``; on CPU the gloo collectives.
                      (``keras.distribution.initialize`` takes no time-outs, so kerascnn
                      calls ``jax.distributed.initialize`` itself with a heartbeat
                      time-out: a dead peer ends the others instead of hanging them.)
                      Keras 3's ``fit`` fails under TensorFlow's
                      ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585).
                    * Keras 2 (``TF_USE_LEGACY_KERAS=1``):
                      ``tf.distribute.MultiWorkerMirroredStrategy`` configured by ``TF_CONFIG``
                      (written from the flags when it is not set).
==================  ======================================================================

The coordinator address, the number of processes and this process' id come from the
arguments or, when left out, from ``KERASCNN_COORDINATOR`` / ``JAX_COORDINATOR_ADDRESS``,
``KERASCNN_NUM_PROCESSES`` / ``JAX_NUM_PROCESSES`` and ``KERASCNN_PROCESS_ID`` /
``JAX_PROCESS_ID`` (``TF_CONFIG`` on Keras 2). Each process feeds its own shard of every
batch: Keras 3 shards the ``tf.data`` pipeline per process (``DataParallel`` auto-sharding),
``MultiWorkerMirroredStrategy`` shards it by data.

Examples:
    >>> from kerascnn.distribute import setup
    >>> plan = setup()
    >>> plan.strategy, plan.num_processes, plan.is_chief
    ('none', 1, True)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os

from kerascnn.errors import check_choice
from kerascnn.runtime import BACKEND, IS_KERAS3, RuntimeMismatchError, keras

STRATEGIES = ("none", "mirrored", "multiworker")
PRECISIONS = {"float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}
COORDINATOR_VARIABLES = ("KERASCNN_COORDINATOR", "JAX_COORDINATOR_ADDRESS")
NUM_PROCESSES_VARIABLES = ("KERASCNN_NUM_PROCESSES", "JAX_NUM_PROCESSES")
PROCESS_ID_VARIABLES = ("KERASCNN_PROCESS_ID", "JAX_PROCESS_ID")
#: Seconds without a heartbeat before JAX's coordination service declares a process dead.
HEARTBEAT_TIMEOUT = int(os.environ.get("KERASCNN_HEARTBEAT_TIMEOUT", "30"))
#: Seconds to wait for every process to join at start-up.
INITIALIZATION_TIMEOUT = int(os.environ.get("KERASCNN_INITIALIZATION_TIMEOUT", "120"))


@dataclasses.dataclass
class Plan:
    """How this process trains: the strategy, its place among the processes, its devices."""

    strategy: str = "none"
    num_processes: int = 1
    process_id: int = 0
    coordinator: str | None = None
    mixed_precision: str | None = None
    jit_compile: bool = False
    #: TensorFlow's op determinism is on: the same seed gives the same run (:func:`make_deterministic`).
    deterministic: bool = False
    #: BatchNormalization layers computing through TensorFlow's fused kernel (bfloat16 runs).
    fused_batchnorm: int = 0
    tf_strategy: object = dataclasses.field(default=None, repr=False)

    @property
    def is_chief(self) -> bool:
        """Process 0 writes the run directory; the others write ``OUT.workerN``."""
        return self.process_id == 0

    def scope(self):
        """The context to build and compile the model in (the tf.distribute scope, if any)."""
        return self.tf_strategy.scope() if self.tf_strategy is not None else contextlib.nullcontext()

    @property
    def replicas(self) -> int:
        """Replicas training in step (all processes together)."""
        if self.tf_strategy is not None:
            return int(self.tf_strategy.num_replicas_in_sync)
        distribution = keras.distribution.distribution() if IS_KERAS3 else None
        if distribution is not None:
            return len(distribution.device_mesh.devices.flatten())
        return 1

    def describe(self) -> dict:
        """What goes into the run's ``config.json``."""
        return {"strategy": self.strategy, "num_processes": self.num_processes, "process_id": self.process_id,
                "coordinator": self.coordinator, "replicas": self.replicas, "devices": devices(self),
                "mixed_precision": self.mixed_precision, "dtype_policy": _policy_name(),
                "jit_compile": self.jit_compile, "deterministic": self.deterministic,
                "fused_batchnorm": self.fused_batchnorm}


def _env(names, default=None):
    for name in names:
        if os.environ.get(name, "").strip():
            return os.environ[name].strip()
    return default


def _int(name, value):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}.") from None


def set_mixed_precision(precision: str | None) -> str:
    """Set Keras' global dtype policy: None -> ``float32``, ``"float16"``/``"bfloat16"`` -> mixed.

    Every kerascnn builder keeps its final activation in float32 under a mixed policy.

    Examples:
        >>> from kerascnn.distribute import set_mixed_precision
        >>> set_mixed_precision("bfloat16"), set_mixed_precision(None)
        ('mixed_bfloat16', 'float32')
    """
    if precision is None or precision in ("float32", "none"):
        name = "float32"
    else:
        check_choice("mixed_precision", precision, tuple(PRECISIONS))
        name = PRECISIONS[precision]
    keras.mixed_precision.set_global_policy(name)
    return name


@contextlib.contextmanager
def dtype_policy_kept():
    """Put Keras' global dtype policy back as it was on leaving the block, whatever happened inside.

    :func:`setup` may set a mixed policy for one run; the caller's comes back after it.

    Examples:
        >>> from kerascnn.distribute import dtype_policy_kept, set_mixed_precision
        >>> with dtype_policy_kept():
        ...     set_mixed_precision("bfloat16")
        'mixed_bfloat16'
        >>> _policy_name()
        'float32'
    """
    previous = keras.mixed_precision.global_policy()
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def make_deterministic() -> None:
    """Turn on TensorFlow's op determinism for the rest of this process (it cannot be turned off).

    With the same seed, a run gives the same weights and numbers every time on the same machine
    and software: TensorFlow's threaded kernels otherwise sum in varying orders, so runs of one
    seed differ by an image or two of test accuracy. The default job on a 2-core CPU took
    10-35% longer (docs/training.md). The data pipeline is tf.data in every runtime, so this also
    holds on JAX, whose XLA computes deterministically on CPUs (on GPUs, start with
    ``XLA_FLAGS=--xla_gpu_deterministic_ops=true``).

    Examples:
        >>> from kerascnn.distribute import make_deterministic
        >>> make_deterministic()  # doctest: +SKIP
    """
    import tensorflow as tf  # noqa: PLC0415 - tf.data feeds every runtime

    tf.config.experimental.enable_op_determinism()


def _policy_name() -> str:
    return keras.mixed_precision.global_policy().name


def setup(strategy: str = "none", *, coordinator: str | None = None, num_processes: int | None = None,
          process_id: int | None = None, mixed_precision: str | None = None,
          jit_compile: bool = False) -> Plan:
    """Prepare this process for ``strategy`` (see the module docstring); call before building.

    Examples:
        >>> from kerascnn.distribute import setup
        >>> setup("mirrored", num_processes=2)
        Traceback (most recent call last):
        ...
        ValueError: num_processes=2 is only for --distribute multiworker; mirrored uses the local devices of one process.
    """
    check_choice("distribute", strategy, STRATEGIES)
    if strategy != "multiworker" and (num_processes not in (None, 1) or coordinator):
        what = f"num_processes={num_processes}" if num_processes not in (None, 1) else f"coordinator={coordinator!r}"
        raise ValueError(f"{what} is only for --distribute multiworker; "
                         f"{strategy} uses the local devices of one process.")
    plan = Plan(strategy=strategy, mixed_precision=mixed_precision, jit_compile=bool(jit_compile))
    if mixed_precision is not None:  # None leaves the global policy as the caller set it
        set_mixed_precision(mixed_precision)
    if strategy == "mirrored":
        import tensorflow as tf  # noqa: PLC0415

        if BACKEND != "tensorflow":
            raise RuntimeMismatchError(
                "--distribute mirrored is tf.distribute.MirroredStrategy and needs the TensorFlow backend; "
                f"kerascnn runs on Keras 3 with KERAS_BACKEND={BACKEND}. Unset KERAS_BACKEND, or use "
                "--distribute multiworker (keras.distribution on JAX).")
        plan.tf_strategy = tf.distribute.MirroredStrategy()
    elif strategy == "multiworker":
        _multiworker(plan, coordinator, num_processes, process_id)
    return plan


def _multiworker(plan: Plan, coordinator, num_processes, process_id) -> None:
    tf_config = json.loads(os.environ["TF_CONFIG"]) if os.environ.get("TF_CONFIG") else None
    if not IS_KERAS3 and tf_config and coordinator is None:
        workers = tf_config.get("cluster", {}).get("worker", [])
        task = tf_config.get("task", {})
        coordinator = workers[0] if workers else None
        num_processes = num_processes or len(workers)
        process_id = task.get("index", 0) if process_id is None else process_id
    coordinator = coordinator or _env(COORDINATOR_VARIABLES)
    num_processes = _int("num_processes", num_processes if num_processes is not None
                         else _env(NUM_PROCESSES_VARIABLES, None))
    process_id = _int("process_id", process_id if process_id is not None else _env(PROCESS_ID_VARIABLES, None))
    if not coordinator:
        raise ValueError("--distribute multiworker needs the coordinator's HOST:PORT: give --coordinator or set "
                         "KERASCNN_COORDINATOR (or JAX_COORDINATOR_ADDRESS); `kerascnn launch` sets it for you.")
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise ValueError(f"process_id={process_id} must be in 0..{num_processes - 1} "
                         f"(num_processes={num_processes}).")
    plan.coordinator, plan.num_processes, plan.process_id = coordinator, num_processes, process_id
    if IS_KERAS3:
        if BACKEND != "jax":
            raise RuntimeMismatchError(
                "--distribute multiworker on Keras 3 runs on the JAX backend (Keras 3's fit fails under "
                "tf.distribute.MultiWorkerMirroredStrategy, keras-team/keras#20585): set KERAS_BACKEND=jax, "
                "or TF_USE_LEGACY_KERAS=1 for Keras 2 with MultiWorkerMirroredStrategy.")
        _jax_initialize(plan)
    else:
        _tf_multiworker(plan, tf_config)


def _jax_initialize(plan: Plan) -> None:
    import jax  # noqa: PLC0415

    # CPU processes talk through gloo (jaxlib's built-in CPU collectives); harmless with GPUs/TPUs.
    # (Devices cannot be probed first: JAX must not start its backends before initialize.)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=plan.coordinator, num_processes=plan.num_processes,
                               process_id=plan.process_id, initialization_timeout=INITIALIZATION_TIMEOUT,
                               heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT)
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))


def _tf_multiworker(plan: Plan, tf_config) -> None:
    import tensorflow as tf  # noqa: PLC0415

    if tf_config is None:
        host, port = plan.coordinator.rsplit(":", 1)
        workers = [f"{host}:{int(port) + index}" for index in range(plan.num_processes)]
        os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": workers},
                                              "task": {"type": "worker", "index": plan.process_id}})
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=HEARTBEAT_TIMEOUT * 4)
    plan.tf_strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def devices(plan: Plan | None = None) -> list:
    """The devices this process trains on, as strings (``"cpu:0"``, ``"gpu:0"``, ...)."""
    if plan is not None and plan.tf_strategy is not None:
        return list(plan.tf_strategy.extended.worker_devices)
    if BACKEND == "jax":
        import jax  # noqa: PLC0415

        return [f"{device.platform}:{device.id}" for device in jax.devices()]
    import tensorflow as tf  # noqa: PLC0415

    found = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return [device.name for device in found]


def worker_out(out: str, plan: Plan) -> str:
    """The run directory of this process: ``out`` for the chief, ``out.workerN`` for the others."""
    return out if plan.is_chief else f"{os.path.normpath(out)}.worker{plan.process_id}"
