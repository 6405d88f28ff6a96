"""ResNet-50 training images/second on a GPU through Keras 3's JAX backend (no TensorFlow needed).

Synthetic data (random 224x224x3 images, 1000 classes) at batch 128, SGD with momentum,
sparse categorical cross-entropy, one ``fit`` of ``--steps`` steps after a warm-up ``fit``
(which compiles), for the float32 policy and then ``mixed_bfloat16``. Imports only
kerascnn's builders, keras, jax and numpy: it runs on any CUDA machine with
``pip install "jax[cuda12]" keras kerascnn`` and no TensorFlow (it checks that none was
imported). Prints one JSON line per precision.

Usage::

    KERAS_BACKEND=jax python benchmarks/jax_gpu_training.py               # batch 128, 50 steps
    KERAS_BACKEND=jax python benchmarks/jax_gpu_training.py --tiny        # smoke test on CPU
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")


def measure(policy: str, batch: int, steps: int, size: int, classes: int) -> dict:
    import jax  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    import kerascnn  # noqa: PLC0415
    from kerascnn.runtime import keras  # noqa: PLC0415

    keras.mixed_precision.set_global_policy(policy)
    model = kerascnn.resnet50(input_shape=(size, size, 3), num_classes=classes, compile=False)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss="sparse_categorical_crossentropy", jit_compile=True)
    rng = np.random.default_rng(0)
    x = rng.random((batch * steps, size, size, 3), dtype=np.float32)
    y = rng.integers(0, classes, batch * steps)
    model.fit(x[: batch * 2], y[: batch * 2], batch_size=batch, epochs=1, verbose=0)  # compile + warm up
    started = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    seconds = time.perf_counter() - started
    return {"model": "resnet50", "policy": policy, "batch": batch, "steps": steps, "image_size": size,
            "images_per_second": round(batch * steps / seconds, 1), "seconds": round(seconds, 3),
            "device": str(jax.devices()[0]), "platform": jax.devices()[0].platform,
            "jax": jax.__version__, "keras": keras.__version__,
            "tensorflow_imported": "tensorflow" in sys.modules}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--policies", nargs="+", default=["float32", "mixed_bfloat16"])
    parser.add_argument("--tiny", action="store_true", help="batch 4, 2 steps, 64x64: a quick check on CPU")
    args = parser.parse_args(argv)
    batch, steps, size = (4, 2, 64) if args.tiny else (args.batch, args.steps, 224)
    if os.environ["KERAS_BACKEND"] != "jax":
        parser.error("run with KERAS_BACKEND=jax")
    for policy in args.policies:
        print(json.dumps(measure(policy, batch, steps, size, 1000)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
