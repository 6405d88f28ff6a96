"""Grad-CAM tested as the literature tests saliency: localisation, and the randomisation sanity check.

The data: 32x32 gray images of noise holding two 7x7 objects at random places: the *class
object* (a plus sign: class 0, a diagonal cross: class 1) and a *distractor* (a filled
square, the same in both classes). Only the class object decides the class, and the test
knows where it is. A small CNN (three 3x3 convolutions, global average pooling) is trained
in the test.

(a) Localisation (the "pointing game" of Zhang et al. 2016, used for Grad-CAM by Selvaraju
    et al. 2017): the Grad-CAM peak of the true class must fall on the class object's 7x7
    box grown by 2 pixels (11x11, 12% of the image) for nearly all test images. Measured on
    the shared 2-core machine, loaded: 199/200 = 99.5% in Keras 3 on TensorFlow, 99.5% on
    JAX, 100% in Keras 2; the distractor, equally bright, never gets it in any runtime.
(b) Sanity check of Adebayo et al. 2018 ("Sanity checks for saliency maps"): the heatmaps of
    the trained model and of the same architecture with re-initialised (random) weights
    must differ. Measure: Spearman rank correlation between the two heatmaps of each image,
    averaged over the test images, as in the paper. Measured: 0.08 to 0.16 (TensorFlow,
    JAX, Keras 2); a method that ignored the weights (the input itself, an edge detector)
    would score near 1. Randomised, the peak lands on the class object for 12-20% of the
    images: chance, the box's share of the image.

The whole module trains once (about 10-15 s on an idle 2-core machine, 20-30 s loaded).
"""

import numpy as np
import pytest

from kerascnn.runtime import keras
from kerascnn.visualize import grad_cam
from kerascnn.visualize.capture import last_spatial_layer

pytestmark = pytest.mark.builders
SIZE, OBJECT, MARGIN = 32, 7, 2


def _shape(kind):
    grid = np.zeros((OBJECT, OBJECT), "float32")
    middle = OBJECT // 2
    if kind == 0:  # plus
        grid[middle, :] = grid[:, middle] = 1.0
    elif kind == 1:  # diagonal cross
        np.fill_diagonal(grid, 1.0)
        np.fill_diagonal(np.fliplr(grid), 1.0)
    else:  # distractor: a star, the plus and the cross drawn together: evidence for both classes
        grid = np.maximum(_shape(0), _shape(1))
    return grid


def make_images(count, seed):
    """(images, labels, class-object corners, distractor corners); the grown boxes never overlap."""
    rng = np.random.default_rng(seed)
    images = rng.normal(0.0, 0.15, (count, SIZE, SIZE, 1)).astype("float32")
    labels = rng.integers(0, 2, count)
    places, distractors = [], []
    for index, label in enumerate(labels):
        while True:
            (y, x), (v, u) = rng.integers(0, SIZE - OBJECT + 1, (2, 2))
            if max(abs(y - v), abs(x - u)) >= OBJECT + 2 * MARGIN + 1:  # grown boxes apart
                break
        images[index, y:y + OBJECT, x:x + OBJECT, 0] += _shape(label)
        images[index, v:v + OBJECT, u:u + OBJECT, 0] += _shape(2)
        places.append((y, x))
        distractors.append((v, u))
    return images, labels, np.array(places), np.array(distractors)


def small_cnn():
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(name="pool2")(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def peak_inside(heatmaps, corners):
    """For each heatmap: does its maximum fall on the object at ``corners``, grown by MARGIN?"""
    flat = heatmaps.reshape(len(heatmaps), -1).argmax(axis=1)
    rows, columns = np.unravel_index(flat, heatmaps.shape[1:])
    low = corners - MARGIN
    high = corners + OBJECT - 1 + MARGIN
    return (rows >= low[:, 0]) & (rows <= high[:, 0]) & (columns >= low[:, 1]) & (columns <= high[:, 1])


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(1)
    x_train, y_train, _, _ = make_images(1200, seed=1)
    x_test, y_test, places, distractors = make_images(200, seed=2)
    model = small_cnn()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=8, batch_size=32, verbose=0)
    accuracy = float(np.mean(model.predict(x_test, verbose=0).argmax(axis=1) == y_test))
    heatmaps = grad_cam(model, x_test, class_index=y_test)
    return model, x_test, y_test, places, distractors, heatmaps, accuracy


def test_the_model_learned_the_task(trained):
    model, *_, accuracy = trained
    assert last_spatial_layer(model)[0] == "conv3"
    assert accuracy >= 0.95, accuracy


def test_localisation_peak_on_the_class_object(trained):
    _, _, _, places, distractors, heatmaps, _ = trained
    on_object = peak_inside(heatmaps, places).mean()
    on_distractor = peak_inside(heatmaps, distractors).mean()
    print(f"Grad-CAM peak on the class object: {on_object:.1%}, on the distractor: {on_distractor:.1%}")
    assert on_object >= 0.9, on_object           # measured 99.5-100%; chance is about 12%
    assert on_distractor <= 0.05, on_distractor  # measured 0%


def test_sanity_check_randomised_weights_change_the_heatmaps(trained):
    from scipy.stats import spearmanr

    model, x_test, y_test, places, _, heatmaps, _ = trained
    keras.utils.set_random_seed(7)
    randomised = keras.models.clone_model(model)  # same architecture, freshly initialised weights
    assert not np.allclose(randomised.get_layer("conv3").get_weights()[0], model.get_layer("conv3").get_weights()[0])
    random_maps = grad_cam(randomised, x_test, class_index=y_test)
    # a randomised model can give an all-zero heatmap (every ReLU weight negative): its rank
    # correlation is undefined, and such an image counts as 0 (nothing in common)
    correlations = [spearmanr(a.ravel(), b.ravel())[0] if np.ptp(b) > 0 else 0.0
                    for a, b in zip(heatmaps, random_maps)]
    mean = float(np.mean(correlations))
    random_hits = peak_inside(random_maps, places).mean()
    print(f"Spearman rank correlation trained vs randomised: {mean:.2f}; randomised peak on object: {random_hits:.1%}")
    assert mean < 0.4, mean              # measured 0.08-0.16; a weight-blind method scores near 1
    assert random_hits < 0.5, random_hits


def test_heatmaps_follow_the_requested_class(trained):
    """The evidence for the *other* class is not where the class object is."""
    model, x_test, y_test, places, _, _, _ = trained
    other = grad_cam(model, x_test[:50], class_index=1 - y_test[:50])
    assert peak_inside(other, places[:50]).mean() < 0.9
