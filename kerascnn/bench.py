"""Measuring speed: contenders timed alternately after warm-up, medians, ratios, machine peak.

Every figure kerascnn reports about speed comes from here, so the benchmarks in
``benchmarks/`` and the ``kerascnn bench`` command measure the same way:

* :func:`alternate` times several *contenders* (callables doing the same work) round
  after round, in alternating order, after warm-up calls, and keeps every time; the
  medians and their ratio are what is reported. Alternating in one process makes a ratio
  meaningful on a shared, noisy machine: both contenders see the same load.
* :func:`matmul_gflops` measures the machine's fp32 matrix-product rate (NumPy or
  TensorFlow), the practical ceiling of a convolutional network on a CPU.
* :func:`model_gflop` counts a model's FLOPs per image (2 x MACs of
  :func:`kerascnn.analysis.macs`), so ``images/s x GFLOP/image`` is the achieved rate.
* :func:`conditions` records what a reader needs to judge a figure: runtime, device,
  cores and the load average at the time.

Examples:
    >>> from kerascnn.bench import alternate
    >>> timings = alternate({"sum": lambda: sum(range(1000)), "len": lambda: len("x")}, rounds=3)
    >>> sorted(timings), len(timings["sum"].seconds)
    (['len', 'sum'], 3)
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable



def applications() -> dict:
    """``{model name: keras.applications constructor}`` of the same architecture, from the cards.

    A model whose weights record takes a keras.applications model's weights layer by layer
    has that model as its twin. Also readable as ``bench.APPLICATIONS``.

    Examples:
        >>> applications()["resnet50"]
        'ResNet50'
    """
    from kerascnn.registry import weights_records  # noqa: PLC0415 - the zoo loads Keras

    return {name: records[0].application for name, records in weights_records().items()
            if records[0].application}


def __getattr__(name):
    if name == "APPLICATIONS":
        return applications()
    raise AttributeError(f"module 'kerascnn.bench' has no attribute {name!r}")


@dataclass
class Timing:
    """The times of one contender: every measured call, its median, and a rate."""

    name: str
    seconds: list = field(default_factory=list)
    items: int = 1

    @property
    def median(self) -> float:
        """The median time of one call, in seconds."""
        return statistics.median(self.seconds)

    @property
    def per_second(self) -> float:
        """Items (images) per second at the median time."""
        return self.items / self.median


def load_average() -> float | None:
    """The 1-minute load average (``None`` where the system has none)."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def conditions() -> dict:
    """Runtime, device, CPU and load at the time of a measurement (for every printed result).

    Examples:
        >>> from kerascnn.bench import conditions
        >>> sorted(conditions())[:3]
        ['backend', 'cpu', 'cpu_count']
    """
    from kerascnn import _startup, runtime  # noqa: PLC0415

    devices = "cpu"
    if runtime.BACKEND == "tensorflow":
        import tensorflow as tf  # noqa: PLC0415 - the backend in use

        devices = ", ".join(d.name for d in tf.config.list_physical_devices("GPU")) or "cpu"
    elif runtime.BACKEND == "jax":
        import jax  # noqa: PLC0415 - the backend in use

        devices = ", ".join(sorted({d.platform for d in jax.devices()}))
    return {
        "runtime": runtime.NAME,
        "backend": runtime.BACKEND,
        "keras": runtime.VERSION,
        "devices": devices,
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "load_average": load_average(),
        # TensorFlow's CPU kernel switches (kerascnn.runtime, kerascnn._startup), unset = ""
        "onednn": os.environ.get(runtime.ONEDNN_VARIABLE, ""),
        "onednn_frozen_weights": os.environ.get(_startup.FROZEN_WEIGHTS_VARIABLE, ""),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def alternate(contenders: dict, rounds: int = 5, warmup: int = 1, calls: int = 1, items: int = 1) -> dict:
    """Time each contender ``rounds`` times, alternating their order, after ``warmup`` calls each.

    ``contenders`` maps a name to a callable without arguments. Each round calls every
    contender ``calls`` times in a row and records the mean time of one call; the order
    of the contenders is reversed every other round, so a slow drift in the machine's
    load falls on all of them alike. Returns ``{name: Timing}`` (``items`` per call, for
    ``Timing.per_second``).

    Examples:
        >>> from kerascnn.bench import alternate
        >>> timing = alternate({"noop": lambda: None}, rounds=2, items=8)["noop"]
        >>> len(timing.seconds), timing.items
        (2, 8)
    """
    if not contenders:
        raise ValueError("contenders must name at least one callable, got none.")
    for argument, value in (("rounds", rounds), ("calls", calls)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{argument} must be a positive integer, got {value!r}.")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, got {warmup!r}.")
    for function in contenders.values():
        for _ in range(warmup):
            function()
    timings = {name: Timing(name, items=items) for name in contenders}
    order = list(contenders)
    for index in range(rounds):
        for name in order if index % 2 == 0 else order[::-1]:
            function = contenders[name]
            start = time.perf_counter()
            for _ in range(calls):
                function()
            timings[name].seconds.append((time.perf_counter() - start) / calls)
    return timings


def ratio(timings: dict, faster: str, slower: str) -> float:
    """How many times faster ``faster`` is than ``slower`` (ratio of median times)."""
    return timings[slower].median / timings[faster].median


def matmul_gflops(size: int = 4096, repeats: int = 3, library: str = "numpy", dtype: str = "float32") -> float:
    """The machine's matrix-product rate in GFLOP/s (median of ``repeats``, after one warm-up).

    A ``size x size`` by ``size x size`` product is ``2 * size**3`` floating-point
    operations. ``library`` is ``"numpy"`` (its BLAS) or ``"tensorflow"`` (oneDNN/Eigen);
    ``dtype`` ``"bfloat16"`` or ``"float16"`` measures TensorFlow's rate in that precision
    (the ceiling of a model optimized to it; AMX on recent Xeons).

    Examples:
        >>> from kerascnn.bench import matmul_gflops
        >>> matmul_gflops(64, repeats=1) > 0
        True
    """
    import numpy as np  # noqa: PLC0415

    if library not in ("numpy", "tensorflow"):
        raise ValueError(f"library must be 'numpy' or 'tensorflow', got {library!r}.")
    if dtype not in ("float32", "bfloat16", "float16"):
        raise ValueError(f"dtype must be 'float32', 'bfloat16' or 'float16', got {dtype!r}.")
    if dtype != "float32" and library != "tensorflow":
        raise ValueError(f"dtype={dtype!r} is measured with library='tensorflow' (NumPy has no {dtype} product).")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    if library == "numpy":
        def product():
            return a @ b
    else:
        import tensorflow as tf  # noqa: PLC0415 - only when asked for

        ta, tb = tf.constant(a, dtype=dtype), tf.constant(b, dtype=dtype)

        def product():
            return tf.linalg.matmul(ta, tb).numpy()
    timing = alternate({library: product}, rounds=repeats, warmup=1)[library]
    return 2 * size**3 / timing.median / 1e9


def model_gflop(model) -> float:
    """FLOPs of one image's forward pass in billions: 2 x :func:`kerascnn.analysis.macs`."""
    from kerascnn.analysis import macs  # noqa: PLC0415

    return 2 * macs(model, warn=False).total / 1e9


def inference_function(model, xla: bool = False):
    """The compiled inference call of ``model`` (``predict_on_batch``), with XLA or without.

    ``xla=True`` compiles the model with ``jit_compile=True`` (XLA on TensorFlow; the JAX
    backend always compiles with XLA). Without it, TensorFlow's graph runtime runs the
    ``tf.function`` that Keras traces once per input shape.
    """
    from kerascnn import runtime  # noqa: PLC0415

    if runtime.BACKEND == "tensorflow":
        model.compile(jit_compile=bool(xla))
    return model.predict_on_batch


def xla_function(model):
    """``model(x, training=False)`` inside ``tf.function(jit_compile=True)`` (TensorFlow backends only).

    Shares the model's weights, so a model can be timed with and without XLA side by side.
    """
    import tensorflow as tf  # noqa: PLC0415 - XLA through TensorFlow

    function = tf.function(lambda x: model(x, training=False), jit_compile=True)
    return lambda x: function(x).numpy()


def eager_function(model):
    """``model(x, training=False)`` called eagerly: the cost of Python dispatch, layer by layer."""
    import numpy as np  # noqa: PLC0415

    return lambda x: np.asarray(model(x, training=False))


def training_function(model, images, labels, xla: bool = False):
    """A callable doing one SGD training step of ``model`` on ``(images, labels)``."""
    from kerascnn import runtime  # noqa: PLC0415
    from kerascnn.runtime import keras  # noqa: PLC0415

    options = {"jit_compile": bool(xla)} if runtime.BACKEND == "tensorflow" else {}
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss="sparse_categorical_crossentropy", **options)

    def step():
        return model.train_on_batch(images, labels)

    return step


def build_application(name: str, input_shape, classes: int):
    """A keras.applications model without weights (``name`` as in :func:`applications`)."""
    from kerascnn.runtime import keras  # noqa: PLC0415

    return getattr(keras.applications, name)(weights=None, input_shape=tuple(input_shape), classes=classes)


def random_images(batch: int, input_shape, seed: int = 0):
    """A float32 batch of standard-normal images."""
    import numpy as np  # noqa: PLC0415

    return np.random.default_rng(seed).standard_normal((batch, *input_shape), dtype=np.float32)


def random_labels(batch: int, classes: int, seed: int = 0):
    """int32 class labels in ``[0, classes)``."""
    import numpy as np  # noqa: PLC0415

    return np.random.default_rng(seed).integers(0, classes, size=batch).astype("int32")


def bench_model(name: str, batches=(1, 16), rounds: int = 3, input_size: int | None = None,
                xla: bool = False, train: bool = True, peak: float | None = None,
                log: Callable | None = print, fold: bool = False, precisions=(), peaks: dict | None = None) -> dict:
    """Inference (and training-step) images/s of a registered model, alongside its keras.applications twin.

    Measures, for each batch size, kerascnn's model and (where :func:`applications`
    names one) keras.applications' model of the same architecture, alternately; then
    achieved GFLOP/s as a fraction of the machine's matrix-product rate ``peak``
    (measured here with NumPy when not given). ``fold=True`` adds inference with BatchNorm
    folded into the convolutions (``kerascnn+fold``, :func:`kerascnn.surgery.fold_batchnorm`;
    models without BatchNorm have nothing to fold). ``precisions`` (e.g. ``["bfloat16"]``) adds
    :func:`kerascnn.deploy.optimize`'s model in each (``kerascnn+bfloat16``: folded, computing in
    that precision), its fraction taken of ``peaks[precision]`` (the matrix-product rate in
    that precision) when given. Returns a dict of the figures;
    ``log`` receives one line per result (``None`` for silence).

    Examples:
        >>> result = bench_model("lenet5", batches=[2], rounds=1, train=False, peak=100.0, log=None)
        >>> sorted(row["contender"] for row in result["inference"])
        ['kerascnn']
    """
    import kerascnn  # noqa: PLC0415

    card = kerascnn.model_card(name)
    shape = tuple(card.input_shape)
    if input_size is not None:
        shape = (input_size, input_size, shape[2])
    say = log or (lambda *_: None)
    if peak is None:
        peak = matmul_gflops(library="numpy")
        say(f"matrix product (NumPy fp32 4096^3): {peak:.1f} GFLOP/s (load {load_average()})")
    models = {"kerascnn": kerascnn.build(name, input_shape=shape, compile=False)}
    twins = applications()
    if name in twins:
        models["applications"] = build_application(twins[name], shape, card.num_classes)
    gflop = model_gflop(models["kerascnn"])
    folded = None
    if fold and any("BatchNormalization" in type(layer).__name__ for layer in models["kerascnn"].layers):
        from kerascnn.surgery import fold_batchnorm  # noqa: PLC0415

        folded = fold_batchnorm(models["kerascnn"])
    optimized = {}
    for precision in precisions:
        from kerascnn.deploy import optimize  # noqa: PLC0415

        optimized[f"kerascnn+{precision}"] = optimize(models["kerascnn"], precision=precision)
    contender_peaks = {name: (peaks or {}).get(name.split("+")[1], peak) for name in optimized}
    result = {"model": name, "input": list(shape), "gflop_per_image": round(gflop, 3),
              "matmul_gflops": round(peak, 1), "inference": [], "training": []}
    for kind in ("inference", "training") if train else ("inference",):
        for batch in batches:
            images = random_images(batch, shape)
            if kind == "inference":
                contenders = {who: bound(inference_function(m, xla), images) for who, m in models.items()}
                if folded is not None:
                    contenders["kerascnn+fold"] = bound(inference_function(folded, xla), images)
                contenders.update({who: bound(inference_function(m, xla), images) for who, m in optimized.items()})
            else:
                labels = random_labels(batch, card.num_classes)
                contenders = {who: training_function(m, images, labels, xla) for who, m in models.items()}
            timings = alternate(contenders, rounds=rounds, warmup=1, items=batch)
            result[kind].extend(report(f"{kind[:5]} {name}", batch, timings, gflop, peak, "kerascnn",
                                       factor=1 if kind == "inference" else 3, log=log, peaks=contender_peaks))
    result["conditions"] = conditions()
    return result


def bound(function, argument):
    """A callable without arguments calling ``function(argument)`` (a contender for :func:`alternate`)."""
    return lambda: function(argument)


def report(model: str, batch: int, timings: dict, gflop: float, peak: float, reference: str | None = None,
           factor: int = 1, log: Callable | None = print, peaks: dict | None = None) -> list:
    """Rows (and printed lines) for one measurement: images/s, achieved GFLOP/s, fraction, ratios.

    ``gflop`` is the model's forward GFLOP per image, ``factor`` 1 for inference and 3
    for a training step (forward and two backward products); ``reference`` names the
    contender the others are compared with (``reference_speedup`` = how many times
    faster the reference is than that contender). ``peaks`` gives some contenders their
    own matrix-product rate (e.g. the bfloat16 one for a bfloat16 model) instead of ``peak``.
    """
    rows = []
    for who, timing in timings.items():
        achieved = timing.per_second * gflop * factor
        limit = (peaks or {}).get(who, peak)
        row = {"model": model, "contender": who, "batch": batch, "images_per_s": round(timing.per_second, 2),
               "achieved_gflops": round(achieved, 1), "fraction_of_matmul": round(achieved / limit, 3),
               "load_average": load_average()}
        if reference in timings and who != reference:
            row["reference_speedup"] = round(ratio(timings, reference, who), 3)
        rows.append(row)
        if log:
            extra = f", {reference} {row['reference_speedup']:.2f}x this" if "reference_speedup" in row else ""
            log(f"{model:<10} batch {batch:>3} {who:<31} {row['images_per_s']:8.2f} images/s "
                f"{achieved:7.1f} GFLOP/s = {row['fraction_of_matmul']:.2f} of matmul{extra} "
                f"(load {row['load_average']})")
    return rows


def finish(result: dict, json_path: str | None = None) -> dict:
    """End of a benchmark script: print its conditions as JSON, write the result if asked."""
    import json  # noqa: PLC0415

    print(json.dumps(result["conditions"]))
    if json_path:
        write_json(json_path, result)
    return result


def input_shape(name: str, size: int | None = None) -> tuple:
    """A registered model's input shape, with height and width ``size`` when given."""
    from kerascnn.registry import model_card  # noqa: PLC0415

    shape = tuple(model_card(name).input_shape)
    return shape if size is None else (size, size, shape[2])


def write_json(path: str, data) -> None:
    """Write ``data`` as JSON atomically (temporary name, then ``os.replace``)."""
    import json  # noqa: PLC0415

    temporary = f"{path}.tmp{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
    os.replace(temporary, path)
