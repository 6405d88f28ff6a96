"""Test-suite wiring: runtime selection by marker, and no network.

The suite runs once per runtime (see tests/run_all.sh). Tests that cannot apply to the
active runtime are *deselected* (not skipped) by their markers:

* ``keras3_only``: the feature exists only in Keras 3;
* ``legacy_only``: needs Keras 2 (tf-keras), e.g. kecam backbones;
* ``tensorflow_only``: needs the TensorFlow backend;
* ``builders``: part of the subset run on the JAX backend (builders and training);
  in the JAX run every test *without* this marker is deselected.
"""

from __future__ import annotations

import os
import socket

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kerascnn import runtime  # noqa: E402 - after the logging switch


def pytest_configure(config):
    config.addinivalue_line("markers", "builders: part of the JAX-backend run (builders and training)")


def _applies(item) -> bool:
    if item.get_closest_marker("keras3_only") and not runtime.IS_KERAS3:
        return False
    if item.get_closest_marker("legacy_only") and runtime.IS_KERAS3:
        return False
    if item.get_closest_marker("tensorflow_only") and runtime.BACKEND != "tensorflow":
        return False
    if runtime.BACKEND == "jax" and not item.get_closest_marker("builders"):
        return False
    return True


def pytest_collection_modifyitems(config, items):
    selected = [item for item in items if _applies(item)]
    deselected = [item for item in items if not _applies(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def pytest_report_header(config):
    return f"kerascnn runtime: {runtime.describe()}"


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
