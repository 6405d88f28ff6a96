"""The model zoo: one module per family. Importing this package registers every builder.

Every module of this folder whose name does not start with ``_`` (``base`` excepted) is a
family: it is imported here, and each builder function it registers is exported
(``from kerascnn.models import vgg16``, ``kerascnn.vgg16``), so adding a family needs no
edit here. Public helpers a family lists in ``PUBLIC`` are exported too
(``googlenet_inference_model``).

Examples:
    >>> from kerascnn import models
    >>> "vgg16" in models.__all__ and "lenet5" in models.__all__
    True
"""

import importlib
import pkgutil

from kerascnn import registry

_NOT_FAMILIES = {"base"}


def _families() -> list:
    return sorted(info.name for info in pkgutil.iter_modules(__path__)
                  if not info.name.startswith("_") and info.name not in _NOT_FAMILIES)


def _export() -> list:
    names = []
    for family in _families():
        module = importlib.import_module(f"{__name__}.{family}")
        public = list(getattr(module, "PUBLIC", ()))
        public += sorted({builder.__name__ for builder in registry.builders_of(module.__name__)})
        for name in public:
            globals()[name] = getattr(module, name)
            names.append(name)
    return names


__all__ = _export()
