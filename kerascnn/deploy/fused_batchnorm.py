"""BatchNormalization through TensorFlow's fused kernel when a model trains in bfloat16.

Keras 3's ``BatchNormalization`` casts a bfloat16 input to float32, computes the batch
moments with separate reductions and normalises with element-wise operations; the gradient
goes back through all of them. TensorFlow's fused kernel (``FusedBatchNormV3``, what Keras 2
uses) takes the bfloat16 tensor directly and keeps its statistics in float32 inside.
Measured on an AMX CPU (docs/benchmarks.md, ``benchmarks/precision.py --train``): a
ResNet-50 training step under ``mixed_bfloat16`` runs about 1.7x faster with it; in float32
the fused kernel was measured *slower* than Keras' own (0.90x), so float32 layers are left alone.

:func:`use_fused_batchnorm` changes how each eligible layer computes, not the model: the
layers, their weights, their config and every saved file stay plain Keras, and a model loaded
elsewhere computes the same function with Keras' own kernels. ``kerascnn train`` and
``finetune`` call it for every run under a bfloat16 policy on the TensorFlow backend.
"""

from __future__ import annotations

from kerascnn._keras_internals import replace_call
from kerascnn.runtime import BACKEND, IS_KERAS3, keras
from kerascnn.surgery.fold import all_layers

#: Compute dtypes whose layers get the fused kernel (float32 measured slower: module docstring).
FUSED_DTYPES = ("bfloat16",)


def use_fused_batchnorm(model, dtypes=FUSED_DTYPES) -> int:
    """Make every eligible ``BatchNormalization`` in ``model`` (nested models too) use the fused kernel.

    Eligible: Keras 3 on the TensorFlow backend (Keras 2 fuses by itself; JAX has no such
    kernel), a compute dtype in ``dtypes``, no ``renorm``, not ``synchronized``. In training the
    layer normalises with the batch's moments and updates its moving mean and variance exactly
    as Keras does (the biased batch variance); otherwise it uses the moving statistics. Inputs
    that are not 4-D with channels last, or come with a mask, take Keras' own path.
    Returns how many layers were switched (0 where nothing applies). Calling it twice is harmless.

    Examples:
        >>> import kerascnn
        >>> from kerascnn.deploy import use_fused_batchnorm
        >>> from kerascnn.runtime import keras
        >>> keras.mixed_precision.set_global_policy("mixed_bfloat16")
        >>> model = kerascnn.resnet18(input_shape=(32, 32, 3), num_classes=10, compile=False)
        >>> keras.mixed_precision.set_global_policy("float32")
        >>> use_fused_batchnorm(model) == (20 if keras.backend.backend() == "tensorflow" and
        ...                                kerascnn.runtime.IS_KERAS3 else 0)
        True
    """
    if not IS_KERAS3 or BACKEND != "tensorflow":
        return 0
    count = 0
    for layer in all_layers(model):
        if _eligible(layer, dtypes):
            if not getattr(layer, "_kerascnn_fused", False):
                replace_call(layer, _fused_call)
                layer._kerascnn_fused = True
            count += 1
    return count


def _eligible(layer, dtypes) -> bool:
    return (isinstance(layer, keras.layers.BatchNormalization) and layer.compute_dtype in dtypes
            and not layer.renorm and not getattr(layer, "synchronized", False) and isinstance(layer.axis, int))


def _fused_call(self, inputs, training=None, mask=None):
    """``BatchNormalization.call`` through ``FusedBatchNormV3`` (bound to one layer)."""
    import tensorflow as tf  # noqa: PLC0415 - TensorFlow backend only (use_fused_batchnorm checks)

    if mask is not None or len(inputs.shape) != 4 or self.axis % 4 != 3:  # the kernel: NHWC, 4-D only
        return type(self).call(self, inputs, training=training, mask=mask)
    channels = inputs.shape[-1]
    scale = self.gamma if self.scale else tf.ones((channels,), "float32")
    offset = self.beta if self.center else tf.zeros((channels,), "float32")
    scale, offset = tf.cast(scale, "float32"), tf.cast(offset, "float32")
    if training and self.trainable:
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, scale, offset, epsilon=self.epsilon, is_training=True)
        # the kernel returns the unbiased (n - 1) variance for the running average; Keras keeps
        # the biased one, so the moving variance is the same as with Keras' own kernel
        count = tf.cast(tf.size(inputs) // channels, "float32")
        variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
    else:
        outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
            inputs, scale, offset, mean=tf.cast(self.moving_mean, "float32"),
            variance=tf.cast(self.moving_variance, "float32"), epsilon=self.epsilon, is_training=False)
    return tf.cast(outputs, self.compute_dtype)
