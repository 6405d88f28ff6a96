"""Test-suite wiring: tiers and runtime selection by marker, and no network.

**Tiers.** A plain ``pytest`` runs the *fast tier*, the check before each commit, in the
default runtime: every test marked neither ``full`` nor ``slow`` (``addopts`` in
pyproject.toml). ``tests/run_all.sh`` (the README's test command, run by ``.ci/run``) runs the
*full tier*: every test (``-m ""``), once per runtime. Mark a test

* ``full`` when it starts Python processes that import TensorFlow or trains for long:
  SIGKILL and subprocess tests, multi-process training, notebooks, the docs build;
* ``slow`` when it builds large models or more variants of blocks a fast test already
  builds, or is a costlier second check of code a fast test covers (the ONNX export); for a
  sweep over models, ``tiers.sweep(names)`` keeps the smallest of each kind fast.

Everything else stays in the fast tier, so that every module keeps a quick check (and the
doctests, fast, run every module's examples).

**Runtimes.** The full tier runs once per runtime: Keras 3 on TensorFlow runs every test (but
``legacy_only``); the Keras 2 and JAX runs run the tests that exercise what differs between
runtimes. Tests that do not run are *deselected* (not skipped), by their markers:

* ``every_runtime``: builders, layers and the code with a runtime-specific path (the training
  core, export, precision, the graph adapter, heatmaps): run in all three runtimes. A family's
  *architecture facts* (counts and layer names against keras.applications, torchvision or a
  paper, output sizes, MACs) are left to the Keras 3 / TensorFlow run: they follow from the
  builder's own code, the same in every runtime, while what a runtime could change is still
  checked in each: every registered model builds with its card's parameter count
  (tests/test_registry.py) and runs at an odd input size (tests/models/test_contract.py), and
  pretrained weights load with identical outputs;
* ``keras2``: also in the Keras 2 run (code with a Keras 2 branch that ``every_runtime`` tests
  do not reach: data, analysis, surgery, training, serialization); not on JAX;
* ``legacy_only``: needs Keras 2 (tf-keras), e.g. kecam backbones: the Keras 2 run only;
* ``keras3_only``: the feature exists only in Keras 3;
* ``tensorflow_only``: needs the TensorFlow backend (not JAX);
* ``one_runtime``: on a test of an ``every_runtime`` or ``keras2`` module (or on a case of an
  ``every_runtime`` test), narrows it to the Keras 3 / TensorFlow run: the larger models of a
  sweep, which repeat the representatives' blocks. ``one_runtime`` and ``every_runtime`` on the
  same test function (or the same case), or ``one_runtime`` and ``legacy_only``, fail collection.

A test with none of these runs in the Keras 3 / TensorFlow run only: text, files, argument
parsing, the catalogue, the commands, subprocess and benchmark-script tests.
"""

from __future__ import annotations

import os
import socket

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _runtime():
    """kerascnn.runtime, imported (with Keras and its backend) on first use: in the test processes,
    not in pytest-xdist's controller, which only hands out tests and would spend ~12 s of CPU
    importing TensorFlow while the workers start."""
    from kerascnn import runtime  # noqa: PLC0415 - after the logging switch, and only where needed

    return runtime


def pytest_configure(config):
    config.addinivalue_line("markers", "every_runtime: runs in all three runtimes (tests/conftest.py)")
    config.addinivalue_line("markers", "keras2: also runs in the Keras 2 run, not on JAX (tests/conftest.py)")


def _check_markers(item) -> None:
    if item.get_closest_marker("one_runtime"):
        # a module's or a test's `every_runtime` may be narrowed for some of its cases (a sweep's
        # larger models, by a parameter's marks); the same level marked both is a mistake
        function_level = {mark.name for mark in getattr(item.function, "pytestmark", [])}
        case_level = {mark.name for mark in getattr(getattr(item, "callspec", None), "marks", [])}
        clash = [name for name in ("every_runtime", "legacy_only")
                 if {name, "one_runtime"} <= function_level or {name, "one_runtime"} <= case_level
                 or (name == "legacy_only" and item.get_closest_marker(name))]
        if clash:
            raise pytest.UsageError(f"{item.nodeid}: marked one_runtime and {clash[0]}; a test that runs "
                                    "in every runtime (or in Keras 2 only) is not runtime-independent.")


def _applies(item) -> bool:
    runtime = _runtime()
    marked = {name for name in ("one_runtime", "keras3_only", "legacy_only", "tensorflow_only", "every_runtime",
                                "keras2") if item.get_closest_marker(name)}
    if "keras3_only" in marked and not runtime.IS_KERAS3:
        return False
    if "legacy_only" in marked:
        return not runtime.IS_KERAS3
    if "tensorflow_only" in marked and runtime.BACKEND != "tensorflow":
        return False
    if runtime.IS_KERAS3 and runtime.BACKEND == "tensorflow":
        return True  # the reference runtime runs everything else
    if "one_runtime" in marked:
        return False
    if runtime.BACKEND == "jax":
        return "every_runtime" in marked
    return bool(marked & {"every_runtime", "keras2"})  # Keras 2


def pytest_collection_modifyitems(config, items):
    for item in items:
        _check_markers(item)
    selected = [item for item in items if _applies(item)]
    deselected = [item for item in items if not _applies(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def pytest_report_header(config):
    tier = "fast (tests/run_all.sh runs the full one)" if config.option.markexpr == "not full and not slow" else (
        f"-m {config.option.markexpr!r}" if config.option.markexpr else "full")
    if getattr(config.option, "numprocesses", None):  # pytest-xdist's controller: the workers import Keras
        chosen = ", ".join(f"{name}={os.environ.get(name) or 'unset'}"
                           for name in ("KERAS_BACKEND", "TF_USE_LEGACY_KERAS"))
        return f"kerascnn runtime: as {chosen} choose, in each worker; test tier: {tier}"
    return f"kerascnn runtime: {_runtime().describe()}; test tier: {tier}"


@pytest.fixture(autouse=True, scope="session")
def numpy_initial_weights_on_jax():
    """On JAX, Keras' initializers draw with NumPy (``tests.models.zoo_helpers.numpy_initializers``):
    the same distributions and seeds without compiling a draw for every weight shape."""
    if _runtime().BACKEND != "jax":
        yield
        return
    from tests.models.zoo_helpers import numpy_initializers  # noqa: PLC0415

    with numpy_initializers():
        yield


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
LOOPBACK = ("127.0.0.1", "::1", "localhost", "0.0.0.0")


def _guard(address):
    if isinstance(address, tuple) and address and address[0] not in LOOPBACK:
        raise OSError(f"network access is refused during tests (tried to connect to {address!r})")


def _connect(sock, address):
    _guard(address)
    return _real_connect(sock, address)


def _connect_ex(sock, address):
    _guard(address)
    return _real_connect_ex(sock, address)


@pytest.fixture(autouse=True, scope="session")
def no_network():
    """Refuse sockets to anything but loopback, so a test that would download fails loudly."""
    socket.socket.connect = _connect
    socket.socket.connect_ex = _connect_ex
    yield
    socket.socket.connect = _real_connect
    socket.socket.connect_ex = _real_connect_ex
