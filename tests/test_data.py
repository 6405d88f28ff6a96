"""kerascnn.data: the digits split, resizing and channels, npz files, image folders, bad input."""

import os

import numpy as np
import pytest

from kerascnn.data import augmentation, load_data, parse_augmentation

# also in the Keras 2 run: data.py reads images and builds tf.data pipelines differently in Keras 2
pytestmark = pytest.mark.keras2


@pytest.fixture(scope="module")
def digits():
    return load_data("digits", (32, 32, 1))


@pytest.mark.every_runtime
def test_digits_split_is_fixed_and_stratified(digits):
    # load_digits: 1,797 images; sklearn's test_size=0.25 takes ceil(0.25 * 1797) = 450 for the test,
    # then validation_split=0.1 takes ceil(0.1 * 1347) = 135 of the remaining 1,347.
    assert (digits.train.count, digits.validation.count, digits.test.count) == (1212, 135, 450)
    assert digits.class_names == [str(i) for i in range(10)]
    # stratified: each class's 174..183 images give 43..46 test images (a quarter, rounded either way)
    per_class = np.bincount(digits.test.y, minlength=10)
    assert per_class.min() >= 43 and per_class.max() <= 46 and per_class.sum() == 450
    # the test split does not depend on the training seed; the validation split does
    other = load_data("digits", (32, 32, 1), seed=5)
    np.testing.assert_array_equal(other.test.x, digits.test.x)
    assert not np.array_equal(other.validation.y, digits.validation.y)


@pytest.mark.every_runtime
def test_digits_scaled_resized_and_rgb(digits):
    images, labels = next(iter(digits.test.batches(450)))
    images = np.asarray(images)
    assert images.shape == (450, 32, 32, 1) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0 + 1e-6
    # digits pixels are 0..16: the brightest raw pixel (16) must map to 1.0 after /16 and resizing
    assert images.max() > 0.95
    np.testing.assert_array_equal(np.asarray(labels), digits.test.y)
    rgb = load_data("digits", (40, 40, 3), limit=8)
    images = np.asarray(next(iter(rgb.test.batches(8)))[0])
    assert images.shape == (8, 40, 40, 3)
    np.testing.assert_array_equal(images[..., 0], images[..., 2])  # grey repeated to RGB


def test_constant_image_stays_constant_when_resized():
    # arrays with values above 1 are taken as 8-bit: a constant 8x8 image of 8 becomes 8/255
    # everywhere at any size (bilinear resizing of a constant is that constant)
    x = np.full((4, 8, 8), 8.0, "float32")
    y = np.array([0, 1, 0, 1])
    data = load_data((np.concatenate([x, x * 2]), np.concatenate([y, y])), (20, 20, 1), validation_split=0.0)
    images = np.asarray(next(iter(data.train.batches(6)))[0])
    np.testing.assert_allclose(np.unique(images), [8 / 255, 16 / 255], rtol=1e-5)


def test_limit_and_one_hot_labels():
    data = load_data("digits", (32, 32, 1), limit=20, label_mode="categorical")
    assert data.train.count == 20 and data.test.count == 20
    _, labels = next(iter(data.train.batches(20)))
    labels = np.asarray(labels)
    assert labels.shape == (20, 10)
    np.testing.assert_array_equal(labels.sum(axis=1), 1.0)
    np.testing.assert_array_equal(labels.argmax(axis=1), data.train.y)


def test_npz_with_train_and_test(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "small.npz"
    np.savez(path, x_train=rng.integers(0, 256, (30, 28, 28), dtype=np.uint8), y_train=np.arange(30) % 3,
             x_test=rng.integers(0, 256, (9, 28, 28), dtype=np.uint8), y_test=np.arange(9) % 3,
             class_names=np.array(["a", "b", "c"]))
    data = load_data(str(path), (32, 32, 1), validation_split=0.2)
    assert (data.train.count, data.validation.count, data.test.count) == (24, 6, 9)
    assert data.class_names == ["a", "b", "c"] and data.scale == 255.0


def test_npz_with_x_y_is_split_like_digits(tmp_path):
    path = tmp_path / "xy.npz"
    np.savez(path, x=np.zeros((40, 8, 8, 3), "float32"), y=np.arange(40) % 2)
    data = load_data(str(path), (32, 32, 3), validation_split=0.0)
    assert (data.train.count, data.test.count) == (30, 10)  # 25% of 40


def test_npz_bad_input(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, images=np.zeros((4, 8, 8)))
    with pytest.raises(ValueError, match="x_train, y_train, x_test, y_test"):
        load_data(str(path))
    mixed = tmp_path / "mixed.npz"
    np.savez(mixed, x_train=np.zeros((4, 8, 8)), y_train=[0, 1, 0, 1], x_test=np.zeros((2, 9, 9)), y_test=[0, 1])
    with pytest.raises(ValueError, match="mixed image sizes"):
        load_data(str(mixed))
    with pytest.raises(ValueError, match="mixed sizes"):
        ragged = np.empty(2, dtype=object)
        ragged[0], ragged[1] = np.zeros((8, 8)), np.zeros((9, 9))
        load_data((ragged, [0, 1]))
    single = tmp_path / "single.npz"
    np.savez(single, x=np.zeros((8, 8, 8)), y=np.zeros(8, int))
    with pytest.raises(ValueError, match="single class"):
        load_data(str(single))


def _write_png(path, size, value):
    from PIL import Image

    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)


@pytest.mark.tensorflow_only
def test_image_folder_mixed_sizes_resized(tmp_path):
    for index in range(8):
        _write_png(tmp_path / "cat" / f"{index}.png", (20 + index, 30), 40)
        _write_png(tmp_path / "dog" / f"{index}.jpg", (50, 10 + index), 200)
    data = load_data(str(tmp_path), (16, 16, 1), validation_split=0.2)
    assert data.class_names == ["cat", "dog"]
    # 16 images: 4 test (25%), 12 left, 3 of them validation (ceil(0.2 * 12))
    assert (data.train.count, data.validation.count, data.test.count) == (9, 3, 4)
    images, labels = next(iter(data.test.batches(4)))
    images, labels = np.asarray(images), np.asarray(labels)
    assert images.shape == (4, 16, 16, 1)
    # grey values 40/255 for cats and 200/255 for dogs, whatever each file's size
    np.testing.assert_allclose(images.mean(axis=(1, 2, 3)), np.where(labels == 0, 40, 200) / 255, atol=0.01)


@pytest.mark.tensorflow_only
def test_a_folder_already_split_keeps_its_splits(tmp_path):
    """data/train/NORMAL, data/test/NORMAL, data/val/NORMAL (the layout of many published sets, chest
    X-rays among them) was read as three classes named train, test and val."""
    sizes = {"train": 6, "val": 2, "Test": 3}
    for split, count in sizes.items():
        for name, grey in (("NORMAL", 40), ("PNEUMONIA", 200)):
            for index in range(count):
                _write_png(tmp_path / split / name / f"{index}.png", (20, 20), grey + index)
    data = load_data(str(tmp_path), (16, 16, 1), validation_split=0.2)
    assert data.class_names == ["NORMAL", "PNEUMONIA"]
    assert (data.train.count, data.validation.count, data.test.count) == (12, 4, 6)  # the folders' own splits
    images, labels = next(iter(data.test.batches(6)))
    assert sorted(np.asarray(labels).tolist()) == [0, 0, 0, 1, 1, 1]
    # each test image is one of test/'s files: grey 40 + index (NORMAL) or 200 + index, index < 3
    greys = np.round(np.asarray(images).mean(axis=(1, 2, 3)) * 255)
    assert sorted(greys.tolist()) == [40, 41, 42, 200, 201, 202]
    (tmp_path / "val").rename(tmp_path / "unused")  # no val/: validation carved from train/ by validation_split
    data = load_data(str(tmp_path), (16, 16, 1), validation_split=0.25)
    assert (data.train.count, data.validation.count, data.test.count) == (9, 3, 6)


def test_split_folder_bad_input(tmp_path):
    for name in ("cat", "dog"):
        _write_png(tmp_path / "train" / name / "1.png", (8, 8), 0)
    with pytest.raises(ValueError, match=r"split into train/ but has no test/ folder.*--data .*train\)"):
        load_data(str(tmp_path))
    for name in ("cat", "bird"):
        _write_png(tmp_path / "test" / name / "1.png", (8, 8), 0)
    with pytest.raises(ValueError, match=r"test/ has the classes \['bird', 'cat'\] but train/ has \['cat', 'dog'\]"):
        load_data(str(tmp_path))
    # a class that is called "train" (its images directly inside) stays a class
    other = tmp_path / "vehicles"
    for name in ("train", "bus"):
        _write_png(other / name / "1.png", (8, 8), 0)
    assert load_data(str(other), (8, 8, 1), validation_split=0.0).class_names == ["bus", "train"]


def test_image_folder_bad_input(tmp_path):
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images"):
        load_data(str(tmp_path / "empty"))
    _write_png(str(tmp_path / "one" / "only" / "1.png"), (8, 8), 0)
    with pytest.raises(ValueError, match="single class"):
        load_data(str(tmp_path / "one"))


def test_unknown_source_and_offline_dataset(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="neither a dataset name"):
        load_data("digitz")
    # the test session refuses network connections: keras.datasets cannot download
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ValueError, match=r"--data path/to/fashion_mnist.npz"):
        load_data("fashion_mnist")


def test_augmentation_presets_and_parsing():
    assert parse_augmentation("mild") == {"rotation": 0.03, "zoom": 0.1, "translation": 0.1}
    assert parse_augmentation("rotation=0.1,flip=horizontal") == {"rotation": 0.1, "flip": "horizontal"}
    assert parse_augmentation("none") == {} and augmentation("none") is None
    with pytest.raises(ValueError, match="Did you mean 'mild'"):
        parse_augmentation("mlid")
    with pytest.raises(ValueError, match="shear"):
        parse_augmentation("shear=0.1")
    with pytest.raises(ValueError, match="rotation"):
        parse_augmentation("rotation=2")
    layer = augmentation("mild", seed=1)
    out = np.asarray(layer(np.ones((2, 16, 16, 1), "float32"), training=True))
    assert out.shape == (2, 16, 16, 1)
