"""Which precision computes fastest on this machine: the one place that reads the hardware.

:func:`detect` reads what the machine offers (the CPU's instruction-set flags from
``/proc/cpuinfo``; a GPU's compute capability from TensorFlow or JAX), and
:func:`choose_precision` turns that into a decision with its reason. The rule, from what
the hardware executes natively:

============================================  ==========  ====================================
hardware                                      precision   why
============================================  ==========  ====================================
GPU, compute capability >= 8.0 (Ampere on)    bfloat16    bf16 tensor cores, fp32's range
GPU, compute capability 7.0-7.9 (Volta)       float16     fp16 tensor cores, no bf16
older GPU                                     float32     no tensor cores
CPU with AMX (``amx_bf16``) or AVX-512 BF16   bfloat16    bf16 matrix instructions (oneDNN)
other CPU (AVX2, AVX-512 without BF16, ARM)   float32     bf16 is emulated there: slower
CPU on the JAX backend                        float32     XLA:CPU gains little from bf16
============================================  ==========  ====================================

A model too small to keep the matrix units busy gains nothing from a lower precision and
pays for the casts: below :data:`MIN_GMACS` multiply-accumulates per image, ``"auto"``
keeps float32 whatever the hardware. Measured training steps on the AMX CPU, bfloat16
against float32: LeNet-5 (0.0004 GMACs) 0.91x, ResNet-18 at 32x32 (0.037 GMACs) 1.44x,
at 112x112 (0.49 GMACs) 1.43x (docs/deploy.md).

Decisions are pure functions of a :class:`Hardware` record, so they are tested with
made-up machines, not only with the one the tests run on.

Examples:
    >>> from kerascnn.deploy.hardware import Hardware, choose_precision
    >>> amd = Hardware(device="cpu", name="AMD EPYC", cpu_flags=frozenset({"avx2", "fma"}))
    >>> choose_precision(amd).precision
    'float32'
    >>> choose_precision(Hardware(device="cpu", name="Xeon", cpu_flags=frozenset({"amx_bf16"}))).precision
    'bfloat16'
    >>> choose_precision(Hardware(device="gpu", name="V100", compute_capability=(7, 0))).precision
    'float16'
"""

from __future__ import annotations

import dataclasses
import functools
import platform

#: The precisions :func:`kerascnn.deploy.optimize` computes in.
PRECISIONS = ("float32", "bfloat16", "float16")
#: Smallest forward cost (billions of multiply-accumulates per image) for which "auto" leaves float32.
MIN_GMACS = 0.01
#: The instruction-set flags worth showing with a speed figure (vector width, bf16/fp16 paths).
SHOWN_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16")
#: CPU flags (as Linux names them) that give bfloat16 matrix products a hardware path.
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@dataclasses.dataclass(frozen=True)
class Hardware:
    """What the computing device offers: kind, name, CPU flags or GPU compute capability, backend."""

    device: str  # "cpu" or "gpu"
    name: str = ""
    cpu_flags: frozenset = frozenset()
    compute_capability: tuple | None = None
    backend: str = "tensorflow"

    def describe(self) -> str:
        """One line for users: the device and the features the decision rests on."""
        if self.device == "gpu":
            return f"GPU {self.name} (compute capability {'.'.join(map(str, self.compute_capability or ()))})"
        shown = [flag for flag in SHOWN_FLAGS if flag in self.cpu_flags]
        return f"CPU {self.name} ({' '.join(shown) or 'no AVX/AMX flags read'})"


@dataclasses.dataclass(frozen=True)
class Choice:
    """A precision and the reason it was chosen (shown to users, kept in ``deploy_info``)."""

    precision: str
    reason: str


def choose_precision(hardware: Hardware, gmacs: float | None = None) -> Choice:
    """The precision with a native fast path on ``hardware`` (see the module's table).

    ``gmacs``: the model's forward cost per image in billions of multiply-accumulates;
    below :data:`MIN_GMACS` the answer is float32 (None: the hardware alone decides).

    Examples:
        >>> from kerascnn.deploy.hardware import Hardware, choose_precision
        >>> choose_precision(Hardware(device="gpu", name="A100", compute_capability=(8, 0))).precision
        'bfloat16'
        >>> choose_precision(Hardware(device="cpu", name="Xeon", cpu_flags=frozenset({"avx512_bf16"}),
        ...                           backend="jax")).precision
        'float32'
        >>> choose_precision(Hardware(device="cpu", name="Xeon", cpu_flags=frozenset({"amx_bf16"})), gmacs=0.0004)
        Choice(precision='float32', reason='the model is too small (0.0004 GMACs per image < 0.01) to gain from a lower precision')
    """
    choice = _by_hardware(hardware)
    if gmacs is not None and gmacs < MIN_GMACS and choice.precision != "float32":
        return Choice("float32", f"the model is too small ({gmacs:.2g} GMACs per image < {MIN_GMACS:g}) to gain "
                                 "from a lower precision")
    return choice


def _by_hardware(hardware: Hardware) -> Choice:
    if hardware.device == "gpu":
        capability = tuple(hardware.compute_capability or (0, 0))
        if capability >= (8, 0):
            return Choice("bfloat16", f"GPU compute capability {capability[0]}.{capability[1]} >= 8.0 has "
                                      "bfloat16 tensor cores")
        if capability >= (7, 0):
            return Choice("float16", f"GPU compute capability {capability[0]}.{capability[1]} has float16 "
                                     "tensor cores but no bfloat16")
        return Choice("float32", f"GPU compute capability {capability[0]}.{capability[1]} < 7.0 has no "
                                 "tensor cores")
    found = [flag for flag in CPU_BF16_FLAGS if flag in hardware.cpu_flags]
    if not found:
        return Choice("float32", "the CPU has neither AMX nor AVX-512 BF16 (bfloat16 would be emulated, slower)")
    if hardware.backend == "jax":
        return Choice("float32", f"the CPU has {found[0]}, but XLA:CPU (the JAX backend) does not reach "
                                 "oneDNN's bfloat16 kernels: at most 1.1x measured (docs/deploy.md)")
    return Choice("bfloat16", f"the CPU has {found[0]}: oneDNN runs bfloat16 matrix products in hardware")


def parse_cpu_flags(cpuinfo: str) -> frozenset:
    """The ``flags`` of the first processor in the text of ``/proc/cpuinfo``.

    Examples:
        >>> sorted(parse_cpu_flags("processor : 0\\nflags : fpu avx2 amx_bf16\\n"))
        ['amx_bf16', 'avx2', 'fpu']
    """
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # "Features" on ARM
            return frozenset(value.split())
    return frozenset()


def _cpu_name(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return platform.processor() or platform.machine()


def _read_cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            return handle.read()
    except OSError:  # not Linux: no flags, so the rule keeps float32
        return ""


def _gpu(backend: str) -> Hardware | None:
    if backend == "jax":
        import jax  # noqa: PLC0415 - the backend in use

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        if not gpus:
            return None
        capability = tuple(int(part) for part in str(getattr(gpus[0], "compute_capability", "0.0")).split("."))
        return Hardware("gpu", gpus[0].device_kind, compute_capability=capability, backend=backend)
    import tensorflow as tf  # noqa: PLC0415 - the backend in use

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    details = tf.config.experimental.get_device_details(gpus[0])
    return Hardware("gpu", details.get("device_name", gpus[0].name),
                    compute_capability=tuple(details.get("compute_capability", (0, 0))), backend=backend)


@functools.lru_cache(maxsize=None)
def detect() -> Hardware:
    """The device Keras computes on in this process: its first GPU if any, else the CPU.

    Examples:
        >>> from kerascnn.deploy.hardware import detect
        >>> detect().device in ("cpu", "gpu")
        True
    """
    from kerascnn.runtime import BACKEND  # noqa: PLC0415 - imports Keras

    gpu = _gpu(BACKEND)
    if gpu is not None:
        return gpu
    cpuinfo = _read_cpuinfo()
    return Hardware("cpu", _cpu_name(cpuinfo), cpu_flags=parse_cpu_flags(cpuinfo), backend=BACKEND)


def resolve(precision: str, hardware: Hardware | None = None, gmacs: float | None = None) -> Choice:
    """``"auto"`` -> :func:`choose_precision` on this machine; an explicit precision is kept as asked.

    Examples:
        >>> from kerascnn.deploy.hardware import resolve
        >>> resolve("float16")
        Choice(precision='float16', reason='asked for')
        >>> resolve("int8")
        Traceback (most recent call last):
        ...
        ValueError: precision must be one of 'auto', 'float32', 'bfloat16', 'float16', got 'int8'.
    """
    if precision not in ("auto", *PRECISIONS):
        choices = ", ".join(repr(p) for p in ("auto", *PRECISIONS))
        raise ValueError(f"precision must be one of {choices}, got {precision!r}.")
    if precision != "auto":
        return Choice(precision, "asked for")
    return choose_precision(hardware or detect(), gmacs)
