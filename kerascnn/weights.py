"""Loading weights into kerascnn models: ``None``, ``"imagenet"`` or a file path.

A failed load is always an exception: kerascnn never hands back a model with random
weights when pretrained ones were asked for.

Examples:
    >>> import kerascnn
    >>> model = kerascnn.lenet5(weights=None)  # random initialisation, on purpose
"""

from __future__ import annotations

import os

from kerascnn.runtime import IS_KERAS3


def load_model_weights(model, weights, imagenet_loader=None):
    """Load ``weights`` into ``model``; raise ValueError on anything that does not match."""
    if weights is None:
        return model
    if weights == "imagenet":
        if imagenet_loader is None:
            raise ValueError(
                f"weights='imagenet' is not available for {model.name}; pretrained ImageNet "
                "weights exist for vgg16, vgg19, resnet50, resnet101 and resnet152 "
                "(see kerascnn.list_models and each model card's 'pretrained'). Use weights=None "
                "or the path of a weights file saved by kerascnn."
            )
        imagenet_loader(model)
        return model
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"weights must be None, 'imagenet' or a file path, got {weights!r}.")
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise ValueError(f"weights={path!r}: no such file. Use None, 'imagenet' or the path of a weights file.")
    try:
        if IS_KERAS3 and path.endswith(".keras"):
            from kerascnn.runtime import keras  # noqa: PLC0415

            source = keras.models.load_model(path, compile=False)
            _copy_by_position(source, model, path)
        else:
            model.load_weights(path)
    except (ValueError, OSError, KeyError, TypeError) as error:
        raise ValueError(
            f"weights={path!r} do not fit model {model.name!r} "
            f"({len(model.weights)} weight tensors, {model.count_params():,} parameters): {error}"
        ) from None
    return model


def _copy_by_position(source, target, path):
    source_weights = source.get_weights()
    target_shapes = [tuple(w.shape) for w in target.weights]
    source_shapes = [tuple(w.shape) for w in source_weights]
    if source_shapes != target_shapes:
        raise ValueError(f"{path} holds {len(source_shapes)} tensors of other shapes")
    target.set_weights(source_weights)
