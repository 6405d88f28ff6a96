"""Deployment: the fastest inference model for this machine, and export to other runtimes.

* :func:`optimize` folds BatchNorm and computes in bfloat16/float16 where the hardware has
  a fast path (:mod:`kerascnn.deploy.hardware` decides, and says why);
* :func:`export` writes a model as a ``.keras`` file, a TensorFlow SavedModel, ONNX or LiteRT.

Examples:
    >>> from kerascnn.deploy import PRECISIONS
    >>> PRECISIONS
    ('float32', 'bfloat16', 'float16')
"""

from kerascnn.deploy.hardware import PRECISIONS, Choice, Hardware, choose_precision, detect, resolve
from kerascnn.deploy.optimize import DeployInfo, optimize

__all__ = ["PRECISIONS", "Choice", "DeployInfo", "Hardware", "choose_precision", "detect", "optimize", "resolve"]
