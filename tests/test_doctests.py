"""Every example in a kerascnn docstring runs and prints what it says (so the docs cannot rot)."""

import doctest
import importlib
import pkgutil

import pytest

import kerascnn

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(kerascnn.__path__, prefix="kerascnn.")
    if not info.name.startswith("kerascnn.commands")
)


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {module_name}"
