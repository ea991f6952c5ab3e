"""Normalization-activation layers as evolvable computation graphs (Liu, Brock, Simonyan & Le 2020, "Evolving
Normalization-Activation Layers", arXiv 2004.02967).

A :class:`LayerGraph` is a DAG over four initial nodes -- the input ``x``, a per-channel trainable vector ``v0``
(initialised to 0), a per-channel trainable vector ``v1`` (initialised to 1) and the constant ``zero`` -- whose
further nodes apply one primitive to one or two earlier nodes; the last node is the layer's output, followed by
a per-channel affine ``gamma * y + beta``. Primitives (the paper's Table 1):

* binary element-wise: ``add``, ``mul``, ``div``, ``max``;
* unary element-wise: ``neg``, ``sigmoid``, ``tanh``, ``exp``, ``log`` (sign(x) ln|x|), ``abs``, ``square``,
  ``sqrt`` (sign(x) sqrt|x|);
* aggregates ``mean``, ``moment2`` (mean of x^2) and ``std`` (sqrt(variance + eps), centred) over the axes of
  ``batch`` (N, H, W per channel), ``layer`` (C, H, W per sample), ``instance`` (H, W per sample and channel)
  or ``group`` (H, W and C/g channels per sample; how channels form groups is :class:`GroupSettings`).

Beyond the search's primitives, ``rms_layer`` / ``rms_instance`` / ``rms_group`` (sqrt(mean(x^2) + eps)) let
timm's B1, B2 and S2 be written as graphs; the search itself draws only the paper's ops (:data:`OPS`). A graph
carries its own ``eps`` (the official TF code's 1e-5 by default; timm's "a" variants use 1e-3).

Batch aggregates use the mini-batch in training and running averages (momentum 0.1; the variance unbiased, as
PyTorch's BatchNorm) in eval mode, so a compiled layer drops in for BatchNorm + ReLU in any model.
:func:`compile_layer` turns a graph into that ``nn.Module``; ``str(graph)`` prints the formula.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from evoforge.search.genome import StructuredGenome

EPS = 1e-5  # the official TF code's epsilon
INITIAL = ("x", "v0", "v1", "zero")
BINARY = ("add", "mul", "div", "max")
UNARY = ("neg", "sigmoid", "tanh", "exp", "log", "abs", "square", "sqrt")
AXES = ("batch", "layer", "instance", "group")
AGGREGATES = tuple(f"{stat}_{axes}" for stat in ("mean", "moment2", "std") for axes in AXES)
OPS = BINARY + UNARY + AGGREGATES  # what random graphs and mutations draw from
EXTRA_OPS = ("rms_layer", "rms_instance", "rms_group")  # timm's variants only
GROUP_OPS = tuple(op for op in AGGREGATES + EXTRA_OPS if op.endswith("_group"))
MAX_NODES = 14  # initial nodes included (the MONAI reimplementation's cap)


def arity(op: str) -> int:
    """Number of inputs of ``op``: 2 for add, mul, div and max, 1 for the rest."""
    return 2 if op in BINARY else 1


@dataclasses.dataclass(frozen=True)
class LayerGraph(StructuredGenome):
    """Intermediate nodes as (op, inputs) pairs; node k (k >= 4) is ``nodes[k - 4]``, inputs index earlier
    nodes; the last node is the output."""

    nodes: tuple[tuple[str, tuple[int, ...]], ...]
    eps: float = EPS  # inside every std and rms; a class default, so graphs pickled before it existed keep 1e-5

    def __post_init__(self) -> None:
        if not self.eps > 0:
            raise ValueError(f"eps must be positive, got {self.eps}")
        nodes = tuple((str(op), tuple(int(i) for i in inputs)) for op, inputs in self.nodes)
        if not nodes:
            raise ValueError("a layer graph needs at least one node after the initial four")
        if len(nodes) + len(INITIAL) > MAX_NODES:
            raise ValueError(f"at most {MAX_NODES - len(INITIAL)} intermediate nodes, got {len(nodes)}")
        for index, (op, inputs) in enumerate(nodes, start=len(INITIAL)):
            if op not in OPS + EXTRA_OPS:
                raise ValueError(f"node {index}: unknown op {op!r}")
            if len(inputs) != arity(op) or any(not 0 <= i < index for i in inputs):
                raise ValueError(f"node {index} ({op}) needs {arity(op)} input(s) among nodes 0..{index - 1}, "
                                 f"got {inputs}")
        object.__setattr__(self, "nodes", nodes)

    # -- reading --------------------------------------------------------------------------------------------------
    @property
    def output(self) -> int:
        """Index of the output node (the last one)."""
        return len(INITIAL) + len(self.nodes) - 1

    def live(self) -> set[int]:
        """Nodes the output depends on."""
        seen, stack = set(), [self.output]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if node >= len(INITIAL):
                stack.extend(self.nodes[node - len(INITIAL)][1])
        return seen

    @property
    def uses_batch(self) -> bool:
        """Whether the output depends on batch statistics (a B layer; S layers are batch-independent)."""
        return any(node >= len(INITIAL) and self.nodes[node - len(INITIAL)][0].endswith("_batch")
                   for node in self.live())

    @property
    def uses_groups(self) -> bool:
        """Whether the output depends on a group aggregate (and so on how channels are grouped)."""
        return any(node >= len(INITIAL) and self.nodes[node - len(INITIAL)][0] in GROUP_OPS
                   for node in self.live())

    def expression(self, node: int | None = None) -> str:
        """The formula computed at ``node`` (default: the output) in terms of x, v0, v1 and zero."""
        node = self.output if node is None else node
        if node < len(INITIAL):
            return INITIAL[node]
        op, inputs = self.nodes[node - len(INITIAL)]
        args = [self.expression(i) for i in inputs]
        infix = {"add": "+", "mul": "*", "div": "/"}
        if op in infix:
            return f"({args[0]} {infix[op]} {args[1]})"
        if op == "neg":
            return f"-{args[0]}"
        return f"{op}({', '.join(_bare(arg) for arg in args)})"

    def __str__(self) -> str:
        formula = _bare(self.expression())
        return formula if self.eps == EPS else f"{formula}  [eps {self.eps:g}]"

    def to_dict(self) -> dict[str, Any]:
        """``{"nodes": [[op, [inputs...]], ...]}`` (and ``"eps"`` unless 1e-5), JSON-friendly; :meth:`from_dict`
        reverses it."""
        data: dict[str, Any] = {"nodes": [[op, list(inputs)] for op, inputs in self.nodes]}
        return data | ({"eps": self.eps} if self.eps != EPS else {})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LayerGraph":
        """The graph of a :meth:`to_dict` dict."""
        return cls(tuple((op, tuple(inputs)) for op, inputs in data["nodes"]), float(data.get("eps", EPS)))

    # -- search operators -----------------------------------------------------------------------------------------
    @property
    def reads_input(self) -> bool:
        """Whether the output depends on x at all (a layer that ignores its input is not worth training)."""
        return 0 in self.live()

    @classmethod
    def random(cls, rng: np.random.Generator, size: int | None = None, allow_batch: bool = True) -> "LayerGraph":
        """A random graph of ``size`` intermediate nodes (default 2-6), each reading random earlier nodes, drawn
        again until its output depends on x (about 1 in 3 do)."""
        size = int(rng.integers(2, 7)) if size is None else size
        ops = _ops(allow_batch)
        while True:
            nodes = []
            for index in range(len(INITIAL), len(INITIAL) + size):
                op = ops[int(rng.integers(len(ops)))]
                nodes.append((op, tuple(_random_input(rng, index) for _ in range(arity(op)))))
            graph = cls(tuple(nodes))
            if graph.reads_input:
                return graph

    def mutate(self, rng: np.random.Generator, allow_batch: bool = True) -> "LayerGraph":
        """Liu et al.'s mutation: a random intermediate node gets a new op, new inputs, or both (drawn again
        until the child differs and still reads x)."""
        nodes = list(self.nodes)
        position = int(rng.integers(len(nodes)))
        index = position + len(INITIAL)
        op, inputs = nodes[position]
        what = int(rng.integers(3))  # 0: op, 1: inputs, 2: both
        if what in (0, 2):
            ops = [o for o in _ops(allow_batch) if o != op]
            op = ops[int(rng.integers(len(ops)))]
        if what in (1, 2) or len(inputs) != arity(op):
            inputs = tuple(_random_input(rng, index) for _ in range(arity(op)))
        nodes[position] = (op, inputs)
        child = LayerGraph(tuple(nodes), self.eps)
        return child if child != self and child.reads_input else self.mutate(rng, allow_batch)


def _bare(text: str) -> str:
    """``text`` without one pair of enclosing parentheses, if they enclose all of it."""
    if not (text.startswith("(") and text.endswith(")")):
        return text
    depth = 0
    for position, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and position < len(text) - 1:
            return text  # e.g. "(a) + (b)": the first parenthesis closes early
    return text[1:-1]


def _ops(allow_batch: bool) -> tuple[str, ...]:
    return OPS if allow_batch else tuple(op for op in OPS if not op.endswith("_batch"))


def _random_input(rng: np.random.Generator, index: int) -> int:
    # favour recent nodes (and x) so that random graphs are deep rather than mostly constants
    if index > len(INITIAL) and rng.random() < 0.5:
        return index - 1
    return int(rng.integers(index))


# -- compilation ---------------------------------------------------------------------------------------------------
def group_count(channels: int, groups: int = 32) -> int:
    """``groups``, lowered until the count divides the channels (the official TF code's rule, from 32)."""
    groups = min(groups, channels)
    while channels % groups:
        groups -= 1
    return groups


class DegenerateGroups(ValueError):
    """A group setting that leaves one channel per group, where a group statistic is an instance statistic."""


class GroupSettings(BaseModel):
    """How the group aggregates (GN-ReLU, EvoNorm-S0 and every ``*_group`` node) split C channels.

    * ``group_size``: C / group_size groups of that many channels, C must be a multiple (timm's
      parameterisation; its regnetz_*_evos use EvoNorm-S0a with group size 16);
    * ``groups``: that many groups, lowered until the count divides C (the official TF code's rule);
    * neither: 32 groups, the paper's setting.

    One channel per group makes a group statistic the instance statistic (at C <= 32 with 32 groups, every
    "GroupNorm" would be InstanceNorm); that is refused unless ``allow_single_channel``.
    """

    model_config = ConfigDict(extra="forbid")

    groups: int | None = Field(None, ge=1, description="groups per layer, lowered until they divide C")
    group_size: int | None = Field(None, ge=1, description="channels per group (timm's group_size)")
    allow_single_channel: bool = Field(False, description="accept groups of one channel (instance statistics)")

    @model_validator(mode="after")
    def _one_of(self) -> "GroupSettings":
        if self.groups is not None and self.group_size is not None:
            raise ValueError("set groups or group_size, not both")
        return self

    def count(self, channels: int) -> int:
        """The number of groups for ``channels`` channels (raises DegenerateGroups for one channel each)."""
        if self.group_size is not None:
            if channels % self.group_size:
                raise DegenerateGroups(f"{channels} channels do not split into groups of {self.group_size}")
            groups = channels // self.group_size
        else:
            groups = group_count(channels, 32 if self.groups is None else self.groups)
        if groups == channels and channels > 1 and not self.allow_single_channel:
            setting = f"group_size {self.group_size}" if self.group_size is not None else f"{groups} groups"
            raise DegenerateGroups(f"{setting} leave one channel per group at {channels} channels (instance "
                                   "statistics); widen the layer, set a larger group_size, or allow_single_channel")
        return groups

    def describe(self) -> str:
        """One phrase for tables and docs, e.g. "group size 8" or "32 groups"."""
        if self.group_size is not None:
            return f"group size {self.group_size}"
        return f"{32 if self.groups is None else self.groups} groups (lowered until they divide C)"


PAPER_GROUPS = GroupSettings()


def _aggregate(stat: str, axes: str, x: torch.Tensor, groups: int, eps: float) -> torch.Tensor:
    """Per-channel (batch), per-sample (layer), per-sample-and-channel (instance) or per-sample-and-group (group)
    statistic of x (N, C, H, W), broadcast back to x's shape."""
    if axes == "group":
        n, c, h, w = x.shape
        grouped = x.reshape(n, groups, c // groups, h, w)
        return _statistic(stat, grouped, (2, 3, 4), eps).expand_as(grouped).reshape(n, c, h, w)
    dims = {"batch": (0, 2, 3), "layer": (1, 2, 3), "instance": (2, 3)}[axes]
    return _statistic(stat, x, dims, eps)


def _statistic(stat: str, x: torch.Tensor, dims: tuple[int, ...], eps: float) -> torch.Tensor:
    if stat == "mean":
        return x.mean(dim=dims, keepdim=True)
    if stat == "moment2":
        return (x * x).mean(dim=dims, keepdim=True)
    if stat == "rms":
        return torch.sqrt((x * x).mean(dim=dims, keepdim=True) + eps)
    return torch.sqrt(x.var(dim=dims, keepdim=True, unbiased=False) + eps)


_UNARY = {
    "neg": torch.neg,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "exp": torch.exp,
    "log": lambda x: torch.sign(x) * torch.log(torch.abs(x)),
    "abs": torch.abs,
    "square": torch.square,
    "sqrt": lambda x: torch.sign(x) * torch.sqrt(torch.abs(x)),
}
_BINARY = {"add": torch.add, "mul": torch.mul, "div": torch.div, "max": torch.maximum}


class EvoNormLayer(nn.Module):
    """A compiled :class:`LayerGraph` for ``channels`` channels; replaces BatchNorm2d + ReLU."""

    def __init__(self, graph: LayerGraph, channels: int, momentum: float = 0.1,
                 grouping: GroupSettings = PAPER_GROUPS) -> None:
        super().__init__()
        self.graph, self.channels, self.momentum = graph, channels, momentum
        # only a layer that reads group statistics is refused for degenerate groups
        self.groups = grouping.count(channels) if graph.uses_groups else group_count(channels)
        shape = (1, channels, 1, 1)
        self.v0 = nn.Parameter(torch.zeros(shape))
        self.v1 = nn.Parameter(torch.ones(shape))
        self.weight = nn.Parameter(torch.ones(shape))  # gamma
        self.bias = nn.Parameter(torch.zeros(shape))  # beta
        self.live = sorted(graph.live())
        # running averages of every live batch aggregate (std keeps its variance, as BatchNorm does)
        for node in self.live:
            if node >= len(INITIAL) and graph.nodes[node - len(INITIAL)][0].endswith("_batch"):
                stat = graph.nodes[node - len(INITIAL)][0].split("_")[0]
                self.register_buffer(f"running_{node}", torch.full(shape, 1.0 if stat != "mean" else 0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[int, torch.Tensor] = {0: x, 1: self.v0, 2: self.v1,
                                           3: torch.zeros((), dtype=x.dtype, device=x.device)}
        for node in self.live:
            if node < len(INITIAL):
                continue
            op, inputs = self.graph.nodes[node - len(INITIAL)]
            args = [values[i] for i in inputs]
            if op in _BINARY:
                values[node] = _BINARY[op](*args)
            elif op in _UNARY:
                values[node] = _UNARY[op](args[0])
            else:
                values[node] = self._aggregate(node, op, _broadcast(args[0], x))
        return _broadcast(values[self.graph.output], x) * self.weight + self.bias

    def _aggregate(self, node: int, op: str, value: torch.Tensor) -> torch.Tensor:
        stat, axes = op.split("_")
        eps = self.graph.eps
        if axes != "batch":
            return _aggregate(stat, axes, value, self.groups, eps)
        running = getattr(self, f"running_{node}")
        if not self.training:
            return torch.sqrt(running + eps) if stat == "std" else running
        dims = (0, 2, 3)
        if stat == "std":
            variance = value.var(dim=dims, keepdim=True, unbiased=False)
            count = value.numel() // value.shape[1]
            with torch.no_grad():
                unbiased = variance * count / max(count - 1, 1)
                running.mul_(1 - self.momentum).add_(self.momentum * unbiased.detach())
            return torch.sqrt(variance + eps)
        result = _statistic(stat, value, dims, eps)
        with torch.no_grad():
            running.mul_(1 - self.momentum).add_(self.momentum * result.detach())
        return result


def _broadcast(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-channel vector, a statistic or the constant expanded to x's (N, C, H, W) shape (aggregates need a full
    tensor, and so does the layer's output)."""
    return value if value.shape == like.shape else value.expand_as(like)


def compile_layer(graph: LayerGraph, channels: int, **kwargs: Any) -> EvoNormLayer:
    """An ``nn.Module`` computing ``graph`` on (N, ``channels``, H, W) inputs, a drop-in for BatchNorm2d + ReLU
    (``kwargs``: ``momentum``, ``grouping``)."""
    return EvoNormLayer(graph, channels, **kwargs)


def swap_norm_act(model: nn.Module, graph: LayerGraph, **kwargs: Any) -> int:
    """Replace every ``BatchNorm2d`` directly followed by a ``ReLU`` inside an ``nn.Sequential`` of ``model`` with
    the compiled layer (and the ReLU with an identity), in place; returns how many pairs were swapped. Models
    that call ReLU functionally or keep BN and ReLU in separate attributes need their own wiring, as the anchors
    in :mod:`evoforge.nas.anchors` do with a ``norm_act`` factory."""
    swapped = 0
    for module in list(model.modules()):
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for (first, norm), (second, act) in zip(children, children[1:]):
            if isinstance(norm, nn.BatchNorm2d) and isinstance(act, nn.ReLU):
                setattr(module, first, compile_layer(graph, norm.num_features, **kwargs))
                setattr(module, second, nn.Identity())
                swapped += 1
    return swapped


# -- the baselines, written in the search space --------------------------------------------------------------------
def _graph(*nodes: tuple[str, tuple[int, ...]]) -> LayerGraph:
    return LayerGraph(tuple(nodes))


# node numbers: 0 x, 1 v0, 2 v1, 3 zero, then 4, 5, ...
BASELINES: dict[str, LayerGraph] = {
    # ReLU(v1 * (x - mean_b) / std_b + v0): BatchNorm (weight v1, bias v0) then ReLU; gamma, beta after it
    "bn_relu": _graph(("mean_batch", (0,)), ("neg", (4,)), ("add", (0, 5)), ("std_batch", (0,)), ("div", (6, 7)),
                      ("mul", (2, 8)), ("add", (9, 1)), ("max", (10, 3))),
    # the same with group statistics: GroupNorm then ReLU
    "gn_relu": _graph(("mean_group", (0,)), ("neg", (4,)), ("add", (0, 5)), ("std_group", (0,)), ("div", (6, 7)),
                      ("mul", (2, 8)), ("add", (9, 1)), ("max", (10, 3))),
    # EvoNorm-B0: x / max(std_batch(x), v1 * x + std_instance(x))
    "evonorm_b0": _graph(("std_batch", (0,)), ("mul", (2, 0)), ("std_instance", (0,)), ("add", (5, 6)),
                         ("max", (4, 7)), ("div", (0, 8))),
    # EvoNorm-S0: x * sigmoid(v1 * x) / std_group(x)
    "evonorm_s0": _graph(("mul", (2, 0)), ("sigmoid", (4,)), ("mul", (0, 5)), ("std_group", (0,)), ("div", (6, 7))),
}


# timm's other EvoNorm variants (timm/layers/evo_norm.py), written in the search space: exp(zero) is the constant 1,
# x * sigmoid(x) is SiLU; the "a" variants differ from theirs only in eps (1e-3) and op order, which does not
# change the value.
VARIANTS: dict[str, LayerGraph] = {
    # EvoNorm-B1: x / max(std_batch(x), (x + 1) * rms_instance(x))
    "evonorm_b1": _graph(("std_batch", (0,)), ("exp", (3,)), ("add", (0, 5)), ("rms_instance", (0,)),
                         ("mul", (6, 7)), ("max", (4, 8)), ("div", (0, 9))),
    # EvoNorm-B2: x / max(std_batch(x), rms_instance(x) - x)
    "evonorm_b2": _graph(("std_batch", (0,)), ("rms_instance", (0,)), ("neg", (0,)), ("add", (5, 6)),
                         ("max", (4, 7)), ("div", (0, 8))),
    # EvoNorm-S0a: S0 with eps 1e-3
    "evonorm_s0a": LayerGraph(BASELINES["evonorm_s0"].nodes, eps=1e-3),
    # EvoNorm-S1: SiLU(x) / std_group(x)
    "evonorm_s1": _graph(("sigmoid", (0,)), ("mul", (0, 4)), ("std_group", (0,)), ("div", (5, 6))),
    # EvoNorm-S2: SiLU(x) / rms_group(x)
    "evonorm_s2": _graph(("sigmoid", (0,)), ("mul", (0, 4)), ("rms_group", (0,)), ("div", (5, 6))),
}
VARIANTS["evonorm_s1a"] = LayerGraph(VARIANTS["evonorm_s1"].nodes, eps=1e-3)
VARIANTS["evonorm_s2a"] = LayerGraph(VARIANTS["evonorm_s2"].nodes, eps=1e-3)
NAMED_LAYERS: dict[str, LayerGraph] = BASELINES | VARIANTS
