"""Why bfloat16 training gains little in Keras 3 on TensorFlow: BatchNorm's forward and backward.

Keras 3's ``BatchNormalization`` casts bfloat16 inputs to float32, computes the batch
moments with separate reductions (``ops.moments``) and normalises with unfused element-wise
operations (``tf.nn.batch_normalization``), then casts back; the gradient retraces all of
them. TensorFlow's fused kernel (``FusedBatchNormV3``, what Keras 2 uses) takes bfloat16
directly (statistics in float32 inside). This times one BatchNorm's forward + backward on
a ResNet-50 stage-2 activation (16x56x56x256), alternating in one process, next to a 3x3
convolution of the same size in bfloat16 for scale.

``--model NAME``: instead, a whole training step (SGD, 224x224, batch ``--batch``) of the model
under ``mixed_bfloat16`` three ways, alternating: Keras' BatchNorm, the fused kernel
(:func:`kerascnn.deploy.use_fused_batchnorm`, what ``kerascnn train`` runs), and every
BatchNorm replaced by the identity, the bound of what any BatchNorm kernel could gain (the
model no longer learns the same function: a probe, not a contender).

Usage::

    python benchmarks/batchnorm_bf16.py [--rounds 7] [--batch 16]
    python benchmarks/batchnorm_bf16.py --model resnet50 --rounds 4
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--model", default=None, help="time a whole bf16 training step of this model instead")
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args(argv)
    if args.model:
        return whole_step(args)
    import numpy as np  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    from kerascnn import bench  # noqa: PLC0415
    from kerascnn.runtime import keras  # noqa: PLC0415

    x32 = tf.constant(np.random.default_rng(0).random((args.batch, 56, 56, 256), dtype=np.float32))
    xbf = tf.cast(x32, tf.bfloat16)

    def gradient_of(forward, x, variables):
        @tf.function
        def step():
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(tf.cast(forward(x), tf.float32))
            return tape.gradient(loss, [x, *variables])

        return lambda: [g.numpy() for g in step()]

    def keras_bn(policy, x):
        layer = keras.layers.BatchNormalization(dtype=policy)
        layer.build(x.shape)
        return gradient_of(lambda t: layer(t, training=True), x, layer.trainable_variables)

    scale, offset = tf.Variable(tf.ones(256)), tf.Variable(tf.zeros(256))

    def fused(t):
        return tf.compat.v1.nn.fused_batch_norm(t, scale, offset, epsilon=1e-3, is_training=True)[0]

    conv = keras.layers.Conv2D(256, 3, padding="same", dtype="mixed_bfloat16")
    conv.build(x32.shape)
    timings = bench.alternate({
        "Keras BatchNormalization float32": keras_bn("float32", x32),
        "Keras BatchNormalization mixed_bfloat16": keras_bn("mixed_bfloat16", xbf),
        "tf fused_batch_norm bfloat16": gradient_of(fused, xbf, [scale, offset]),
        "Conv2D 3x3x256 mixed_bfloat16": gradient_of(conv, xbf, conv.trainable_variables),
    }, rounds=args.rounds, warmup=2)
    for name, timing in timings.items():
        print(f"{name:<42} {timing.median * 1000:8.1f} ms forward + backward")
    print(f"load average {bench.load_average()}")
    return 0


def whole_step(args) -> int:
    """A bf16 training step of ``args.model`` with Keras' BatchNorm, the fused kernel, and none."""
    import kerascnn  # noqa: PLC0415
    from kerascnn import bench  # noqa: PLC0415
    from kerascnn._keras_internals import replace_call  # noqa: PLC0415
    from kerascnn.deploy import use_fused_batchnorm  # noqa: PLC0415
    from kerascnn.runtime import keras  # noqa: PLC0415

    shape = (args.size, args.size, 3)
    images, labels = bench.random_images(args.batch, shape), bench.random_labels(args.batch, 1000)
    functions = {}
    for mode in ("keras BatchNorm", "fused BatchNorm", "no BatchNorm (bound)"):
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        try:
            model = kerascnn.build(args.model, input_shape=shape, num_classes=1000, compile=False)
        finally:
            keras.mixed_precision.set_global_policy("float32")
        if mode.startswith("fused"):
            use_fused_batchnorm(model)
        elif mode.startswith("no"):
            for layer in model.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    replace_call(layer, lambda self, inputs, training=None, mask=None: inputs)
        functions[mode] = bench.training_function(model, images, labels)
    timings = bench.alternate(functions, rounds=args.rounds, warmup=2, items=args.batch)
    for name, timing in timings.items():
        print(f"{args.model} bf16 training step, {name:<22} {timing.per_second:7.2f} images/s")
    print(f"load average {bench.load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
