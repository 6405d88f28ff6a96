"""DaViT (Ding et al. 2022, "Dual Attention Vision Transformers", arXiv 2204.03645).

A 4x4-strided 7x7 patch stem with LayerNorm, four stages (96-192-384-768 wide for T and S,
128-256-512-1024 for B) separated by LayerNorm + 2x2/2 convolutions. Each stage repeats a
pair of blocks: the first attends *spatially* inside windows (multi-head self-attention over
the positions of each window), the second attends over *channels* (each head's channels are
the tokens, the whole image their features), which gives every position a global view at
linear cost. Every block is: a 3x3 depthwise convolution added to its input (conditional
positional encoding), LayerNorm, attention, residual addition; again the positional
convolution, LayerNorm, an MLP (4x, GELU), residual addition.

The window is ``ceil(side / 32)`` (7 at 224, 9 at 280): the last stage is a single window.
Sides that are not multiples of the window at some stage are zero-padded for the window
attention and cropped back after it.

The layers, their names, their order and their weights follow keras-cv-attention-models'
(kecam) DaViT, layer for layer, so that kecam's ``.h5`` files (its ImageNet weights
included) load by name, and ``model.layers[:80]`` is the same slice of the network as in
kecam's model: kecam builds its attention from TensorFlow operations, each of which Keras 2
turns into a layer; here each of them is a stock Keras layer (``Reshape``, ``Permute``,
``Softmax``, ``Rescaling``, ``ZeroPadding2D``, ``Cropping2D``) or one of three small
weightless layers of :mod:`kerascnn.layers` (``BatchReshape``, ``Split``, ``MatMul``),
all serializable, none a ``Lambda``. The same code builds on Keras 3 (TensorFlow, JAX) and
Keras 2.

Examples:
    >>> import kerascnn
    >>> model = kerascnn.davit_t(input_shape=(64, 64, 3), num_classes=10)
    >>> tuple(model.get_layer("pre_output_ln").output.shape)
    (None, 2, 2, 768)
"""

from __future__ import annotations

import math

from kerascnn.layers import BatchReshape, MatMul, Split
from kerascnn.models import base
from kerascnn.registry import Weights, register_family
from kerascnn.runtime import keras

layers = keras.layers

#: variant -> (blocks per stage, stage widths, attention heads per stage): kecam's DaViT_T/S/B,
#: the configurations of Ding et al. (section 3 of the paper; 32 channels per head everywhere).
CONFIGS = {
    "t": ((2, 2, 6, 2), (96, 192, 384, 768), (3, 6, 12, 24)),
    "s": ((2, 2, 18, 2), (96, 192, 384, 768), (3, 6, 12, 24)),
    "b": ((2, 2, 18, 2), (128, 256, 512, 1024), (4, 8, 16, 32)),
}
#: total stride of the network: the window is ceil(side / WINDOW_RATIO)
WINDOW_RATIO = 32
MLP_RATIO = 4
LAYER_NORM_EPSILON = 1e-5
#: kecam's rule (multiples of 32 recommended); smaller sides still build but leave 1x1 windows.
MIN_INPUT_SIZE = 32
#: the preprocessing the ImageNet weights were trained with (kecam's ``rescale_mode``)
PREPROCESSING = "torch"
#: kecam's release files: ``{RELEASES}/davit_{t,s,b}_imagenet.h5`` and their md5, from kecam
#: 1.4.3's ``PRETRAINED_DICT`` (davit/davit.py); tests check them against the installed kecam.
RELEASES = "https://github.com/leondgarse/keras_cv_attention_models/releases/download/davit"
#: variant -> (parameters with the 1000-class head at 224, GMACs, top-1): kecam's README table
_FIGURES = {"t": (28_360_168, 4.56, 82.8), "s": (49_745_896, 8.83, 84.2), "b": (87_954_408, 15.55, 84.6)}
IMAGENET_MD5 = {
    "davit_t": "040a215cbcf1c0ce06db665cdcf6f9ac",
    "davit_s": "b95558071c639815f4ab2e9d09a4141f",
    "davit_b": "89e50de7a70ea7b2404f8f57369d8015",
}


def _torch_uniform(fan_in: int):
    """PyTorch's default convolution initializer, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as kecam's."""
    limit = 1.0 / math.sqrt(fan_in)
    return keras.initializers.RandomUniform(-limit, limit)


def _layer_norm(x, name):
    return layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=name + "ln")(x)


def _positional_encoding(x, name):
    """Conditional positional encoding: ``x + DepthwiseConv3x3(x)`` (padding 1, with bias)."""
    y = layers.ZeroPadding2D(1, name=name + "pad")(x)
    y = layers.DepthwiseConv2D(3, use_bias=True, depthwise_initializer=_torch_uniform(x.shape[-1] * 9),
                               name=name + "dw_conv")(y)
    return layers.Add(name=name + "output")([x, y])


def _heads(x, tokens, num_heads, order, name):
    """``(batch, tokens, heads * key_dim)`` -> ``(batch, heads, ...)`` in the axis ``order`` given."""
    x = layers.Reshape((tokens, num_heads, x.shape[-1] // num_heads), name=name + "heads")(x)
    return layers.Permute(order, name=name + "transpose")(x)


def _attention_scores(query, key, key_dim, name):
    scores = MatMul(name=name + "query_key")([query, key])
    scores = layers.Rescaling(1.0 / math.sqrt(key_dim), name=name + "scale")(scores)
    if scores.shape[-1] == 1:
        # one token per window (sides up to 32): the softmax of one score is exactly 1, which
        # Keras 3 warns about on every call ("Did you mean to use a sigmoid instead?")
        return layers.Rescaling(0.0, offset=1.0, name=name + "attention_scores")(scores)
    return layers.Softmax(axis=-1, name=name + "attention_scores")(scores)


def _window_self_attention(x, num_heads, name):
    """Multi-head self-attention among the positions of each window (``x``: windows x h x w x C)."""
    height, width, channels = x.shape[1:]
    tokens, key_dim = height * width, channels // num_heads
    qkv = layers.Reshape((tokens, channels), name=name + "tokens")(x)
    qkv = layers.Dense(3 * channels, name=name + "qkv")(qkv)
    query, key, value = Split(3, name=name + "qkv_split")(qkv)
    query = _heads(query, tokens, num_heads, (2, 1, 3), name + "query_")     # (heads, tokens, key_dim)
    key = _heads(key, tokens, num_heads, (2, 3, 1), name + "key_")           # (heads, key_dim, tokens)
    value = _heads(value, tokens, num_heads, (2, 1, 3), name + "value_")     # (heads, tokens, key_dim)
    scores = _attention_scores(query, key, key_dim, name)
    out = MatMul(name=name + "scores_value")([scores, value])
    out = layers.Permute((2, 1, 3), name=name + "merge_transpose")(out)
    out = layers.Reshape((height, width, channels), name=name + "merge")(out)
    return layers.Dense(channels, name=name + "output")(out)


def _channel_attention(x, num_heads, name):
    """Multi-head self-attention among channels: per head, ``key_dim`` channel tokens of H*W features."""
    height, width, channels = x.shape[1:]
    tokens, key_dim = height * width, channels // num_heads
    qkv = layers.Reshape((tokens, channels), name=name + "tokens")(x)
    qkv = layers.Dense(3 * channels, name=name + "qkv")(qkv)
    value, query, key = Split(3, name=name + "qkv_split")(qkv)  # this order in the trained weights
    query = _heads(query, tokens, num_heads, (2, 3, 1), name + "query_")     # (heads, key_dim, tokens)
    key = _heads(key, tokens, num_heads, (2, 1, 3), name + "key_")           # (heads, tokens, key_dim)
    value = _heads(value, tokens, num_heads, (2, 3, 1), name + "value_")     # (heads, key_dim, tokens)
    scores = _attention_scores(query, key, key_dim, name)                    # (heads, key_dim, key_dim)
    out = MatMul(name=name + "scores_value")([scores, value])                # (heads, key_dim, tokens)
    out = layers.Permute((3, 1, 2), name=name + "merge_transpose")(out)
    out = layers.Reshape((height, width, channels), name=name + "merge")(out)
    return layers.Dense(channels, name=name + "output")(out)


def _window_attention(x, window, num_heads, name):
    """Pad to whole windows, fold the windows into the batch axis, attend, unfold, crop."""
    height, width, channels = x.shape[1:]
    window_h, window_w = min(window[0], height), min(window[1], width)
    rows, cols = math.ceil(height / window_h), math.ceil(width / window_w)
    pad_h, pad_w = rows * window_h - height, cols * window_w - width
    if pad_h or pad_w:
        x = layers.ZeroPadding2D(((0, pad_h), (0, pad_w)), name=name + "window_pad")(x)
    if rows > 1 or cols > 1:
        x = BatchReshape((window_h, cols, window_w * channels), name=name + "window_rows")(x)
        x = layers.Permute((2, 1, 3), name=name + "window_transpose")(x)
        x = BatchReshape((window_h, window_w, channels), name=name + "windows")(x)
    x = _window_self_attention(x, num_heads, name)
    if rows > 1 or cols > 1:
        x = BatchReshape((cols, window_h, window_w * channels), name=name + "unwindow_rows")(x)
        x = layers.Permute((2, 1, 3), name=name + "unwindow_transpose")(x)
        x = BatchReshape((rows * window_h, cols * window_w, channels), name=name + "unwindows")(x)
    else:
        x = layers.Reshape((window_h, window_w, channels), name=name + "unwindows")(x)
    if pad_h or pad_w:
        x = layers.Cropping2D(((0, pad_h), (0, pad_w)), name=name + "window_crop")(x)
    return x


def davit_block(x, window, num_heads, channel_attention: bool, name: str):
    """One DaViT block: positional conv, LayerNorm, (window or channel) attention, residual;
    positional conv, LayerNorm, MLP (4x, GELU), residual."""
    channels = x.shape[-1]
    pre_attention = _positional_encoding(x, name + "pre_attn_cpe_")
    y = _layer_norm(pre_attention, name + "attn_")
    if channel_attention:
        y = _channel_attention(y, num_heads, name + "channel_attn_")
    else:
        y = _window_attention(y, window, num_heads, name + "attn_")
    x = layers.Add(name=name + "1_output")([pre_attention, y])
    pre_mlp = _positional_encoding(x, name + "pre_ffn_cpe_")
    y = _layer_norm(pre_mlp, name + "mlp_")
    y = layers.Dense(MLP_RATIO * channels, name=name + "mlp_Dense_0")(y)
    y = layers.Activation("gelu", name=name + "mlp_gelu")(y)
    y = layers.Dense(channels, name=name + "mlp_Dense_1")(y)
    return layers.Add(name=name + "2_output")([pre_mlp, y])


def _build(variant, input_shape, num_classes, include_top, options):
    name = f"davit_{variant}"
    # base.start checks a pretrained tag against the card's weights record (3 channels, 1000 classes)
    inputs, head = base.start(input_shape, MIN_INPUT_SIZE, name, num_classes, include_top, options)
    blocks, widths, heads = CONFIGS[variant]
    height, width = inputs.shape[1], inputs.shape[2]
    if height is None or width is None:
        raise ValueError(f"{name}: input_shape={tuple(inputs.shape[1:])!r} has an unknown side, but DaViT's "
                         "height and width must be fixed (its attention windows are ceil(side / 32) wide); "
                         "give them, e.g. input_shape=(224, 224, 3).")
    window = (math.ceil(height / WINDOW_RATIO), math.ceil(width / WINDOW_RATIO))

    x = layers.ZeroPadding2D(3, name="stem_pad")(inputs)
    x = layers.Conv2D(widths[0], 7, strides=4, kernel_initializer=_torch_uniform(inputs.shape[-1] * 49),
                      name="stem_conv")(x)
    x = _layer_norm(x, "stem_")
    for stage, (repeats, filters, num_heads) in enumerate(zip(blocks, widths, heads), start=1):
        if stage > 1:
            x = _layer_norm(x, f"stack{stage}_downsample_")
            x = layers.Conv2D(filters, 2, strides=2, padding="same",
                              kernel_initializer=_torch_uniform(x.shape[-1] * 4),
                              name=f"stack{stage}_downsample_conv")(x)
        for index in range(repeats):
            x = davit_block(x, window, num_heads, channel_attention=index % 2 == 1,
                            name=f"stack{stage}_block{index + 1}_")
    x = _layer_norm(x, "pre_output_")
    x = base.features_or_top(x, head, options, top_pooling="avg")

    # weights: "imagenet" (the card's record: kecam's release file, fetched, md5-checked) or a
    # file (a kecam .h5 is loaded by layer name, every layer checked): kerascnn.weights does both
    return base.finish(inputs, x, head, options, default_name=name)


def imagenet_weights(name: str) -> Weights:
    """The record of kecam's ImageNet weights for ``davit_t``, ``davit_s`` or ``davit_b``.

    Examples:
        >>> imagenet_weights("davit_t").file_name
        'davit_t_imagenet.h5'
    """
    return Weights(url=f"{RELEASES}/{name}_imagenet.h5", file_hash=IMAGENET_MD5[name], preprocessing=PREPROCESSING,
                   top1=_FIGURES[name[-1]][2],
                   source="keras-cv-attention-models 1.4.3 PRETRAINED_DICT (davit/davit.py): release file and md5")


def _card(builder, variant: str) -> dict:
    params, gmacs, top1 = _FIGURES[variant]
    blocks, widths, heads = CONFIGS[variant]
    return {
        "builder": builder,
        "family": "davit",
        "description": (f"DaViT-{variant.upper()}: stages {list(blocks)} of window + channel attention "
                        f"blocks, widths {list(widths)}, heads {list(heads)}"),
        "input_shape": (224, 224, 3),
        "min_input_size": (MIN_INPUT_SIZE, MIN_INPUT_SIZE),
        "num_classes": 1000,
        "params": params,
        "trainable_params": params,
        "non_trainable_params": 0,
        "gmacs": gmacs,
        "top1": top1,
        "sources": {
            "params": f"keras-cv-attention-models 1.4.3 DaViT_{variant.upper()}(pretrained=None).count_params() "
                      f"at 224x224 with the 1000-class head (its README: {params / 1e6:.2f}M)",
            "gmacs": f"keras-cv-attention-models DaViT README table: {gmacs} G at 224 (the ImageNet-1K "
                     "table of Ding et al. 2022, arXiv 2204.03645, gives it to one decimal)",
            "top1": f"Ding et al. 2022, arXiv 2204.03645, ImageNet-1K table: {top1} (224, one crop); "
                    "the same in kecam's README",
            "min_input_size": "kecam's rule: sides multiples of 32 (the window is ceil(side / 32))",
        },
        "weights": (imagenet_weights(f"davit_{variant}"),),
    }


def davit_t(input_shape=(224, 224, 3), num_classes=None, include_top=True, **options):
    """DaViT-Tiny: blocks [2, 2, 6, 2], widths 96-768, heads 3-24. 28,360,168 parameters at 224.

    Args:
        weights: None, ``"imagenet"`` (kecam's release file ``davit_t_imagenet.h5``,
            md5-checked, cached in ``~/.keras/models``; a failed download raises), or the path
            of a kecam ``.h5`` (loaded by layer name, every layer checked) or of a kerascnn
            weights file. ImageNet weights expect ``torch`` preprocessing: ``(x / 255 - mean) / std``.
            The cache is ``$KERASCNN_WEIGHTS_CACHE`` (default ``~/.keras/models``);
            ``$KERASCNN_WEIGHTS_MIRROR`` (a folder or ``file://`` URL) replaces the origin.

    The other arguments are those of every builder (``num_classes=0`` or
    ``include_top=False`` for the feature map, ``pooling``, ``dropout``, compile options...).

    Examples:
        >>> import kerascnn
        >>> features = kerascnn.davit_t(input_shape=(64, 96, 3), num_classes=0)
        >>> tuple(features.output.shape)
        (None, 2, 3, 768)
    """
    return _build("t", input_shape, num_classes, include_top, options)


def davit_s(input_shape=(224, 224, 3), num_classes=None, include_top=True, **options):
    """DaViT-Small: blocks [2, 2, 18, 2], widths 96-768. 49,745,896 parameters. See :func:`davit_t`.

    Examples:
        >>> import kerascnn
        >>> kerascnn.model_card("davit_s").params
        49745896
    """
    return _build("s", input_shape, num_classes, include_top, options)


def davit_b(input_shape=(224, 224, 3), num_classes=None, include_top=True, **options):
    """DaViT-Base: blocks [2, 2, 18, 2], widths 128-1024. 87,954,408 parameters. See :func:`davit_t`.

    Examples:
        >>> import kerascnn
        >>> kerascnn.model_card("davit_b").params
        87954408
    """
    return _build("b", input_shape, num_classes, include_top, options)


VARIANTS = {
    "davit_t": _card(davit_t, "t"),
    "davit_s": _card(davit_s, "s"),
    "davit_b": _card(davit_b, "b"),
}
register_family(VARIANTS)
