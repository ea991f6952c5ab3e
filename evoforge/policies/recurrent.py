"""A one-layer GRU policy with a linear readout, evaluated for a whole population at once.

The recurrent baseline for adaptation within an episode: the weights are fixed for the genome's lifetime and
anything the policy learns during an episode lives in its hidden state ``h`` (zero at the episode's start).
One step, for input ``x`` and state ``h`` (Cho et al. 2014, as computed by ``torch.nn.GRUCell``)::

    r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)          reset gate
    z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)          update gate
    n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))       candidate state
    h' = (1 - z) * n + z * h
    y  = act(W_o h' + b_o)                               readout, act = linear or tanh

Genome layout (torch's own, so that a genome is ``parameters_to_vector`` of a ``GRUCell(n_obs, hidden)``
followed by a ``Linear(hidden, n_out)``), each matrix row-major::

    W_i  (3 hidden, n_obs)    W_ir, W_iz, W_in stacked (GRUCell.weight_ih)
    W_h  (3 hidden, hidden)   W_hr, W_hz, W_hn stacked (GRUCell.weight_hh)
    b_i  (3 hidden,)          b_ir, b_iz, b_in (GRUCell.bias_ih)
    b_h  (3 hidden,)          b_hr, b_hz, b_hn (GRUCell.bias_hh)
    W_o  (n_out, hidden)      readout weight (Linear.weight)
    b_o  (n_out,)             readout bias (Linear.bias)

so ``num_params = 3 hidden (n_obs + hidden + 2) + n_out (hidden + 1)``.

Rows of a batch each run their own genome through their own small matrix products, so a row's outputs do not
depend on which other rows share the batch (the pool's serial / Ray equivalence relies on that).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import torch

OutputActivation = Literal["linear", "tanh"]


class GRUParams(NamedTuple):
    """A batch of GRU weights as numpy arrays, leading axis one entry per genome (or per row, see :meth:`take`).

    The matrices are stored transposed (``x @ w_i`` computes ``W_i x``) and contiguous, for the step's matmuls.
    """

    w_i: np.ndarray  # (B, n_obs, 3 hidden)
    w_h: np.ndarray  # (B, hidden, 3 hidden)
    b_i: np.ndarray  # (B, 1, 3 hidden)
    b_h: np.ndarray  # (B, 1, 3 hidden)
    w_o: np.ndarray  # (B, hidden, n_out)
    b_o: np.ndarray  # (B, 1, n_out)

    def take(self, owner: np.ndarray | list[int]) -> GRUParams:
        """The weights of each row: entry ``i`` of the result is entry ``owner[i]`` of these (copies)."""
        owner = np.asarray(owner, dtype=np.intp)
        return GRUParams(*(part[owner] for part in self))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # The tanh form equals 1 / (1 + exp(-x)) and cannot overflow for large |x|.
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclass(frozen=True)
class BatchedGRU:
    """Architecture of a one-layer GRU with a linear readout; the weights come from genomes.

    Args:
        n_obs: input size.
        hidden: state size (width of the GRU layer).
        n_out: output size.
        output_activation: nonlinearity of the readout, ``"linear"`` or ``"tanh"``.
    """

    n_obs: int
    hidden: int
    n_out: int
    output_activation: OutputActivation = "linear"

    def __post_init__(self) -> None:
        if min(self.n_obs, self.hidden, self.n_out) < 1:
            raise ValueError(f"a GRU needs sizes >= 1, got n_obs={self.n_obs}, hidden={self.hidden}, "
                             f"n_out={self.n_out}")
        if self.output_activation not in ("linear", "tanh"):
            raise ValueError(f"output_activation must be 'linear' or 'tanh', got {self.output_activation!r}")

    @property
    def part_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """The genome's parts in order, with their (torch-layout) shapes: W_i, W_h, b_i, b_h, W_o, b_o."""
        gates = 3 * self.hidden
        return [("w_i", (gates, self.n_obs)), ("w_h", (gates, self.hidden)), ("b_i", (gates,)),
                ("b_h", (gates,)), ("w_o", (self.n_out, self.hidden)), ("b_o", (self.n_out,))]

    @property
    def num_params(self) -> int:
        """Genome length: ``3 hidden (n_obs + hidden + 2) + n_out (hidden + 1)``."""
        return 3 * self.hidden * (self.n_obs + self.hidden + 2) + self.n_out * (self.hidden + 1)

    def unflatten(self, genomes: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split a (G, num_params) genome batch into its parts, each (G, *shape) in torch's layout (views)."""
        if genomes.ndim != 2 or genomes.shape[1] != self.num_params:
            raise ValueError(f"expected genomes of shape (G, {self.num_params}), got {tuple(genomes.shape)}")
        parts = {}
        offset = 0
        for name, shape in self.part_shapes:
            size = math.prod(shape)
            parts[name] = genomes[:, offset : offset + size].reshape(-1, *shape)
            offset += size
        return parts

    def numpy_params(self, genomes: torch.Tensor) -> GRUParams:
        """The weights of a (G, num_params) genome batch as float32 numpy arrays, unflattened once per chunk."""
        parts = self.unflatten(genomes.detach().to("cpu", torch.float32).contiguous())
        return GRUParams(
            w_i=np.ascontiguousarray(parts["w_i"].transpose(1, 2).numpy()),
            w_h=np.ascontiguousarray(parts["w_h"].transpose(1, 2).numpy()),
            b_i=parts["b_i"][:, None, :].numpy().copy(),
            b_h=parts["b_h"][:, None, :].numpy().copy(),
            w_o=np.ascontiguousarray(parts["w_o"].transpose(1, 2).numpy()),
            b_o=parts["b_o"][:, None, :].numpy().copy(),
        )

    def initial_state(self, rows: int) -> np.ndarray:
        """The state of ``rows`` fresh episodes: zeros, (rows, hidden) float32."""
        return np.zeros((rows, self.hidden), dtype=np.float32)

    def step(self, params: GRUParams, h: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One step of every row: ``(h', y)`` (rows, hidden) and (rows, n_out) for state ``h`` (rows, hidden)
        and input ``x`` (rows, n_obs), by the module's equations.

        ``params`` has one entry per row: ``numpy_params(genomes).take(owner)`` when row ``i`` runs genome
        ``owner[i]`` (or ``numpy_params(genomes)`` itself when row ``i`` runs genome ``i``).
        """
        hidden = self.hidden
        x = np.asarray(x, dtype=np.float32)[:, None, :]
        h = np.asarray(h, dtype=np.float32)
        gi = (np.matmul(x, params.w_i) + params.b_i)[:, 0, :]
        gh = (np.matmul(h[:, None, :], params.w_h) + params.b_h)[:, 0, :]
        r = _sigmoid(gi[:, :hidden] + gh[:, :hidden])
        z = _sigmoid(gi[:, hidden : 2 * hidden] + gh[:, hidden : 2 * hidden])
        n = np.tanh(gi[:, 2 * hidden :] + r * gh[:, 2 * hidden :])
        h_new = (1.0 - z) * n + z * h
        out = (np.matmul(h_new[:, None, :], params.w_o) + params.b_o)[:, 0, :]
        if self.output_activation == "tanh":
            out = np.tanh(out)
        return h_new, out

    def initial_genome(self, generator: torch.Generator) -> torch.Tensor:
        """A genome with torch's default init of GRUCell and Linear: every weight and bias
        U(-1/sqrt(hidden), 1/sqrt(hidden)) (the readout's fan-in is ``hidden`` too)."""
        bound = 1.0 / math.sqrt(self.hidden)
        return (torch.rand(self.num_params, generator=generator) * 2 - 1) * bound
