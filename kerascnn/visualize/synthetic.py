"""Generated images where the test knows what decides the class: for checking saliency maps.

Each 32x32 gray image is noise holding two 7x7 objects at random places that never come
within 2 pixels of each other: the *class object* (a plus sign for class 0, a diagonal
cross for class 1) and a *distractor* (a star: the plus and the cross drawn together, so it
is evidence for both classes alike). Only the class object decides the class, and
:func:`object_images` says where it is. :func:`peak_on` scores a heatmap the way the
"pointing game" does (Zhang et al. 2016): is its maximum on the object? :func:`small_cnn` is
the network ``tests/test_visualize_heatmaps.py`` and the docs train on these images.

Examples:
    >>> images, labels, places, distractors = object_images(100, seed=0)
    >>> images.shape, places.shape, sorted(set(labels.tolist()))
    ((100, 32, 32, 1), (100, 2), [0, 1])
"""

from __future__ import annotations

import numpy as np

SIZE, OBJECT, MARGIN = 32, 7, 2
CLASS_NAMES = ["plus", "cross"]


def _shape(kind: int) -> np.ndarray:
    grid = np.zeros((OBJECT, OBJECT), "float32")
    middle = OBJECT // 2
    if kind == 0:  # plus
        grid[middle, :] = grid[:, middle] = 1.0
    elif kind == 1:  # diagonal cross
        np.fill_diagonal(grid, 1.0)
        np.fill_diagonal(np.fliplr(grid), 1.0)
    else:  # the distractor: both at once
        grid = np.maximum(_shape(0), _shape(1))
    return grid


def object_images(count: int, seed: int = 0):
    """``(images, labels, object corners, distractor corners)``; corners are (row, column)."""
    rng = np.random.default_rng(seed)
    images = rng.normal(0.0, 0.15, (count, SIZE, SIZE, 1)).astype("float32")
    labels = rng.integers(0, 2, count)
    places, distractors = [], []
    for index, label in enumerate(labels):
        while True:
            (y, x), (v, u) = rng.integers(0, SIZE - OBJECT + 1, (2, 2))
            if max(abs(y - v), abs(x - u)) >= OBJECT + 2 * MARGIN + 1:  # the grown boxes stay apart
                break
        images[index, y:y + OBJECT, x:x + OBJECT, 0] += _shape(label)
        images[index, v:v + OBJECT, u:u + OBJECT, 0] += _shape(2)
        places.append((y, x))
        distractors.append((v, u))
    return images, labels, np.array(places), np.array(distractors)


def peak_on(heatmaps, corners, margin: int = MARGIN) -> np.ndarray:
    """For each heatmap (N, H, W): is its maximum on the 7x7 object at ``corners``, grown by ``margin``?

    Examples:
        >>> heatmap = np.zeros((1, 32, 32)); heatmap[0, 12, 10] = 1.0
        >>> peak_on(heatmap, np.array([[10, 10]])).tolist(), peak_on(heatmap, np.array([[20, 20]])).tolist()
        ([True], [False])
    """
    heatmaps = np.asarray(heatmaps)
    rows, columns = np.unravel_index(heatmaps.reshape(len(heatmaps), -1).argmax(axis=1), heatmaps.shape[1:])
    low = np.asarray(corners) - margin
    high = np.asarray(corners) + OBJECT - 1 + margin
    return (rows >= low[:, 0]) & (rows <= high[:, 0]) & (columns >= low[:, 1]) & (columns <= high[:, 1])


def small_cnn():
    """Three 3x3 convolutions (16, 32, 32; two 2x2 poolings), global average pooling, softmax over 2."""
    from kerascnn.runtime import keras  # noqa: PLC0415

    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(name="pool2")(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def train_small_cnn(seed: int = 1, count: int = 1200, epochs: int = 8):
    """:func:`small_cnn` trained on ``count`` images (Adam 3e-3, batch 32): the test's recipe."""
    from kerascnn.runtime import keras  # noqa: PLC0415

    keras.utils.set_random_seed(seed)
    images, labels, _, _ = object_images(count, seed=seed)
    model = small_cnn()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(images, labels, epochs=epochs, batch_size=32, verbose=0)
    return model
