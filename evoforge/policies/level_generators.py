"""Evolvable PCGRL level generators, run for a whole chunk of genomes at once.

* :class:`CropConvPolicy` (narrow, turtle): two stride-2 3x3 convolutions on the egocentric crop, then a linear
  layer to the action logits -- a small version of the PCGRL paper's conv net (32-64-64 + FC 512 there, sized
  for PPO; ES needs few parameters).
* :class:`FullyConvPolicy` (wide): 3x3 "same" convolutions whose last layer has one channel per tile, so the
  logits are one per (row, col, tile): the paper's fully convolutional wide model, without its dense layers.
* :class:`NCAGenerator`: the neural cellular automaton of Earle et al. (GECCO 2022): 3x3 conv (N -> 32), ReLU,
  1x1 conv (32 -> 32), ReLU, 1x1 conv (32 -> N); every step rewrites the whole map to the per-cell argmax, until
  the map stops changing or after ``steps`` steps (the sigmoid of the reference does not change an argmax).

Actions are the argmax of the logits (deterministic, as usual in ES). The G genomes of a chunk have different
weights, so the maps of all genomes go through one grouped convolution per layer (groups = G) and one batched
matmul for linear layers; a genome's maps are the batch axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Layer:
    kind: str  # "conv" or "linear"
    c_in: int
    c_out: int
    kernel: int = 1
    stride: int = 1
    padding: int = 0

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """(out, in, k, k) for a convolution, (out, in) for a linear layer."""
        return (self.c_out, self.c_in, self.kernel, self.kernel) if self.kind == "conv" else (self.c_out, self.c_in)

    @property
    def num_params(self) -> int:
        """Number of the layer's weights and biases."""
        return int(np.prod(self.weight_shape)) + self.c_out


class GroupedNetwork:
    """A stack of layers evaluated for G genomes at once: ReLU between layers, none after the last."""

    def __init__(self, layers: list[Layer]):
        self.layers = layers

    @property
    def num_params(self) -> int:
        """Genome length: the weights and biases of every layer."""
        return sum(layer.num_params for layer in self.layers)

    def split(self, genomes: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(G, num_params) -> per layer (weights, biases) stacked over genomes."""
        out, offset, count = [], 0, genomes.shape[0]
        for layer in self.layers:
            size = int(np.prod(layer.weight_shape))
            weight = genomes[:, offset:offset + size].reshape(count, *layer.weight_shape)
            bias = genomes[:, offset + size:offset + size + layer.c_out]
            out.append((weight, bias))
            offset += size + layer.c_out
        return out

    def forward(self, params: list[tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor) -> torch.Tensor:
        """x: (B, G, C, H, W) -> (B, G, ...) for B inputs per genome."""
        batch, count = x.shape[:2]
        for index, (layer, (weight, bias)) in enumerate(zip(self.layers, params)):
            if layer.kind == "conv":
                x = F.conv2d(x.reshape(batch, count * layer.c_in, *x.shape[-2:]),
                             weight.reshape(count * layer.c_out, layer.c_in, layer.kernel, layer.kernel),
                             bias.reshape(-1), stride=layer.stride, padding=layer.padding, groups=count)
                x = x.reshape(batch, count, layer.c_out, *x.shape[-2:])
            else:
                x = torch.einsum("bgi,goi->bgo", x.reshape(batch, count, -1), weight) + bias
            if index < len(self.layers) - 1:
                x = torch.relu(x)
        return x


def _conv_side(side: int, kernel: int = 3, stride: int = 2) -> int:
    return (side - kernel) // stride + 1


class CropConvPolicy:
    """narrow / turtle: (C, c, c) crop -> logits over the representation's actions."""

    def __init__(self, channels: int, crop: int, actions: int, width: int = 8):
        side = _conv_side(_conv_side(crop))
        self.network = GroupedNetwork([
            Layer("conv", channels, width, 3, 2), Layer("conv", width, width, 3, 2),
            Layer("linear", width * side * side, actions),
        ])

    @property
    def num_params(self) -> int:
        """Genome length."""
        return self.network.num_params

    def logits(self, params, observations: torch.Tensor) -> torch.Tensor:
        """observations (B, G, C, c, c) -> (B, G, actions)."""
        return self.network.forward(params, observations)


class FullyConvPolicy:
    """wide: (C, H, W) map -> logits over H * W * N actions, flattened as (row, col, tile)."""

    def __init__(self, channels: int, tiles: int, width: int = 16):
        self.network = GroupedNetwork([
            Layer("conv", channels, width, 3, 1, 1), Layer("conv", width, width, 3, 1, 1),
            Layer("conv", width, tiles, 3, 1, 1),
        ])

    @property
    def num_params(self) -> int:
        """Genome length."""
        return self.network.num_params

    def logits(self, params, observations: torch.Tensor) -> torch.Tensor:
        """observations (B, G, C, H, W) -> (B, G, H * W * N), ordered as the wide action (row, col, tile)."""
        out = self.network.forward(params, observations)  # (B, G, N, H, W)
        return out.permute(0, 1, 3, 4, 2).reshape(*out.shape[:2], -1)


class NCAGenerator:
    """Whole-map rewriting cellular automaton; the border counts as ``border_tile`` (solid)."""

    def __init__(self, tiles: int, border_tile: int, hidden: int = 32, steps: int = 50):
        self.tiles, self.border_tile, self.steps = tiles, border_tile, steps
        self.network = GroupedNetwork([
            Layer("conv", tiles, hidden, 3), Layer("conv", hidden, hidden, 1), Layer("conv", hidden, tiles, 1),
        ])

    @property
    def num_params(self) -> int:
        """Genome length."""
        return self.network.num_params

    def _one_hot_padded(self, levels: torch.Tensor) -> torch.Tensor:
        padded = F.pad(levels, (1, 1, 1, 1), value=self.border_tile)
        return F.one_hot(padded, self.tiles).permute(0, 1, 4, 2, 3).float()

    def generate(self, genomes: torch.Tensor, levels: np.ndarray, record: bool = False
                 ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
        """levels (G, K, H, W) -> final levels (G, K, H, W), every intermediate step if ``record``, and per genome
        the steps it ran: the first step that changed none of its maps, or ``steps``. A map that stopped
        changing is a fixed point, so running a genome's maps on while others still change alters nothing."""
        params = self.network.split(genomes.to(torch.float32))  # on the genomes' device
        device = genomes.device
        # (K, G, H, W): maps on the batch axis
        current = torch.as_tensor(levels, dtype=torch.int64, device=device).transpose(0, 1)
        frames = [current.transpose(0, 1).cpu().numpy().astype(np.uint8)] if record else []
        ran = np.full(len(genomes), self.steps)
        stopped = np.zeros(len(genomes), dtype=bool)
        with torch.no_grad():
            for step in range(1, self.steps + 1):
                nxt = self.network.forward(params, self._one_hot_padded(current)).argmax(dim=2)
                unchanged = (nxt == current).flatten(2).all(dim=2).all(dim=0).cpu().numpy()
                ran[unchanged & ~stopped] = step
                stopped |= unchanged
                if stopped.all():
                    break
                current = nxt
                if record:
                    frames.append(current.transpose(0, 1).cpu().numpy().astype(np.uint8))
        return current.transpose(0, 1).cpu().numpy().astype(np.uint8), frames, ran
