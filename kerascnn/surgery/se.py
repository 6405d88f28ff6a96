"""Insert squeeze-and-excitation blocks into any CNN (Hu et al. 2017, figures 2 and 3).

``where="residual"``: on every residual branch, just before the addition, as SE-ResNet
does. A residual addition is an ``Add`` of two 4D tensors where one input (the branch) is
further from the model input than the other (the shortcut: the block input, or its 1x1
projection), ends in a BatchNorm or a convolution, and has at least two convolutions
since it split from the shortcut.

``where="conv"``: after every convolution block of a plain stack such as VGG, i.e. after
the convolution and the BatchNorm / activation layers that directly follow it.

Each block is :func:`kerascnn.blocks.se_block` (GlobalAveragePooling -> Dense(C // r, relu)
-> Dense(C, sigmoid) -> Multiply) and adds ``2 * C * (C // r) + C // r + C`` parameters.
"""

from __future__ import annotations

from kerascnn.blocks import se_block
from kerascnn.errors import check_choice, check_int
from kerascnn.graph import Graph, check_model, map_tensors
from kerascnn.surgery.rewrite import Edit, Rewriter, rewrite

PLACES = ("residual", "conv")
#: A residual block has at least two convolutions on its branch (ResNet: 2 or 3); a single
#: layer added to its own input (DaViT's positional depthwise convolution) is no block.
MIN_BRANCH_CONVOLUTIONS = 2
SE_PARTS = ("squeeze", "reduce", "expand", "excite")  # the layer names of kerascnn.blocks.se_block
BRANCH_ENDS = ("BatchNormalization", "SyncBatchNormalization", "Conv2D", "DepthwiseConv2D", "SeparableConv2D")
CONVOLUTIONS = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D")
#: Layers that may follow a convolution inside a "conv block" (the SE block goes after them).
BLOCK_TAIL = ("BatchNormalization", "SyncBatchNormalization", "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU")


def _is_4d(tensor) -> bool:
    return len(tensor.shape) == 4


def _ancestors(graph: Graph, tensor) -> set[int]:
    """The indices of the calls that ``tensor`` depends on."""
    seen, stack = set(), [graph.producer(tensor)]
    while stack:
        call = stack.pop()
        if call is not None and call.index not in seen:
            seen.add(call.index)
            stack.extend(graph.producer(t) for t in call.inputs)
    return seen


def _branch_convolutions(graph: Graph, tensor, shortcut, levels: dict) -> int:
    """Convolutions on the longest path from ``tensor`` back to where it meets ``shortcut``'s history."""
    stop = _ancestors(graph, shortcut)
    count, call = 0, graph.producer(tensor)
    while call is not None and call.index not in stop:
        count += call.kind in CONVOLUTIONS
        parents = [p for p in map(graph.producer, call.inputs) if p is not None]
        call = max(parents, key=lambda p: levels[p.index], default=None)
    return count


def residual_branch(graph: Graph, call, levels: dict) -> int | None:
    """The position of the residual branch among the inputs of the ``Add`` ``call``, or None."""
    if call.kind != "Add" or len(call.inputs) != 2 or not all(map(_is_4d, call.inputs)):
        return None
    producers = [graph.producer(t) for t in call.inputs]
    depth = [levels[p.index] if p is not None else 0 for p in producers]
    branch = 0 if depth[0] > depth[1] else 1
    if depth[branch] == depth[1 - branch] or producers[branch].kind not in BRANCH_ENDS:
        return None
    convolutions = _branch_convolutions(graph, call.inputs[branch], call.inputs[1 - branch], levels)
    return branch if convolutions >= MIN_BRANCH_CONVOLUTIONS else None


def _block_end(graph: Graph, call):
    """The last call of the conv block that starts with the convolution ``call``."""
    end = call
    while True:
        consumers = graph.consumers(end.outputs[0])
        if len(consumers) != 1 or graph.is_output(end.outputs[0]):
            return end
        following = consumers[0]
        if following.kind not in BLOCK_TAIL or len(following.inputs) != 1 or len(following.outputs) != 1:
            return end
        end = following


def _prefix(name: str, suffix: str) -> str:
    return (name[: -len(suffix)] if name.endswith(suffix) and len(name) > len(suffix) else name) + "_se"


class AddSE(Edit):
    """The :class:`~kerascnn.surgery.rewrite.Edit` behind :func:`add_se`."""

    def __init__(self, ratio: int, where: str):
        self.ratio, self.where = ratio, where
        self.before: dict[int, int] = {}  # id(Add call) -> position of the residual branch
        self.after: dict[int, str] = {}  # id(last call of a conv block) -> SE prefix
        self.blocks: list[str] = []
        self.adds_seen: list[str] = []
        self._names: dict[int, set] = {}  # id(graph) -> layer names taken in that graph

    def plan(self, graph: Graph) -> None:
        self._names[id(graph)] = {call.name for call in graph.calls}
        if self.where == "residual":
            levels = graph.levels()
            for call in graph.calls:
                if call.kind == "Add":
                    self.adds_seen.append(call.name)
                    branch = residual_branch(graph, call, levels)
                    if branch is not None:
                        self.before[id(call)] = branch
            return
        for call in graph.calls:
            if call.kind in CONVOLUTIONS and len(call.outputs) == 1 and _is_4d(call.outputs[0]):
                self.after[id(_block_end(graph, call))] = _prefix(call.name, "_conv")

    def _se(self, graph: Graph, tensor, prefix: str):
        taken = self._names[id(graph)]
        name, n = prefix, 1
        while any(f"{name}_{part}" in taken for part in SE_PARTS):
            n += 1
            name = f"{prefix}{n}"
        taken.update(f"{name}_{part}" for part in SE_PARTS)
        self.blocks.append(name)
        return se_block(tensor, self.ratio, name=name)

    def call(self, rewriter: Rewriter, graph: Graph, call, args, kwargs):
        if id(call) in self.before:  # an Add layer (a list argument) or Keras 3's x + y (two arguments)
            branch = rewriter.new_tensor(call.inputs[self.before[id(call)]])
            excited = self._se(graph, branch, _prefix(call.name, "_add"))
            args, kwargs = map_tensors((args, kwargs), {id(branch): excited})
            return rewriter.copy_call(call, args, kwargs)
        outputs = rewriter.copy_call(call, args, kwargs)
        if id(call) in self.after:
            prefix = self.after[id(call)]
            outputs = self._se(graph, outputs, prefix)
        return outputs

    def finish(self) -> None:
        if self.blocks:
            return
        if self.where == "conv":
            raise ValueError("add_se(where='conv') found no 2D convolution to put an SE block after.")
        seen = ", ".join(repr(n) for n in self.adds_seen[:10]) or "none"
        raise ValueError(
            "add_se(where='residual') found no residual addition: an Add of two 4D tensors where one "
            "input is a branch of two or more convolutions ending in BatchNorm or a convolution "
            f"(Add layers seen: {seen}). "
            "For a plain stack such as VGG use where='conv'."
        )


def add_se(model, ratio: int = 16, where: str = "residual"):
    """A new model with a squeeze-and-excitation block on every residual branch or conv block.

    The original layers are copied with their weights (the model passed in is unchanged);
    the SE blocks are new, freshly initialised layers named ``{block}_se_squeeze``,
    ``_reduce``, ``_expand``, ``_excite`` (``{block}`` is the Add layer's name without
    ``_add``, or the convolution's name without ``_conv``), so fine-tune before use.
    The new model is not compiled.

    Args:
        model: a functional or Sequential Keras model; nested models get SE blocks too.
        ratio: the reduction ratio r (16 in the paper): the hidden layer has ``C // r`` units.
        where: ``"residual"`` (before each residual addition, as SE-ResNet) or ``"conv"``
            (after each convolution block, for plain stacks such as VGG).

    Raises:
        ValueError: nothing to put an SE block on (the message names the Add layers seen).

    Examples:
        >>> from kerascnn.runtime import keras
        >>> x = keras.Input((8, 8, 3))
        >>> y = keras.layers.Conv2D(32, 3, activation="relu", name="conv1")(x)
        >>> se = add_se(keras.Model(x, y), ratio=16, where="conv")
        >>> se.count_params() - 896  # 2*32*2 + 2 + 32
        162
    """
    check_model(model)
    ratio = check_int("ratio", ratio, minimum=1)
    check_choice("where", where, PLACES)
    return rewrite(model, AddSE(ratio, where))
