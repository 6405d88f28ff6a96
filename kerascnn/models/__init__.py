"""The model zoo: one module per family. Importing this package registers every builder."""

from kerascnn.models.alexnet import alexnet, alexnet_mini, zfnet
from kerascnn.models.lenet import lenet5
from kerascnn.models.tutorial import mnist_cnn, mnist_cnn_5x5

__all__ = [
    "lenet5",
    "alexnet", "alexnet_mini", "zfnet",
    "mnist_cnn", "mnist_cnn_5x5"]
