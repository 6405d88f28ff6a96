"""See what the network sees: feature maps, filters, Grad-CAM heatmaps and model diagrams.

* :func:`feature_maps`: the activations of chosen layers for one image, a grid per layer;
* :func:`filters`: the first convolution's kernels as tiles;
* :func:`grad_cam` and :func:`overlay`: Grad-CAM heatmaps (Selvaraju et al. 2017) and their display;
* :func:`model_diagram`: a picture of the architecture.

Each works on any functional Keras model, nested backbones included, in Keras 3 on
TensorFlow, Keras 3 on JAX and Keras 2 (tf-keras). The maintained libraries were checked
first and do not cover that: tf-keras-vis ("for tf.keras", last release 2024) and xplique
("for TensorFlow 2") compute their gradients with ``tf.GradientTape`` only, so neither runs on
the JAX backend. kerascnn's implementation is small: one hook on a layer's ``call``
(:mod:`kerascnn.visualize.capture`) and one backend-specific gradient function.

Examples:
    >>> import numpy as np, kerascnn
    >>> from kerascnn import visualize
    >>> model = kerascnn.build("lenet5")
    >>> visualize.grad_cam(model, np.zeros((32, 32, 1), "float32")).shape
    (1, 32, 32)
"""

from kerascnn.visualize.diagram import model_diagram
from kerascnn.visualize.gradcam import grad_cam, overlay
from kerascnn.visualize.maps import feature_maps, filters

__all__ = ["feature_maps", "filters", "grad_cam", "model_diagram", "overlay"]
