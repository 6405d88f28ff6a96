"""Datasets for training: the embedded digits, image folders, ``keras.datasets`` names, arrays.

:func:`load_data` turns a *source* into train / validation / test splits sized for a model:

=====================================  ====================================================
source                                 what it is
=====================================  ====================================================
``"digits"``                           scikit-learn's 1,797 real 8x8 scans of handwritten
                                       digits (values 0..16), shipped with scikit-learn
``"mnist"``, ``"fashion_mnist"``,      ``keras.datasets`` (downloaded once into
``"cifar10"``, ``"cifar100"``          ``~/.keras/datasets``; offline, pass a local ``.npz``)
``path/to/file.npz``                   ``x_train, y_train, x_test, y_test`` (the layout of
                                       ``mnist.npz``) or ``x, y`` (split like digits)
``path/to/folder``                     one sub-folder per class, read with
                                       ``keras.utils.image_dataset_from_directory``; or
                                       already split: ``train/`` and ``test/`` (and maybe
                                       ``val/``) folders of class sub-folders, used as given
``(x, y)`` arrays (Python only)        split like digits
=====================================  ====================================================

Splits are reproducible: sources without their own test set get a fixed stratified 25%
test split (``random_state=0``, whatever the training seed), so results are comparable
across runs; the validation split is carved (stratified, by ``seed``) from the training part.
Images are scaled to [0, 1] (digits: /16; 8-bit data: /255), resized bilinearly to the
model's height and width inside the tf.data pipeline (so CIFAR at 224x224 never sits in
memory), and converted to the model's channels (grey repeated to RGB, RGB averaged to grey).
Labels are integers or one-hot (``label_mode``), matching :mod:`kerascnn.heads`.

Examples:
    >>> from kerascnn.data import load_data
    >>> data = load_data("digits", (32, 32, 1))
    >>> data.train.count + data.validation.count, data.test.count, data.num_classes
    (1347, 450, 10)
    >>> images, labels = next(iter(data.test.batches(8)))
    >>> tuple(images.shape), float(images.numpy().max()) <= 1.0
    ((8, 32, 32, 1), True)
"""

from __future__ import annotations

import contextlib
import io
import os
import textwrap
import zipfile
from dataclasses import dataclass, field

import numpy as np

from kerascnn.errors import check_choice, check_fraction, check_int, unknown_name_error
from kerascnn.runtime import IS_KERAS3, keras

KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
SOURCES = ("digits", *KERAS_DATASETS)
TEST_FRACTION = 0.25
TEST_SEED = 0
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
#: ``--augment`` presets: Keras preprocessing layers and their factors.
AUGMENTATIONS = {
    "none": {},
    "mild": {"rotation": 0.03, "zoom": 0.1, "translation": 0.1},
    "standard": {"flip": "horizontal", "rotation": 0.05, "zoom": 0.1, "translation": 0.1},
}


@dataclass
class Split:
    """One split: raw images ``x`` and integer labels ``y`` (or a tf.data source of them)."""

    x: np.ndarray | None
    y: np.ndarray
    owner: "Data" = field(repr=False, default=None)
    dataset: object = field(repr=False, default=None)  # unbatched tf.data (image folders)

    @property
    def count(self) -> int:
        return int(len(self.y))

    def batches(self, batch_size: int = 32, shuffle: bool = False, seed: int | None = None,
                augment=None, cache: bool = True):
        """A batched, preprocessed ``tf.data.Dataset`` of ``(images, labels)``.

        ``augment`` is a preset name, a dict of factors (see :func:`augmentation`) or None.
        """
        import tensorflow as tf  # noqa: PLC0415 - tf.data, on every backend

        data = self.owner
        if self.dataset is not None:
            dataset = self.dataset.cache() if cache else self.dataset
        else:
            dataset = tf.data.Dataset.from_tensor_slices((self.x, self.y.astype("int32")))
        if shuffle:
            dataset = dataset.shuffle(min(self.count, 10_000), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size)
        dataset = dataset.map(data.preprocess, num_parallel_calls=tf.data.AUTOTUNE)
        stack = augmentation(augment, seed=seed) if augment else None
        if stack is not None:
            # layer by layer: Keras 3 runs each preprocessing layer with TensorFlow inside
            # tf.data whatever the backend, but not a Sequential of them (JAX would fail)
            def augment_batch(images, labels):
                for layer in stack.layers:
                    images = layer(images, training=True)
                return images, labels

            dataset = dataset.map(augment_batch, num_parallel_calls=tf.data.AUTOTUNE)
        if data.label_mode == "categorical":
            depth = data.num_classes
            dataset = dataset.map(lambda images, labels: (images, tf.one_hot(labels, depth)))
        return dataset.prefetch(tf.data.AUTOTUNE)

    def labels(self, label_mode: str | None = None) -> np.ndarray:
        """The labels as integers or, with ``label_mode="categorical"``, one-hot."""
        if (label_mode or self.owner.label_mode) == "categorical":
            return keras.utils.to_categorical(self.y, self.owner.num_classes)
        return self.y


@dataclass
class Data:
    """Train / validation / test splits of one source, ready for a model's input."""

    train: Split
    validation: Split
    test: Split
    class_names: list
    input_shape: tuple
    scale: float
    source: str
    label_mode: str = "int"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def preprocess(self, images, labels):
        """Scale to [0, 1], convert channels, resize to ``input_shape`` (a tf.data map)."""
        return prepare_images(images, self.input_shape, self.scale), labels

    def describe(self) -> str:
        return (f"{self.source}: {self.train.count} training, {self.validation.count} validation, "
                f"{self.test.count} test images, {self.num_classes} classes, "
                f"resized to {self.input_shape[0]}x{self.input_shape[1]}x{self.input_shape[2]}")


def prepare_images(images, input_shape, scale: float = 255.0):
    """A batch of images (N, H, W[, C]) -> float32 (N, height, width, channels) in [0, 1]."""
    import tensorflow as tf  # noqa: PLC0415

    images = tf.cast(images, tf.float32) / scale
    if images.shape.rank == 3:
        images = images[..., None]
    have, want = images.shape[-1], input_shape[2]
    if have == 4:
        images, have = images[..., :3], 3
    if have != want:
        if want == 1:
            images = tf.reduce_mean(images, axis=-1, keepdims=True)
        elif have == 1:
            images = tf.repeat(images, want, axis=-1)
        else:
            raise ValueError(f"cannot convert {have}-channel images to the model's {want} channels.")
    if tuple(images.shape[1:3]) != tuple(input_shape[:2]):
        images = tf.image.resize(images, input_shape[:2], method="bilinear", antialias=True)
    return images


def image_files(paths) -> list[str]:
    """``paths`` with every folder replaced by the image files under it (sorted, sub-folders
    included); files are kept as given, in order, whatever their suffix.

    A path that does not exist, or a folder without images, raises a ValueError naming it.

    Examples:
        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> for name in ("b/2.png", "a/1.jpg", "a/notes.txt"):
        ...     os.makedirs(os.path.join(folder, os.path.dirname(name)), exist_ok=True)
        ...     open(os.path.join(folder, name), "w").close()
        >>> [os.path.relpath(path, folder) for path in image_files([folder])]
        ['a/1.jpg', 'b/2.png']
    """
    found = []
    for path in paths:
        if os.path.isdir(path):
            inside = sorted(os.path.join(root, name) for root, _, names in os.walk(path) for name in names
                            if name.lower().endswith(IMAGE_EXTENSIONS))
            if not inside:
                raise ValueError(f"image folder {path!r} holds no images ({', '.join(IMAGE_EXTENSIONS)}).")
            found += inside
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise ValueError(f"image {path!r} does not exist.")
    return found


def read_images(paths, input_shape, scale: float = 1.0 / 255.0) -> np.ndarray:
    """Image files as one float32 batch for a model of ``input_shape``: converted, resized, times ``scale``.

    Read with ``keras.utils.load_img`` (grayscale or RGB as the model takes, bilinear resize);
    ``scale`` 1/255 gives [0, 1] as in training, 1.0 keeps 0-255 (models with their own
    preprocessing). A missing or unreadable file raises a ValueError naming it.

    Examples:
        >>> import os, tempfile
        >>> from PIL import Image
        >>> path = os.path.join(tempfile.mkdtemp(), "white.png")
        >>> Image.fromarray(np.full((8, 8), 255, "uint8")).save(path)
        >>> batch = read_images([path], (4, 4, 3))
        >>> batch.shape, float(batch.max())
        ((1, 4, 4, 3), 1.0)
    """
    height, width, channels = input_shape
    batch = []
    for path in paths:
        if not os.path.isfile(path):
            raise ValueError(f"image {path!r} does not exist.")
        try:
            image = keras.utils.load_img(path, color_mode="grayscale" if channels == 1 else "rgb",
                                         target_size=(height, width), interpolation="bilinear")
        except Exception as error:  # noqa: BLE001 - PIL raises many types for unreadable files
            raise ValueError(f"cannot read image {path!r}: {' '.join(str(error).split())}") from None
        batch.append(keras.utils.img_to_array(image) * scale)
    return np.stack(batch).astype("float32")


def augmentation(spec, seed: int | None = None):
    """A ``keras.Sequential`` of random preprocessing layers, from a preset or factors.

    ``spec``: ``"mild"`` (rotation, zoom, translation: digits and other orientation-bound
    images), ``"standard"`` (``"mild"`` plus horizontal flips: natural images), ``"none"``,
    or a dict / ``"rotation=0.05,zoom=0.1,translation=0.1,flip=horizontal"`` string.
    Rotation is a fraction of a full turn, zoom and translation of the image size.

    Examples:
        >>> names = [layer.__class__.__name__ for layer in augmentation("standard").layers]
        >>> names
        ['RandomFlip', 'RandomRotation', 'RandomZoom', 'RandomTranslation']
    """
    factors = parse_augmentation(spec)
    if not factors:
        return None
    layers, options = keras.layers, {"seed": seed}
    stack = []
    if "flip" in factors:
        stack.append(layers.RandomFlip(factors["flip"], **options))
    fill = {"fill_mode": "constant", **options}
    if factors.get("rotation"):
        stack.append(layers.RandomRotation(factors["rotation"], **fill))
    if factors.get("zoom"):
        stack.append(layers.RandomZoom(factors["zoom"], **fill))
    if factors.get("translation"):
        stack.append(layers.RandomTranslation(factors["translation"], factors["translation"], **fill))
    return keras.Sequential(stack, name="augmentation")


def parse_augmentation(spec) -> dict:
    """``"mild"`` / ``"rotation=0.05,flip=horizontal"`` / dict -> ``{layer: factor}``, validated."""
    if spec is None or spec is False:
        return {}
    if isinstance(spec, str) and "=" not in spec:
        if spec not in AUGMENTATIONS:
            raise unknown_name_error("augmentation", spec, AUGMENTATIONS)
        return dict(AUGMENTATIONS[spec])
    if isinstance(spec, str):
        pairs = [part.split("=", 1) for part in spec.split(",") if part.strip()]
        spec = {key.strip(): value.strip() for key, value in pairs}
    factors = {}
    for key, value in dict(spec).items():
        check_choice("augmentation layer", key, ("flip", "rotation", "zoom", "translation"))
        if key == "flip":
            factors[key] = check_choice("flip", value, ("horizontal", "vertical", "horizontal_and_vertical"))
        else:
            try:
                factors[key] = check_fraction(key, float(value), 0.0, 1.0)
            except (TypeError, ValueError):
                raise ValueError(f"augmentation {key}={value!r}: use a number in [0, 1).") from None
    return factors


def load_data(source="digits", input_shape=(32, 32, 1), *, validation_split: float = 0.1, seed: int = 0,
              limit: int | None = None, label_mode: str = "int") -> Data:
    """Load ``source`` (see the module docstring) as train / validation / test for ``input_shape``.

    ``limit`` keeps at most that many images in each split (quick experiments and tests).
    """
    check_choice("label_mode", label_mode, ("int", "categorical"))
    check_fraction("validation_split", validation_split, 0.0, 0.9, inclusive_high=True)
    check_int("seed", seed, minimum=0)
    check_int("limit", limit, minimum=1, allow_none=True)
    if not (isinstance(input_shape, (tuple, list)) and len(input_shape) == 3):
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}.")
    input_shape = tuple(int(s) for s in input_shape)
    if isinstance(source, tuple) and len(source) == 2:
        parts, scale, names, label = _split_arrays(*_check_arrays(*source, "x"), seed=TEST_SEED), None, None, "arrays"
    elif not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"data must be a dataset name, a path or an (x, y) tuple of arrays, got {type(source).__name__}.")
    elif os.fspath(source) == "digits":
        parts, scale, names, label = _digits(), 16.0, None, "digits"
    elif os.fspath(source) in KERAS_DATASETS:
        parts, scale, names, label = _keras_dataset(os.fspath(source)), None, None, os.fspath(source)
    elif os.path.isdir(source):
        return _folder(os.fspath(source), input_shape, validation_split, seed, limit, label_mode)
    elif os.fspath(source).endswith(".npz") and os.path.isfile(source):
        (parts, names), scale, label = _npz(os.fspath(source)), None, os.fspath(source)
    else:
        raise ValueError(
            f"--data {os.fspath(source)!r} is neither a dataset name nor an existing folder or .npz file; "
            f"use one of {', '.join(SOURCES)}, a folder with one sub-folder per class, or an .npz file.")
    (x_train, y_train), (x_test, y_test) = parts
    classes = int(max(y_train.max(), y_test.max())) + 1
    names = [str(n) for n in names] if names is not None else [str(i) for i in range(classes)]
    if len(names) < classes:
        raise ValueError(f"{label}: labels go up to {classes - 1} but only {len(names)} class names are given.")
    if len(np.unique(y_train)) < 2:
        raise ValueError(f"{label}: the training labels hold a single class; a classifier needs at least two.")
    x_fit, y_fit, x_val, y_val = _carve(x_train, y_train, validation_split, seed)
    if scale is None:
        top = float(max(x_train.max(), x_test.max())) if x_train.size else 1.0
        scale = 1.0 if top <= 1.0 else 255.0 if top <= 255.0 else top
    data = Data(None, None, None, names, input_shape, scale, label, label_mode)
    for attribute, (x, y) in (("train", (x_fit, y_fit)), ("validation", (x_val, y_val)), ("test", (x_test, y_test))):
        setattr(data, attribute, Split(x[:limit], y[:limit], owner=data))
    return data


def _stratify(y, fraction):
    counts = np.bincount(y)[np.unique(y)] if len(y) else np.array([0])
    small = min(round(fraction * len(y)), len(y) - round(fraction * len(y))) < len(counts)
    return None if counts.min() < 2 or small else y


def _split_arrays(x, y, seed=TEST_SEED, fraction=TEST_FRACTION):
    from sklearn.model_selection import train_test_split  # noqa: PLC0415

    x_a, x_b, y_a, y_b = train_test_split(x, y, test_size=fraction, random_state=seed, stratify=_stratify(y, fraction))
    return (x_a, y_a), (x_b, y_b)


def _carve(x, y, fraction, seed):
    if not fraction:
        return x, y, x[:0], y[:0]
    (x_fit, y_fit), (x_val, y_val) = _split_arrays(x, y, seed=seed, fraction=fraction)
    return x_fit, y_fit, x_val, y_val


def _digits():
    from sklearn.datasets import load_digits  # noqa: PLC0415

    digits = load_digits()
    return _split_arrays(digits.images.astype("float32"), digits.target.astype("int64"))


def _keras_dataset(name):
    try:
        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
    except Exception as error:  # noqa: BLE001 - urllib, OSError, HTTP errors: all mean "not available"
        raise ValueError(
            f"--data {name}: keras.datasets could not load it ({type(error).__name__}: "
            f"{textwrap.shorten(str(error), 160, placeholder=' ...')}). Offline, download it elsewhere and pass the file: "
            f"--data path/to/{name}.npz with arrays x_train, y_train, x_test, y_test "
            f"(or copy Keras' cache into ~/.keras/datasets/).") from None
    return (x_train, y_train.ravel().astype("int64")), (x_test, y_test.ravel().astype("int64"))


def _check_arrays(x, y, what):
    x = np.asarray(x) if not isinstance(x, np.ndarray) else x
    if x.dtype == object:
        raise ValueError(f"{what} holds images of mixed sizes (a ragged object array); resize them to "
                         "one size first, or put them in a folder (image folders are resized on loading).")
    if x.ndim == 4 and x.shape[-1] not in (1, 3, 4) or x.ndim not in (3, 4):
        raise ValueError(f"{what} must hold images shaped (N, H, W) or (N, H, W, 1|3|4), got {x.shape}.")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)  # one-hot labels
    y = y.ravel()
    if len(y) != len(x):
        raise ValueError(f"{what} has {len(x)} images but {len(y)} labels.")
    if not np.issubdtype(y.dtype, np.integer) and not np.all(np.equal(np.mod(y, 1), 0)) or (len(y) and y.min() < 0):
        raise ValueError(f"labels for {what} must be class indices 0, 1, 2, ... (or one-hot rows).")
    return x, y.astype("int64")


def _npz(path):
    if not zipfile.is_zipfile(path):  # np.load would answer with a hint about pickles
        raise ValueError(f"--data {path!r} is not an .npz archive (numpy.savez writes one, with arrays x_train, "
                         "y_train, x_test, y_test or x, y); pass such a file, an image folder or a dataset name.")
    with np.load(path, allow_pickle=False) as archive:
        keys = set(archive.files)
        try:
            names = list(archive["class_names"]) if "class_names" in keys else None
            if {"x_train", "y_train", "x_test", "y_test"} <= keys:
                train = _check_arrays(archive["x_train"], archive["y_train"], f"{path} x_train")
                test = _check_arrays(archive["x_test"], archive["y_test"], f"{path} x_test")
                if train[0].shape[1:] != test[0].shape[1:]:
                    raise ValueError(f"{path}: mixed image sizes, x_train images are {train[0].shape[1:]} but "
                                     f"x_test images are {test[0].shape[1:]}; store one size.")
                return (train, test), names
            if {"x", "y"} <= keys:
                return _split_arrays(*_check_arrays(archive["x"], archive["y"], f"{path} x")), names
        except ValueError as error:
            if "allow_pickle" in str(error) or "Object arrays" in str(error):
                raise ValueError(f"{path} holds images of mixed sizes (object arrays); store one size "
                                 "per array, or use an image folder (resized on loading).") from None
            raise
    raise ValueError(f"{path} has arrays {', '.join(sorted(keys)) or 'none'}; an .npz needs x_train, y_train, "
                     "x_test, y_test (as keras.datasets' mnist.npz) or x, y.")


def _check_readable(path, classes):
    """Refuse unreadable image files up front: TensorFlow would fail later, mid-epoch."""
    from PIL import Image  # noqa: PLC0415

    bad = []
    for name in classes:
        for root, _dirs, files in os.walk(os.path.join(path, name)):
            for file in sorted(files):
                if not file.lower().endswith(IMAGE_EXTENSIONS):
                    continue
                try:
                    with Image.open(os.path.join(root, file)) as image:
                        image.verify()
                except Exception:  # noqa: BLE001 - PIL raises many types for unreadable files
                    bad.append(os.path.relpath(os.path.join(root, file), path))
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise ValueError(f"--data {path!r} holds {len(bad)} unreadable image file(s): {shown}; "
                         "remove or replace them (accepted: readable BMP, GIF, JPEG, PNG files).")


#: Sub-folder names of a folder that is already split (any case): ``data/train/cat/1.jpg``,
#: ``data/test/cat/7.jpg`` and optionally ``data/val/...``, the layout of many published datasets.
SPLIT_FOLDERS = {"train": ("train", "training"), "validation": ("val", "valid", "validation"),
                 "test": ("test", "testing")}


def _class_counts(path) -> dict:
    """``{class sub-folder: images under it}`` for the sub-folders of ``path`` that hold images."""
    classes = sorted(entry.name for entry in os.scandir(path) if entry.is_dir() and not entry.name.startswith("."))
    counts = {name: sum(1 for _root, _dirs, files in os.walk(os.path.join(path, name))
                        for f in files if f.lower().endswith(IMAGE_EXTENSIONS)) for name in classes}
    return {name: count for name, count in counts.items() if count}


def split_layout(path) -> dict | None:
    """``{"train": folder, "test": folder[, "validation": folder]}`` when ``path`` is already split
    into ``train/`` and ``test/`` (and maybe ``val/``) folders of class sub-folders, else None.

    A split folder holds class sub-folders and no images of its own, so a class that happens
    to be called ``train`` (images directly inside) is still a class. A ``train/`` without a
    ``test/`` raises a ValueError saying what is missing.

    Examples:
        >>> import os, tempfile
        >>> root = tempfile.mkdtemp()
        >>> for name in ("train/cat/1.png", "train/dog/2.png", "Test/cat/3.png", "Test/dog/4.png"):
        ...     os.makedirs(os.path.join(root, os.path.dirname(name)), exist_ok=True)
        ...     open(os.path.join(root, name), "w").close()
        >>> sorted(os.path.basename(folder) for folder in split_layout(root).values())
        ['Test', 'train']
    """
    found = {}
    for entry in sorted(os.scandir(path), key=lambda entry: entry.name):
        split = next((key for key, names in SPLIT_FOLDERS.items() if entry.name.lower() in names), None)
        if split is None or not entry.is_dir() or split in found:
            continue
        holds_images = any(file.name.lower().endswith(IMAGE_EXTENSIONS) for file in os.scandir(entry.path)
                           if file.is_file())
        if not holds_images and len(_class_counts(entry.path)) >= 2:
            found[split] = entry.path
    if not found:
        return None
    if "train" not in found or "test" not in found:
        have = ", ".join(f"{os.path.basename(folder)}/" for folder in found.values())
        missing = " and ".join(f"{key}/" for key in ("train", "test") if key not in found)
        one = found.get("train") or next(iter(found.values()))
        raise ValueError(f"--data {path!r} is split into {have} but has no {missing} folder of class sub-folders; "
                         "a split folder needs train/ and test/ (val/ is optional), or pass one of its folders to "
                         f"split that one (--data {one}).")
    return found


def _read_folder(path, classes, input_shape):
    """An image folder as an unbatched tf.data source of (image, label) and its labels, in file order."""
    _check_readable(path, classes)
    # Keras 2 prints "Found N files belonging to C classes." and has no switch for it (Keras 3: verbose)
    with contextlib.nullcontext() if IS_KERAS3 else contextlib.redirect_stdout(io.StringIO()):
        dataset = keras.utils.image_dataset_from_directory(
            path, labels="inferred", label_mode="int", class_names=classes, batch_size=None, shuffle=False,
            image_size=input_shape[:2], color_mode="grayscale" if input_shape[2] == 1 else "rgb",
            **({"verbose": False} if IS_KERAS3 else {}))
    y = np.array([classes.index(os.path.relpath(p, path).split(os.sep)[0]) for p in dataset.file_paths], "int64")
    return dataset, y


def _subset(dataset, y, chosen, owner, limit):
    """The examples ``chosen`` (indices into ``y``) of ``dataset`` as a Split of at most ``limit``."""
    import tensorflow as tf  # noqa: PLC0415

    chosen = np.sort(chosen)[:limit]
    mask = tf.constant(np.isin(np.arange(len(y)), chosen))
    subset = (dataset.enumerate().filter(lambda i, _item, mask=mask: tf.gather(mask, i))
              .map(lambda _i, item: item)
              # a filter hides the size: without it Keras warns "ran out of data", Keras 2 counts "Unknown" steps
              .apply(tf.data.experimental.assert_cardinality(len(chosen))))
    return Split(None, y[chosen], owner=owner, dataset=subset)


def _folder(path, input_shape, validation_split, seed, limit, label_mode):
    layout = split_layout(path)
    counts = _class_counts(layout["train"] if layout else path)
    if not counts:
        raise ValueError(f"--data {path!r} has no images in class sub-folders ({', '.join(IMAGE_EXTENSIONS)}); "
                         "put each class's images in its own sub-folder, e.g. data/cat/1.jpg, data/dog/2.jpg.")
    if len(counts) < 2:
        raise ValueError(f"--data {path!r} has images of a single class ({next(iter(counts))!r}); "
                         "a classifier needs at least two class sub-folders.")
    names = sorted(counts)
    data = Data(None, None, None, names, tuple(input_shape), 255.0, path, label_mode)
    if layout is None:
        dataset, y = _read_folder(path, names, input_shape)
        (train_index, _), (test_index, _) = _split_arrays(np.arange(len(y)), y)
        fit_index, _, val_index, _ = _carve(train_index, y[train_index], validation_split, seed)
        for attribute, chosen in (("train", fit_index), ("validation", val_index), ("test", test_index)):
            setattr(data, attribute, _subset(dataset, y, chosen, data, limit))
        return data
    for split, folder in layout.items():
        classes = sorted(_class_counts(folder)) if split != "train" else names
        if classes != names:
            raise ValueError(f"--data {path!r}: {os.path.basename(folder)}/ has the classes {classes} but train/ "
                             f"has {names}; give every split the same class sub-folders.")
    dataset, y = _read_folder(layout["train"], names, input_shape)
    fit_index = np.arange(len(y))
    if "validation" not in layout:  # carved from train/ by validation_split
        fit_index, _, val_index, _ = _carve(fit_index, y, validation_split, seed)
        data.validation = _subset(dataset, y, val_index, data, limit)
    data.train = _subset(dataset, y, fit_index, data, limit)
    for split in [split for split in ("validation", "test") if split in layout]:  # used whole
        given, labels = _read_folder(layout[split], names, input_shape)
        setattr(data, split, _subset(given, labels, np.arange(len(labels)), data, limit))
    return data
