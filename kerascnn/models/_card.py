"""The reference card of a model whose counts come from a keras.applications model of the same layout."""

from __future__ import annotations


def applications_card(family: str, description: str, input_shape: tuple, min_input_size: int, figures: tuple,
                      sources: dict) -> dict:
    """Keyword arguments for :func:`kerascnn.registry.register`, with ImageNet weights.

    ``figures`` is ``(params, non_trainable, gmacs, top1)``: Keras counts (BatchNorm statistics
    included), then the published operation count and accuracy; ``sources`` says where each
    comes from.

    Examples:
        >>> card = applications_card("x", "an example", (8, 8, 3), 1, (10, 2, None, None), {})
        >>> card["trainable_params"], card["pretrained"]
        (8, ('imagenet',))
    """
    params, frozen, gmacs, top1 = figures
    return {
        "family": family,
        "description": description,
        "input_shape": input_shape,
        "min_input_size": (min_input_size, min_input_size),
        "num_classes": 1000,
        "params": params,
        "trainable_params": params - frozen,
        "non_trainable_params": frozen,
        "gmacs": gmacs,
        "top1": top1,
        "sources": sources,
        "pretrained": ("imagenet",),
    }
