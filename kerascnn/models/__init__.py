"""The model zoo: one module per family. Importing this package registers every builder."""

from kerascnn.models.alexnet import alexnet, alexnet_mini, zfnet
from kerascnn.models.davit import davit_b, davit_s, davit_t
from kerascnn.models.googlenet import googlenet, googlenet_inference_model
from kerascnn.models.lenet import lenet5
from kerascnn.models.resnet import (
    resnet18, resnet34, resnet50, resnet101, resnet152,
    se_resnet18, se_resnet34, se_resnet50, se_resnet101, se_resnet152,
)
from kerascnn.models.tutorial import mnist_cnn, mnist_cnn_5x5
from kerascnn.models.vgg import vgg11, vgg13, vgg16, vgg19

__all__ = [
    "googlenet", "googlenet_inference_model",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "se_resnet18", "se_resnet34", "se_resnet50", "se_resnet101", "se_resnet152",
    "lenet5",
    "alexnet", "alexnet_mini", "zfnet",
    "davit_t", "davit_s", "davit_b",
    "mnist_cnn", "mnist_cnn_5x5",
    "vgg11", "vgg13", "vgg16", "vgg19"]
