"""The input preprocessing each pretrained backbone was trained with, as stock Keras layers.

A pretrained backbone only works on inputs scaled the way it saw them during
pre-training. kerascnn puts that scaling *inside* the model (so ``model.predict`` on raw
0-255 pixels is right, and a saved model carries it), and offers the same arithmetic on
NumPy arrays for code that feeds the backbone directly.

=========  ==========================================  ==========================================
mode       arithmetic on 0-255 RGB pixels              used by
=========  ==========================================  ==========================================
torch      (x / 255 - ImageNet mean) / ImageNet std    kecam (DaViT, ...), DenseNet
tf         x / 127.5 - 1                               ResNetV2, MobileNet(V2), Inception, Xception
raw01      x / 255                                     kerascnn's own zoo
caffe      RGB -> BGR, minus the ImageNet BGR mean     VGG16/19, ResNet50/101/152 (keras.applications)
none       nothing (the backbone rescales itself)      EfficientNet(V2), ConvNeXt, MobileNetV3, RegNet
=========  ==========================================  ==========================================

Examples:
    >>> import numpy as np
    >>> spec = preprocessing("tf")
    >>> spec(np.array([[[[0.0, 127.5, 255.0]]]])).tolist()
    [[[[-1.0, 0.0, 1.0]]]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kerascnn.errors import check_choice
from kerascnn.runtime import IS_KERAS3, keras

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
CLIP_MEAN_RGB = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD_RGB = (0.26862954, 0.26130258, 0.27577711)

# mode -> (mean, std, reverse channels), on 0-255 pixels
_MODES = {
    "torch": (tuple(m * 255.0 for m in IMAGENET_MEAN_RGB), tuple(s * 255.0 for s in IMAGENET_STD_RGB), False),
    "clip": (tuple(m * 255.0 for m in CLIP_MEAN_RGB), tuple(s * 255.0 for s in CLIP_STD_RGB), False),
    "tf": (127.5, 127.5, False),
    "tf128": (128.0, 128.0, False),
    "raw01": (0.0, 255.0, False),
    "caffe": (CAFFE_MEAN_BGR, 1.0, True),
    "none": (0.0, 1.0, False),
}
MODES = tuple(_MODES)


@keras.saving.register_keras_serializable(package="kerascnn")
class ReverseChannels(keras.layers.Layer):
    """RGB -> BGR (reverses the last axis); no weights. Caffe-style backbones need it.

    Examples:
        >>> import numpy as np
        >>> np.asarray(ReverseChannels()(np.array([[1.0, 2.0, 3.0]], "float32"))).tolist()
        [[3.0, 2.0, 1.0]]
    """

    def call(self, inputs):
        if IS_KERAS3:
            return keras.ops.flip(inputs, axis=-1)
        import tensorflow as tf  # noqa: PLC0415 - Keras 2 runs on TensorFlow only

        return tf.reverse(inputs, axis=[-1])

    def compute_output_shape(self, input_shape):
        return input_shape


@dataclass(frozen=True)
class Preprocessing:
    """How raw 0-255 RGB pixels become a backbone's inputs: ``(x[, ::-1] - mean) / std``."""

    mode: str
    mean: float | tuple = 0.0
    std: float | tuple = 1.0
    reverse_channels: bool = False

    @property
    def is_identity(self) -> bool:
        return self.mode == "none"

    def layers(self, name: str = "preprocessing") -> list:
        """Fresh stock Keras layers doing this preprocessing (empty for ``"none"``).

        The arithmetic is one ``Rescaling`` layer, ``x * (1 / std) - mean / std``, per channel
        (named ``..._normalize``) or scalar (``..._rescale``); it has no weights, so parameter
        counts are unchanged. Not ``Normalization``: Keras 3 makes its fixed mean and variance
        eager tensors at build time, which tf2onnx turned into two extra inputs of an exported
        ONNX model; ``Rescaling`` casts its constants inside ``call``, where they stay constants.
        """
        if self.is_identity:
            return []
        result = []
        if self.reverse_channels:
            result.append(ReverseChannels(name=f"{name}_bgr"))
        if isinstance(self.mean, tuple) or isinstance(self.std, tuple):
            mean = np.broadcast_to(np.asarray(self.mean, "float64"), (3,))
            std = np.broadcast_to(np.asarray(self.std, "float64"), (3,))
            result.append(keras.layers.Rescaling(
                (1.0 / std).tolist(), offset=(-mean / std).tolist(), name=f"{name}_normalize"))
        else:
            result.append(keras.layers.Rescaling(
                1.0 / self.std, offset=-self.mean / self.std, name=f"{name}_rescale"))
        return result

    def apply(self, x, name: str = "preprocessing"):
        """Apply :meth:`layers` to a symbolic tensor (functional API)."""
        for layer in self.layers(name):
            x = layer(x)
        return x

    def __call__(self, images):
        """The same arithmetic on a NumPy array of 0-255 pixels (channels last), as float32."""
        x = np.asarray(images, dtype="float32")
        if self.reverse_channels:
            x = x[..., ::-1]
        return ((x - np.asarray(self.mean, "float32")) / np.asarray(self.std, "float32")).astype("float32")


def preprocessing(mode) -> Preprocessing:
    """The :class:`Preprocessing` of a mode name (see the table above), or pass one through.

    Examples:
        >>> preprocessing("caffe").reverse_channels
        True
    """
    if isinstance(mode, Preprocessing):
        return mode
    check_choice("preprocessing", mode, MODES)
    mean, std, reverse = _MODES[mode]
    return Preprocessing(mode, mean, std, reverse)
