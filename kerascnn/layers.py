"""The few custom layers kerascnn needs, registered so saved models load with ``safe_mode``.

Loading a saved kerascnn model needs ``import kerascnn.layers`` first (``kerascnn evaluate``
and :func:`kerascnn.train.load_run_model` do it), as for any registered Keras layer.

Examples:
    >>> import numpy as np
    >>> from kerascnn.layers import LocalResponseNormalization
    >>> tuple(LocalResponseNormalization()(np.ones((1, 2, 2, 8), "float32")).shape)
    (1, 2, 2, 8)
"""

from __future__ import annotations

from kerascnn.runtime import BACKEND, IS_KERAS3, keras, ops


@keras.saving.register_keras_serializable(package="kerascnn")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalization across channels (Krizhevsky et al. 2012, section 3.3).

    ``b[c] = a[c] / (bias + alpha * sum(a[c']**2 for c' within depth_radius of c)) ** beta``

    The defaults are the paper's (n = 5 neighbouring channels, k = 2, alpha = 1e-4,
    beta = 0.75); ``alpha`` multiplies the plain sum, as in ``tf.nn.local_response_normalization``
    (PyTorch divides it by n). Written with backend-neutral ops, so it runs on TensorFlow,
    JAX and Keras 2 alike; it has no weights.

    Examples:
        >>> layer = LocalResponseNormalization(depth_radius=2)
        >>> layer.get_config()["depth_radius"]
        2
    """

    def __init__(self, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        if isinstance(depth_radius, bool) or not isinstance(depth_radius, int) or depth_radius < 0:
            raise ValueError(f"depth_radius must be an integer >= 0, got {depth_radius!r}.")
        self.depth_radius = depth_radius
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, inputs):
        channels = inputs.shape[-1]
        radius = self.depth_radius
        squared = ops.pad(ops.square(inputs), [[0, 0], [0, 0], [0, 0], [radius, radius]])
        window_sum = squared[..., 0:channels]
        for offset in range(1, 2 * radius + 1):
            window_sum = window_sum + squared[..., offset : offset + channels]
        return inputs / ops.power(self.bias + self.alpha * window_sum, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta)
        return config


@keras.saving.register_keras_serializable(package="kerascnn")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """Keras's ``BatchNormalization`` computed by TensorFlow's fused kernel where it applies.

    Same arguments, weights, configuration and results as ``keras.layers.BatchNormalization``
    (outputs agree to float32 rounding; the moving statistics use the same biased batch
    variance). Keras 3 on TensorFlow computes BatchNorm from separate ops (``tf.nn.moments``
    and ``tf.nn.batch_normalization``: several passes over the feature map, and as many
    again in the gradient); this layer calls ``FusedBatchNormV3`` instead: one pass forward,
    one backward, and at inference a form TensorFlow's graph optimiser merges into the
    preceding convolution. ``benchmarks/training.py`` measures the difference (see the
    benchmarks page). Elsewhere (the JAX backend, where XLA fuses anyway; masks;
    ``synchronized=True``; renormalisation; float16 inputs; non-image inputs) it is exactly
    the Keras layer. Keras 2 (tf-keras) has its own fused BatchNorm, so kerascnn's builders
    use this class on Keras 3 only.

    Examples:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(4, 3, 3, 2)).astype("float32")
        >>> fused, plain = FusedBatchNormalization(), keras.layers.BatchNormalization()
        >>> bool(np.allclose(fused(x, training=True), plain(x, training=True), atol=1e-5))
        True
    """

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf  # noqa: PLC0415 - only reached on the TensorFlow backend

        gamma = self.gamma if self.scale else tf.ones_like(self.moving_mean)
        beta = self.beta if self.center else tf.zeros_like(self.moving_mean)
        if not (training and self.trainable):
            return tf.compat.v1.nn.fused_batch_norm(
                inputs, gamma, beta, mean=self.moving_mean, variance=self.moving_variance,
                epsilon=self.epsilon, is_training=False)[0]
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, gamma, beta, epsilon=self.epsilon, is_training=True)[:3]
        # The kernel returns the Bessel-corrected variance; Keras keeps the biased one.
        shape = tf.shape(inputs)
        count = tf.cast(shape[0] * shape[1] * shape[2], variance.dtype)
        variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        return outputs

    def _fusable(self, inputs, training, mask) -> bool:
        return (BACKEND == "tensorflow" and IS_KERAS3 and mask is None and len(inputs.shape) == 4
                and self.axis in (-1, 3, [3], [-1]) and not self.synchronized and not self.renorm
                and str(inputs.dtype).endswith("float32") and self.dtype == "float32"
                and training in (None, True, False))


def batch_normalization(**kwargs):
    """The BatchNormalization layer kerascnn's builders use: fused on Keras 3, Keras 2's own otherwise.

    Examples:
        >>> type(batch_normalization(name="bn")).__name__ in ("FusedBatchNormalization", "BatchNormalization")
        True
    """
    return FusedBatchNormalization(**kwargs) if IS_KERAS3 else keras.layers.BatchNormalization(**kwargs)


CUSTOM_OBJECTS = {"LocalResponseNormalization": LocalResponseNormalization,
                  "FusedBatchNormalization": FusedBatchNormalization}
