"""The few custom layers kerascnn needs, registered so saved models load with ``safe_mode``.

Examples:
    >>> import numpy as np
    >>> from kerascnn.layers import LocalResponseNormalization
    >>> tuple(LocalResponseNormalization()(np.ones((1, 2, 2, 8), "float32")).shape)
    (1, 2, 2, 8)
"""

from __future__ import annotations

from kerascnn.runtime import keras, ops


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
class BatchReshape(keras.layers.Layer):
    """Reshape to ``(-1, *target_shape)``: unlike ``keras.layers.Reshape``, the batch axis may change.

    Window attention folds the windows of each image into the batch axis and back;
    :mod:`kerascnn.analysis` follows the images through it as through any reshape.

    Examples:
        >>> import numpy as np
        >>> tuple(BatchReshape((2, 3))(np.zeros((2, 4, 3), "float32")).shape)
        (4, 2, 3)
    """

    analysis_kind = "reshape"

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)

    def call(self, inputs):
        return ops.reshape(inputs, (-1, *self.target_shape))

    def compute_output_shape(self, input_shape):
        return (None, *self.target_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


@keras.saving.register_keras_serializable(package="kerascnn")
class Split(keras.layers.Layer):
    """Split the last axis into ``parts`` equal tensors (query, key and value of attention).

    Examples:
        >>> import numpy as np
        >>> [tuple(t.shape) for t in Split(3)(np.zeros((1, 4, 6), "float32"))]
        [(1, 4, 2), (1, 4, 2), (1, 4, 2)]
    """

    def __init__(self, parts, **kwargs):
        super().__init__(**kwargs)
        self.parts = int(parts)

    def call(self, inputs):
        return list(ops.split(inputs, self.parts, axis=-1))

    def compute_output_shape(self, input_shape):
        return [(*input_shape[:-1], input_shape[-1] // self.parts)] * self.parts

    def get_config(self):
        return {**super().get_config(), "parts": self.parts}


@keras.saving.register_keras_serializable(package="kerascnn")
class MatMul(keras.layers.Layer):
    """The matrix product of two inputs over their last two axes, ``a @ b``.

    :func:`kerascnn.analysis.macs` counts it as a ``matmul``: ``prod(output) * a.shape[-1]``.

    Examples:
        >>> import numpy as np
        >>> a, b = np.ones((1, 2, 3, 4), "float32"), np.ones((1, 2, 4, 5), "float32")
        >>> out = MatMul()([a, b])
        >>> tuple(out.shape), float(np.asarray(out)[0, 0, 0, 0])
        ((1, 2, 3, 5), 4.0)
    """

    analysis_kind = "matmul"

    def call(self, inputs):
        a, b = inputs
        return ops.matmul(a, b)

    def compute_output_shape(self, input_shape):
        a, b = input_shape
        return (*a[:-1], b[-1])


CUSTOM_OBJECTS = {
    "LocalResponseNormalization": LocalResponseNormalization,
    "BatchReshape": BatchReshape,
    "Split": Split,
    "MatMul": MatMul,
}
