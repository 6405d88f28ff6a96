"""The reference card of a model whose counts come from a keras.applications model of the same layout."""

from __future__ import annotations


def applications_card(builder, family: str, description: str, input_shape: tuple, min_input_size: int,
                      figures: tuple, sources: dict, weights) -> dict:
    """The variants-table entry (:func:`kerascnn.registry.register_family`) of such a model.

    ``figures`` is ``(params, non_trainable, gmacs, top1)``: Keras counts (BatchNorm statistics
    included), then the published operation count and accuracy; ``sources`` says where each
    comes from; ``weights`` is the :class:`~kerascnn.registry.Weights` record of the
    application's ImageNet weights.

    Examples:
        >>> from kerascnn.registry import keras_weights
        >>> entry = applications_card(print, "x", "an example", (8, 8, 3), 1, (10, 2, None, None), {},
        ...                           keras_weights("Xception", "tf"))
        >>> entry["trainable_params"], entry["weights"][0].application
        (8, 'Xception')
    """
    params, frozen, gmacs, top1 = figures
    return {
        "builder": builder,
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
        "weights": (weights,),
    }
