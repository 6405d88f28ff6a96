"""What the inference-only commands promise TensorFlow before it is imported (kerascnn._startup)."""

import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.full, pytest.mark.tensorflow_only]  # a Python process per case

PROBE = """
import os, sys
if sys.argv[1] == "tensorflow-loaded":
    sys.modules["tensorflow"] = object()  # stands for an already imported TensorFlow
from kerascnn import _startup
print(_startup.declare_inference_only(), os.environ.get(_startup.FROZEN_WEIGHTS_VARIABLE, "unset"))
"""


def _probe(case, **environment):
    env = {k: v for k, v in os.environ.items() if k != "TF_ONEDNN_ASSUME_FROZEN_WEIGHTS"}
    env.update(environment)
    result = subprocess.run([sys.executable, "-c", PROBE, case], capture_output=True, text=True, timeout=60,
                            env=env, check=True)
    return result.stdout.split()


def test_inference_only_processes_let_onednn_cache_weights():
    assert _probe("fresh") == ["True", "1"]


def test_a_value_the_user_set_wins():
    assert _probe("fresh", TF_ONEDNN_ASSUME_FROZEN_WEIGHTS="0") == ["False", "0"]


def test_nothing_is_promised_once_tensorflow_is_loaded():
    # the process may already have trained, or may train later: a cached weight would go stale
    assert _probe("tensorflow-loaded") == ["False", "unset"]
