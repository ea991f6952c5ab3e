"""A static-weight MLP evaluated for a whole population at once.

A genome is the flat vector of every layer's weight matrix (``in x out``, row-major) followed by its bias.
For a chunk of G genomes and E parallel episodes each, one :meth:`BatchedMLP.forward` call does one batched
matrix multiply per layer over the population axis::

    h_{l+1}[g, e, :] = act(h_l[g, e, :] @ W_l[g] + b_l[g])

Each genome's rows go through their own GEMM, so a genome's actions do not depend on which other genomes
share its chunk (the pool's serial / Ray equivalence relies on that).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

Activation = Literal["tanh", "relu", "sigmoid", "linear"]

_ACTIVATIONS = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "linear": lambda x: x,
}

_NUMPY_ACTIVATIONS = {
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0, out=x),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "linear": lambda x: x,
}

NumpyLayers = list[tuple[np.ndarray, "np.ndarray | None"]]


@dataclass(frozen=True)
class BatchedMLP:
    """Architecture of a fully connected network; the weights come from genomes.

    Args:
        sizes: layer widths, input first and output last, e.g. ``(24, 40, 40, 4)``.
        activation: hidden-layer nonlinearity.
        output_activation: nonlinearity of the last layer.
        bias: whether layers have biases.
    """

    sizes: tuple[int, ...]
    activation: Activation = "tanh"
    output_activation: Activation = "linear"
    bias: bool = True

    def __post_init__(self) -> None:
        if len(self.sizes) < 2 or any(s < 1 for s in self.sizes):
            raise ValueError(f"an MLP needs at least an input and an output size >= 1, got {self.sizes}")

    @property
    def layer_shapes(self) -> list[tuple[int, int]]:
        """(inputs, outputs) of each layer."""
        return list(zip(self.sizes[:-1], self.sizes[1:]))

    @property
    def num_params(self) -> int:
        """Genome length: every layer's weights, and biases when ``bias`` is set."""
        return sum(i * o + (o if self.bias else 0) for i, o in self.layer_shapes)

    def unflatten(self, genomes: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """Split a (G, num_params) genome batch into per-layer (G, in, out) weights and (G, 1, out) biases."""
        if genomes.ndim != 2 or genomes.shape[1] != self.num_params:
            raise ValueError(f"expected genomes of shape (G, {self.num_params}), got {tuple(genomes.shape)}")
        layers = []
        offset = 0
        for fan_in, fan_out in self.layer_shapes:
            weight = genomes[:, offset : offset + fan_in * fan_out].reshape(-1, fan_in, fan_out)
            offset += fan_in * fan_out
            bias = None
            if self.bias:
                bias = genomes[:, offset : offset + fan_out].reshape(-1, 1, fan_out)
                offset += fan_out
            layers.append((weight, bias))
        return layers

    def forward(self, layers: list[tuple[torch.Tensor, torch.Tensor | None]], x: torch.Tensor) -> torch.Tensor:
        """Outputs (G, E, out) for inputs (G, E, in), given :meth:`unflatten`'s layers."""
        last = len(layers) - 1
        for index, (weight, bias) in enumerate(layers):
            x = torch.baddbmm(bias, x, weight) if bias is not None else torch.bmm(x, weight)
            x = _ACTIVATIONS[self.output_activation if index == last else self.activation](x)
        return x

    def numpy_layers(self, genomes: torch.Tensor) -> NumpyLayers:
        """:meth:`unflatten` as numpy arrays (views of the genome tensor, no copy)."""
        genomes = genomes.detach().to("cpu", torch.float32).contiguous()
        return [(w.numpy(), None if b is None else b.numpy()) for w, b in self.unflatten(genomes)]

    def forward_numpy(self, layers: NumpyLayers, x: np.ndarray) -> np.ndarray:
        """:meth:`forward` in numpy, for CPU rollouts of small networks.

        A step of a small MLP is a handful of tiny matrix products, where each torch call's fixed overhead
        dominates; numpy's is about half (measured for 24-40-40-4 and 8 genomes: 27 us vs 59 us per step).
        """
        last = len(layers) - 1
        for index, (weight, bias) in enumerate(layers):
            x = np.matmul(x, weight)
            if bias is not None:
                x += bias
            x = _NUMPY_ACTIVATIONS[self.output_activation if index == last else self.activation](x)
        return x

    def initial_genome(self, generator: torch.Generator) -> torch.Tensor:
        """A genome with torch.nn.Linear's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for W and b."""
        parts = []
        for fan_in, fan_out in self.layer_shapes:
            bound = 1.0 / math.sqrt(fan_in)
            count = fan_in * fan_out + (fan_out if self.bias else 0)
            parts.append((torch.rand(count, generator=generator) * 2 - 1) * bound)
        return torch.cat(parts)
