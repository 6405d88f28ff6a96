"""A tiny generated image folder (two classes of 64x64 RGB PNGs), shared by the transfer tests."""

import os

import numpy as np
import pytest


def make_image_folder(root, per_class=6, size=64, classes=("bright", "dark"), seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    for index, name in enumerate(classes):
        folder = os.path.join(root, name)
        os.makedirs(folder, exist_ok=True)
        for i in range(per_class):
            base = 200 if index == 0 else 40
            pixels = np.clip(rng.normal(base, 25, (size, size, 3)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(os.path.join(folder, f"{i}.png"))
    return str(root)


def read_image_folder(root):
    """(x, y): 0-255 float32 pixels and integer labels, read with PIL (no tf.data: JAX runs it too)."""
    from PIL import Image

    names = sorted(os.listdir(root))
    x, y = [], []
    for label, name in enumerate(names):
        for file_name in sorted(os.listdir(os.path.join(root, name))):
            x.append(np.asarray(Image.open(os.path.join(root, name, file_name)).convert("RGB"), "float32"))
            y.append(label)
    return np.stack(x), np.array(y, "float32")


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="session")
def image_arrays(image_folder):
    return read_image_folder(image_folder)
