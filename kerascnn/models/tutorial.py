"""The small MNIST CNNs that tutorials teach, layer for layer.

* ``mnist_cnn``: the Keras / TensorFlow tutorial CNN. 28x28x1 -> conv 32@3x3 relu -> max
  pool 2 -> conv 64@3x3 relu -> max pool 2 -> conv 64@3x3 relu -> flatten (3x3x64) ->
  dense 64 relu -> dropout 0.2 -> dense 10. 93,322 parameters.
* ``mnist_cnn_5x5``: the 5x5 CNN written in PyTorch tutorials. 28x28x1 -> conv 16@5x5 relu
  -> conv 32@5x5 relu -> max pool 2 -> conv 64@5x5 relu -> max pool 2 -> flatten (3x3x64)
  -> dense 100 relu -> dense 10. 123,222 parameters.

Both take any input of at least their minimum (18x18 and 20x20); larger inputs give the
first dense layer more weights.
"""

from __future__ import annotations

from kerascnn.models import base
from kerascnn.models._fc import dense_top
from kerascnn.registry import REFERENCES, register_family
from kerascnn.runtime import keras

layers = keras.layers


def mnist_cnn(input_shape=(28, 28, 1), num_classes=None, include_top=True, **options):
    """The Keras MNIST tutorial CNN (93,322 parameters at 28x28x1, 10 classes).

    ``dropout`` (default 0.2) is the rate after the dense 64 layer. ``include_top=False``
    returns the last convolution's 3x3x64 map (pooled as ``pooling``).

    Examples:
        >>> import kerascnn
        >>> model = kerascnn.mnist_cnn()
        >>> model.count_params(), tuple(model.output.shape)
        (93322, (None, 10))
    """
    inputs, head = base.start(input_shape, 18, "mnist_cnn", num_classes, include_top, options,
                              default_classes=10, fixed_size=True)
    x = layers.Conv2D(32, 3, activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(64, 3, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Conv2D(64, 3, activation="relu", name="conv3")(x)
    x = dense_top(x, head, options, fc_units=(64,), dropout=0.2)
    return base.finish(inputs, x, head, options, default_name="mnist_cnn")


def mnist_cnn_5x5(input_shape=(28, 28, 1), num_classes=None, include_top=True, **options):
    """The 5x5 MNIST CNN of PyTorch tutorials (123,222 parameters at 28x28x1, 10 classes).

    PyTorch tutorials end with logits and ``CrossEntropyLoss``; here the head follows the
    kerascnn conventions (softmax, or ``classifier_activation=None`` for logits). No dropout
    unless ``dropout`` is given. ``include_top=False`` returns the 3x3x64 map after pool2.

    Examples:
        >>> import kerascnn
        >>> kerascnn.mnist_cnn_5x5(compile=False).count_params()
        123222
    """
    inputs, head = base.start(input_shape, 20, "mnist_cnn_5x5", num_classes, include_top, options,
                              default_classes=10, fixed_size=True)
    x = layers.Conv2D(16, 5, activation="relu", name="conv1")(inputs)
    x = layers.Conv2D(32, 5, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(64, 5, activation="relu", name="conv3")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = dense_top(x, head, options, fc_units=(100,), dropout=0.0)
    return base.finish(inputs, x, head, options, default_name="mnist_cnn_5x5")


#: The variants: name -> builder and card (see kerascnn.registry.register_family).
VARIANTS = {
    "mnist_cnn": dict(
        builder=mnist_cnn,
        family="tutorial",
        description="Keras MNIST tutorial CNN: conv 32-64-64 @3x3, dense 64, dropout 0.2, 28x28x1",
        input_shape=(28, 28, 1),
        # 18 -> conv 16 -> pool 8 -> conv 6 -> pool 3 -> conv 1; at 17 the last conv gets 2x2 -> 0
        min_input_size=(18, 18),
        num_classes=10,
        params=93_322,
        trainable_params=93_322,
        non_trainable_params=0,
        sources={"params": REFERENCES + ", tutorial models: Keras MNIST CNN, 93,322 "
                           "(320 + 18,496 + 36,928 + 36,928 + 650)"},
    ),
    "mnist_cnn_5x5": dict(
        builder=mnist_cnn_5x5,
        family="tutorial",
        description="PyTorch-tutorial MNIST CNN: conv 16-32-64 @5x5, dense 100, 28x28x1",
        input_shape=(28, 28, 1),
        # 20 -> conv 16 -> conv 12 -> pool 6 -> conv 2 -> pool 1; at 19 the last pool gets 1x1 -> 0
        min_input_size=(20, 20),
        num_classes=10,
        params=123_222,
        trainable_params=123_222,
        non_trainable_params=0,
        sources={"params": REFERENCES + ", tutorial models: PyTorch-style MNIST CNN, 123,222 "
                           "(416 + 12,832 + 51,264 + 57,700 + 1,010)"},
    ),
}
register_family(VARIANTS)
