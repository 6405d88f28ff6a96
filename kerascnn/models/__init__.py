"""The model zoo: one module per family. Importing this package registers every builder."""

from kerascnn.models.lenet import lenet5

__all__ = ["lenet5"]
