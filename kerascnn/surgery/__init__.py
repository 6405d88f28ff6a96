"""Model surgery on any functional Keras model: SE blocks, BatchNorm folding, activation swaps, new input sizes.

Every function returns a *new*, uncompiled functional model built by one graph rewriter
(:mod:`kerascnn.surgery.rewrite`): the layers of the original are copied with their
weights, so the original model is never changed and the two share no state. They work in
Keras 3 (TensorFlow, JAX) and Keras 2 (tf-keras), on kerascnn, keras.applications and
keras-cv-attention-models (kecam) models, nested models included.

Examples:
    >>> from kerascnn.runtime import keras
    >>> from kerascnn import surgery
    >>> x = keras.Input((16, 16, 3))
    >>> y = keras.layers.Conv2D(32, 3, name="conv")(x)
    >>> y = keras.layers.BatchNormalization(name="bn")(y)
    >>> y = keras.layers.Activation("relu", name="relu")(y)
    >>> model = keras.Model(x, y)
    >>> [l.name for l in surgery.fold_batchnorm(model).layers[1:]]
    ['conv', 'relu']
    >>> surgery.add_se(model, where="conv").count_params() - model.count_params()  # 2*32*2 + 2 + 32
    162
    >>> surgery.replace_activation(model, "relu", "tanh").get_layer("relu").get_config()["activation"]
    'tanh'
    >>> tuple(surgery.change_input_shape(model, (32, 32, 3)).output.shape)
    (None, 30, 30, 32)
"""

from kerascnn.surgery.edits import change_input_shape, replace_activation
from kerascnn.surgery.fold import fold_batchnorm, randomize_batchnorm
from kerascnn.surgery.rewrite import Edit, rewrite
from kerascnn.surgery.se import add_se

__all__ = ["Edit", "add_se", "change_input_shape", "fold_batchnorm", "randomize_batchnorm", "replace_activation", "rewrite"]
