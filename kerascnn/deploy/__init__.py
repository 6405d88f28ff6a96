"""Deployment: the fastest inference model for this machine, and export to other runtimes.

* :func:`optimize` folds BatchNorm and computes in bfloat16/float16 where the hardware has
  a fast path (:mod:`kerascnn.deploy.hardware` decides, and says why);
* :func:`use_fused_batchnorm` trains BatchNorm through TensorFlow's fused kernel in bfloat16;
* :func:`export` writes a model as a ``.keras`` file, a TensorFlow SavedModel, ONNX or LiteRT.

Examples:
    >>> from kerascnn.deploy import FORMATS, PRECISIONS
    >>> PRECISIONS, list(FORMATS)
    (('float32', 'bfloat16', 'float16'), ['keras', 'savedmodel', 'onnx', 'litert'])
"""

from kerascnn.deploy.exporter import FORMATS, MissingConverterError, export
from kerascnn.deploy.fused_batchnorm import use_fused_batchnorm
from kerascnn.deploy.hardware import PRECISIONS, Choice, Hardware, choose_precision, detect, resolve
from kerascnn.deploy.precision import DeployInfo, for_evaluation, optimize, training_precision

__all__ = ["FORMATS", "PRECISIONS", "Choice", "DeployInfo", "Hardware", "MissingConverterError", "choose_precision",
           "detect", "export", "for_evaluation", "optimize", "resolve", "training_precision",
           "use_fused_batchnorm"]
