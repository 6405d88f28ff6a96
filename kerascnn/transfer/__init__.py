"""kerascnn.transfer: pretrained backbones, freezing, staged fine-tuning, callbacks.

The whole workflow::

    from kerascnn import transfer
    model = transfer.build("DaViT_T", num_classes=1, input_shape=(280, 280, 3))
    history = transfer.fine_tune(model, train, val, head_epochs=5, epochs=10, freeze="first:80")

The names below are imported on first use, so that ``kerascnn.transfer.catalogue`` (which
decides whether a backbone needs Keras 2) can be read before Keras is imported.

Examples:
    >>> from kerascnn import transfer
    >>> transfer.scenario("small_similar").name
    'little_data_similar_domain'
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "backbone": "backbones", "backbone_info": "backbones", "list_backbones": "backbones",
    "BackboneInfo": "backbones",
    "build": "model",
    "freeze": "freezing", "unfreeze": "freezing", "trainable_report": "freezing",
    "get_backbone": "freezing", "parse_plan": "freezing", "TrainableReport": "freezing",
    "fine_tune": "finetune", "callbacks": "finetune", "FineTuneHistory": "finetune",
    "discriminative_optimizer": "finetune", "fine_tune_run": "finetune",
    "scenario": "scenarios", "choose_scenario": "scenarios", "Scenario": "scenarios", "SCENARIOS": "scenarios",
    "WeightsError": "weights", "fetch": "weights", "load_weights": "weights", "check_loaded": "weights",
    "Preprocessing": "preprocessing",
    "needs_legacy": "catalogue",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"kerascnn.transfer.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kerascnn.transfer' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
