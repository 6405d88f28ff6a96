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
    _check_readable(path)
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


def _check_readable(path):
    """A truncated or corrupt file gets a clear message (not "file not found" from Keras)."""
    import zipfile  # noqa: PLC0415

    import h5py  # noqa: PLC0415

    if path.endswith(".keras"):
        readable, kind = zipfile.is_zipfile(path), "a .keras (zip) model file"
    elif path.endswith((".h5", ".hdf5")):
        readable, kind = h5py.is_hdf5(path), "an HDF5 weights file"
    else:
        return
    if not readable:
        raise ValueError(f"weights={path!r} is not {kind}: it is truncated or corrupt "
                         f"({os.path.getsize(path):,} bytes); save or download it again.")


def _copy_by_position(source, target, path):
    source_weights = source.get_weights()
    target_shapes = [tuple(w.shape) for w in target.weights]
    source_shapes = [tuple(w.shape) for w in source_weights]
    if source_shapes != target_shapes:
        raise ValueError(f"{path} holds {len(source_shapes)} tensors of other shapes")
    target.set_weights(source_weights)


def applications_loader(application_name: str, match: str = "name", **application_kwargs):
    """A loader that puts ``keras.applications.<application_name>``'s ImageNet weights into a model.

    The returned function takes a kerascnn model whose layer names follow keras.applications,
    builds the keras.applications model with ``weights="imagenet"`` (with its top when the
    model has a ``predictions`` layer) and copies every weight by layer name
    (:func:`copy_weights_by_name`), or with ``match="order"`` layer by layer in graph order
    (:func:`copy_weights_in_order`), for applications whose layers Keras names itself
    (InceptionV3's ``conv2d_57``). keras.applications downloads the file once and caches it
    (``~/.keras/models``). A failed download raises a RuntimeError: a model is never handed
    back with random weights.

    Examples:
        >>> load = applications_loader("ResNet50")
        >>> callable(load)
        True
    """

    copy = {"name": copy_weights_by_name, "order": copy_weights_in_order}
    if match not in copy:
        raise ValueError(f"match must be 'name' or 'order', got {match!r}.")

    def load(model):
        from kerascnn.runtime import keras  # noqa: PLC0415

        application = getattr(keras.applications, application_name)
        include_top = any(layer.name == "predictions" for layer in model.layers)
        try:
            source = application(weights="imagenet", include_top=include_top, **application_kwargs)
        except Exception as error:  # download, cache or file errors: never continue with random weights
            raise RuntimeError(
                f"could not get the ImageNet weights of keras.applications.{application_name} for "
                f"{model.name}: {type(error).__name__}: {error}. Check the network connection (the file "
                "is downloaded once into ~/.keras/models) or pass weights=<path of a saved file>."
            ) from error
        copy[match](source, model)

    return load


def copy_weights_by_name(source, target, skip=()):
    """Copy the weights of every layer of ``target`` from the layer of ``source`` with its name.

    All or nothing: every weighted layer of ``target`` (except the names in ``skip``) must
    find a layer of the same name, class and weight shapes in ``source``, and every weighted
    layer of ``source`` must be used, otherwise a ValueError lists what did not match and no
    weight is changed. This is how kerascnn takes ``keras.applications`` weights.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> def tiny():
        ...     x = keras.Input((4,))
        ...     return keras.Model(x, keras.layers.Dense(2, name="fc")(x))
        >>> source, target = tiny(), tiny()
        >>> _ = copy_weights_by_name(source, target)
        >>> all((s == t).all() for s, t in zip(source.get_weights(), target.get_weights()))
        True
    """
    problems, pairs, used = [], [], set()
    for layer in target.layers:
        if not layer.weights or layer.name in skip:
            continue
        try:
            origin = source.get_layer(layer.name)
        except ValueError:
            problems.append(f"{layer.name}: no layer of that name in {source.name}")
            continue
        used.add(origin.name)
        _pair(origin, layer, source, target, pairs, problems)
    unused = [layer.name for layer in source.layers
              if layer.weights and layer.name not in used and layer.name not in skip]
    if unused:
        problems.append(f"layers of {source.name} with no counterpart in {target.name}: "
                        + ", ".join(unused[:10]) + (" ..." if len(unused) > 10 else ""))
    return _copy_pairs(pairs, problems, source, target)


def _pair(origin, layer, source, target, pairs, problems):
    """Queue ``origin``'s weights for ``layer`` if class and shapes agree, else note the mismatch."""
    values = origin.get_weights()
    have = [tuple(w.shape) for w in values]
    want = [tuple(w.shape) for w in layer.weights]
    if type(origin).__name__ != type(layer).__name__ or have != want:
        where = source.name if origin.name == layer.name else f"{source.name} (layer {origin.name!r})"
        problems.append(f"{layer.name}: {type(origin).__name__} with weight shapes {have} in "
                        f"{where}, {type(layer).__name__} with {want} in {target.name}")
    else:
        pairs.append((layer, values))


def _copy_pairs(pairs, problems, source, target):
    """All or nothing: raise on any problem, else set every queued weight."""
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise ValueError(f"cannot copy weights from {source.name!r} to {target.name!r}: {shown}")
    for layer, values in pairs:
        layer.set_weights(values)
    return target


def copy_weights_in_order(source, target):
    """Copy the weights of ``source``'s weighted layers into ``target``'s, pairing them in order.

    For keras.applications models whose layers carry Keras' automatic names (``conv2d_57``,
    which depend on what the process built before): the two models must be the same graph
    built in the same order, so their weighted layers come in the same order, as Keras' own
    HDF5 loader assumes. All or nothing: both models must have as many weighted layers, and
    each pair the same class and weight shapes, otherwise a ValueError names the first
    mismatches and no weight is changed.

    Examples:
        >>> from kerascnn.runtime import keras
        >>> def tiny(name):
        ...     x = keras.Input((4,))
        ...     return keras.Model(x, keras.layers.Dense(2, name=name)(x))
        >>> source, target = tiny("dense_7"), tiny("fc")
        >>> _ = copy_weights_in_order(source, target)
        >>> all((s == t).all() for s, t in zip(source.get_weights(), target.get_weights()))
        True
    """
    sources = [layer for layer in source.layers if layer.weights]
    targets = [layer for layer in target.layers if layer.weights]
    problems, pairs = [], []
    if len(sources) != len(targets):
        problems.append(f"{len(sources)} weighted layers in {source.name}, {len(targets)} in {target.name}")
    for origin, layer in zip(sources, targets):
        _pair(origin, layer, source, target, pairs, problems)
    return _copy_pairs(pairs, problems, source, target)
