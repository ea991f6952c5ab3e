"""NAS-Bench-201's network for a cell (the benchmark's ``TinyNetwork`` / ``InferCell``, Dong & Yang 2020).

stem (3x3 conv + BN) -> N cells at C channels -> residual reduction block (C -> 2C, stride 2) -> N cells at 2C
-> reduction (2C -> 4C) -> N cells at 4C -> BN + ReLU -> global average pool -> linear. Every searched cell shares
one :class:`~evoforge.nas.space.Cell`. The benchmark uses C = 16, N = 5 on 32x32 images; here any
(channels, height, width) input and any number of classes work (NASWOT scores networks with one output).

Operations as in the benchmark: ``nor_conv_kxk`` = ReLU -> conv (no bias) -> BN; ``avg_pool_3x3`` = 3x3 average
pool, stride 1, padding 1, not counting the padding; ``skip_connect`` = identity; ``none`` = zeros. The reduction
block is ReLU-conv3x3(stride 2)-BN, ReLU-conv3x3-BN, plus a shortcut avgpool 2x2 + 1x1 conv.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from evoforge.nas.space import EDGES, Cell


class ReLUConvBN(nn.Sequential):
    """NAS-Bench-201's convolution operation: ReLU, conv (same padding, no bias), BatchNorm."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out))


class Zero(nn.Module):
    """NAS-Bench-201's ``none`` operation: zeros of the input's shape (the edge carries nothing)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(name: str, channels: int) -> nn.Module:
    """The module of NAS-Bench-201 operation ``name`` on ``channels`` channels."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown operation {name!r}")


class CellModule(nn.Module):
    """node_i = sum over j < i of op_{j->i}(node_j); the cell's output is node 3."""

    def __init__(self, cell: Cell, channels: int) -> None:
        super().__init__()
        self.edges = EDGES
        self.ops = nn.ModuleList(make_op(op, channels) for op in cell.ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x, None, None, None]
        for target in (1, 2, 3):
            total = None
            for (source, to), op in zip(self.edges, self.ops):
                if to == target:
                    out = op(nodes[source])
                    total = out if total is None else total + out
            nodes[target] = total
        return nodes[3]


class ReductionBlock(nn.Module):
    """The benchmark's ``ResNetBasicblock`` with stride 2."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class CellNetwork(nn.Module):
    """The NAS-Bench-201 skeleton around one cell."""

    def __init__(self, cell: Cell, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10,
                 input_channels: int = 3) -> None:
        super().__init__()
        if channels < 1 or cells_per_stage < 0 or num_classes < 1 or input_channels < 1:
            raise ValueError("channels, num_classes and input_channels must be >= 1, cells_per_stage >= 0")
        self.cell = cell
        self.stem = nn.Sequential(nn.Conv2d(input_channels, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels))
        layers: list[nn.Module] = []
        width = channels
        for stage in range(3):
            if stage:
                layers.append(ReductionBlock(width, width * 2))
                width *= 2
            layers.extend(CellModule(cell, width) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(inplace=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.lastact(self.cells(self.stem(x)))
        return self.classifier(self.pool(features).flatten(1))


def build_network(cell: Cell, input_shape: Sequence[int], num_classes: int, channels: int = 16,
                  cells_per_stage: int = 5) -> CellNetwork:
    """A fresh network for ``cell`` on (channels, height, width) inputs; torch's default initialisation."""
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (channels, height, width), got {tuple(input_shape)}")
    if min(input_shape[1:]) < 4 or any(side % 4 for side in input_shape[1:]):
        raise ValueError(f"height and width must be multiples of 4 (at least 4x4) for the two stride-2 reductions, "
                         f"got {tuple(input_shape)}")
    return CellNetwork(cell, channels, cells_per_stage, num_classes, input_channels=int(input_shape[0]))
