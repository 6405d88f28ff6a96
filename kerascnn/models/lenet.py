"""LeNet-5 (LeCun et al. 1998), as textbooks rebuild it in Keras.

32x32x1 -> C1 conv 6@5x5 tanh -> S2 average pool 2 -> C3 conv 16@5x5 tanh (dense
connections, not the paper's partial table) -> S4 average pool 2 -> C5 conv 120@5x5 tanh
-> F6 dense 84 tanh -> dense 10. 61,706 parameters.
"""

from __future__ import annotations

from kerascnn.blocks import classifier_head
from kerascnn.models import base
from kerascnn.registry import REFERENCES, register_family
from kerascnn.runtime import keras

layers = keras.layers


def lenet5(input_shape=(32, 32, 1), num_classes=None, include_top=True, **options):
    """LeNet-5 with dense C3, tanh activations and average pooling.

    ``num_classes`` defaults to 10. Inputs larger than 32x32 give C5 a spatial extent,
    which the top flattens. ``include_top=False`` returns C5's feature map.

    Examples:
        >>> import kerascnn
        >>> model = kerascnn.lenet5()
        >>> model.count_params(), tuple(model.output.shape)
        (61706, (None, 10))
    """
    inputs, head = base.start(input_shape, 32, "lenet5", num_classes, include_top, options,
                              default_classes=10, fixed_size=True)
    x = layers.Conv2D(6, 5, activation="tanh", name="c1_conv")(inputs)
    x = layers.AveragePooling2D(2, name="s2_pool")(x)
    x = layers.Conv2D(16, 5, activation="tanh", name="c3_conv")(x)
    x = layers.AveragePooling2D(2, name="s4_pool")(x)
    x = layers.Conv2D(120, 5, activation="tanh", name="c5_conv")(x)
    if head is None:
        x = base.pool_features(x, options["pooling"])
    else:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(84, activation="tanh", name="f6_dense")(x)
        x = classifier_head(x, head.units, options["classifier_activation"], head.task,
                            dropout=options["dropout"])
    return base.finish(inputs, x, head, options, default_name="lenet5")


#: The variants: name -> builder and card (see kerascnn.registry.register_family).
VARIANTS = {
    "lenet5": dict(
        builder=lenet5,
        family="lenet",
        description="LeNet-5: tanh convolutions and average pooling, dense C3, 32x32x1, 10 classes",
        input_shape=(32, 32, 1),
        min_input_size=(32, 32),
        num_classes=10,
        params=61_706,
        trainable_params=61_706,
        non_trainable_params=0,
        sources={"params": REFERENCES + ", papers table: LeNet-5 recomputed (156+2,416+48,120+10,164+850)"},
    ),
}
register_family(VARIANTS)
