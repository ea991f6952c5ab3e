"""OpenAI-ES (Salimans et al. 2017, "Evolution Strategies as a Scalable Alternative to Reinforcement Learning",
arXiv 1703.03864), written for evoforge in an ask/tell style: a small state, pure functions of it.

One update from center mu with noise scale sigma, over n mirrored pairs (popsize 2n):

* sample unit noise z_1..z_n ~ N(0, I) and evaluate the 2n genomes mu + sigma z_k and mu - sigma z_k
  (mirrored / antithetic sampling; population rows 2k and 2k+1). Each z_k is drawn from its own seed s_k
  (the state's generator draws the seeds), so a genome can travel as (s_k, sign) and be rebuilt where it is
  evaluated (Salimans et al., sec. 2.1; :class:`~evoforge.search.genome.SeededPopulation`);
* shape the fitness by centred ranks: F_i = rank_i / (2n - 1) - 1/2 in [-1/2, 1/2] over the whole population
  (rank 0 = worst; ties share their mean rank), so the update ignores the fitness scale and outliers;
* estimate the gradient of E[F(mu + sigma z)] in the paper's units,
  ``g = sum_k (F+_k - F-_k) z_k / (n sigma)``, and add L2 weight decay: ascent direction ``d = g - wd * mu``;
  ``gradient="hebbian_reference"`` uses the convention of Najarro & Risi's code instead: the centred ranks
  standardised to zero mean and unit variance, ``g = sum_i F_i eps_i / (N sigma)`` over all N = 2n rows
  (``eps_2k = z_k``, ``eps_2k+1 = -z_k``), i.e. half the estimate above divided by the ranks' std;
* ascend ``d`` with Adam (Kingma & Ba 2015, with their defaults beta1 0.9, beta2 0.999, eps 1e-8)
  or SGD (optionally with momentum), then decay the step size and sigma geometrically:
  ``lr <- max(lr * lr_decay, lr_min)``, ``sigma <- max(sigma * sigma_decay, sigma_min)``.

The state (:class:`OpenAIESState`) holds only tensors and numbers, the noise generator's state included, so
pickling it checkpoints the search and a restored state continues bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import torch

from evoforge.search.genome import SeededPopulation, perturb, unit_noise


@dataclass(frozen=True)
class OpenAIESParams:
    """Hyperparameters: fixed for a run."""

    popsize: int
    learning_rate: float = 0.01
    sigma: float = 0.1
    optimizer: Literal["adam", "sgd"] = "adam"
    weight_decay: float = 0.0
    sigma_decay: float = 1.0
    sigma_min: float = 0.0
    lr_decay: float = 1.0
    lr_min: float = 0.0
    momentum: float = 0.0  # sgd only: m <- momentum * m + (1 - momentum) * d, as the reference's SGD
    gradient: Literal["pairs", "hebbian_reference"] = "pairs"  # the estimate's convention (module docstring)
    noise: Literal["seeded", "matrix"] = "seeded"  # how z is drawn (OpenAIESState.noise)
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if self.popsize < 2 or self.popsize % 2:
            raise ValueError(f"popsize must be even and >= 2 for mirrored sampling, got {self.popsize}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"OpenAI-ES optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if self.noise not in ("seeded", "matrix"):
            raise ValueError(f"OpenAI-ES noise must be 'seeded' or 'matrix', got {self.noise!r}")
        if self.gradient not in ("pairs", "hebbian_reference"):
            raise ValueError(f"OpenAI-ES gradient must be 'pairs' or 'hebbian_reference', got {self.gradient!r}")


@dataclass(frozen=True)
class OpenAIESState:
    """Everything that changes during a run; ``updates`` is Adam's t (updates applied so far)."""

    center: torch.Tensor
    sigma: float
    learning_rate: float
    updates: int
    m: torch.Tensor  # Adam's first moment, or SGD's velocity
    v: torch.Tensor  # Adam's second moment (unused by SGD)
    rng_state: torch.Tensor = field(repr=False)  # torch.Generator.get_state(): a uint8 tensor
    # "seeded": z_k from its own seed (see the module docstring). "matrix": the (n, d) noise drawn in one call
    # from the state's generator, as evoforge did before per-genome seeds (search.noise: matrix reproduces
    # those runs); a state pickled then has no such field and reads this class default, so it resumes bit
    # for bit.
    noise: Literal["seeded", "matrix"] = "matrix"


def centered_ranks(fitness: torch.Tensor) -> torch.Tensor:
    """Ranks of ``fitness`` (0 = worst) mapped linearly onto [-0.5, 0.5]: ``rank / (N - 1) - 0.5``.

    Tied values share their mean rank. Without ties this is the reference's centred ranking; with them, ranking
    ties by position would bias the estimate (rows 2k would always lose to their mirrors 2k+1 on a plateau,
    e.g. a capped episode return), while shared ranks make a tied pair contribute nothing."""
    _, inverse, counts = torch.unique(fitness.flatten(), sorted=True, return_inverse=True, return_counts=True)
    first = torch.cumsum(counts, 0) - counts
    mean_rank = first.to(torch.float64) + (counts.to(torch.float64) - 1) / 2
    return mean_rank[inverse] / (fitness.numel() - 1) - 0.5


def gradient(noise: torch.Tensor, fitness: torch.Tensor, sigma: float, convention: str = "pairs") -> torch.Tensor:
    """``g = sum_k (F+_k - F-_k) z_k / (n sigma)`` with F the centred ranks of the mirrored population's
    ``fitness`` (rows 2k: +sigma z_k, 2k+1: -sigma z_k) and ``noise`` the (n, d) unit noise z; with
    ``convention="hebbian_reference"``, F standardised ((F - mean) / std) and ``sum_i F_i eps_i / (2n sigma)``
    (Najarro & Risi's code)."""
    ranks = centered_ranks(fitness).to(noise.dtype)
    pairs = noise.shape[0]
    if convention == "hebbian_reference":
        std = ranks.std(unbiased=False)
        standardised = (ranks - ranks.mean()) / std if std > 0 else torch.zeros_like(ranks)
        return noise.T @ (standardised[0::2] - standardised[1::2]) / (2 * pairs * sigma)
    return noise.T @ (ranks[0::2] - ranks[1::2]) / (pairs * sigma)


def _decayed(value: float, rate: float, floor: float) -> float:
    # never raises a value that starts below its floor
    return value if rate >= 1.0 else max(value * rate, min(value, floor))


class OpenAIES:
    """OpenAI-ES with :class:`OpenAIESParams`; :meth:`ask` and :meth:`tell` return new states, never mutate."""

    def __init__(self, params: OpenAIESParams) -> None:
        self.params = params

    def init(self, center: torch.Tensor, seed: int) -> OpenAIESState:
        """The state before the first update: center ``center``, the params' sigma and step size, zero moments."""
        generator = torch.Generator()
        generator.manual_seed(int(seed))
        center = center.detach().flatten().clone()
        return OpenAIESState(center=center, sigma=float(self.params.sigma),
                             learning_rate=float(self.params.learning_rate), updates=0,
                             m=torch.zeros_like(center), v=torch.zeros_like(center),
                             rng_state=generator.get_state(), noise=self.params.noise)

    def ask(self, state: OpenAIESState) -> tuple[torch.Tensor, torch.Tensor, OpenAIESState]:
        """Sample: (population (2n, d), noise z (n, d), the state with the generator advanced).

        Rows 2k and 2k+1 of the population are ``center + sigma z_k`` and ``center - sigma z_k``."""
        center = state.center
        if state.noise == "seeded":
            _, noise, state = self.ask_seeded(state)  # the rows SeededPopulation.materialize() would build
        else:
            generator = torch.Generator()
            generator.set_state(state.rng_state)
            noise = torch.randn((self.params.popsize // 2, center.numel()), generator=generator,
                                dtype=center.dtype)
            state = replace(state, rng_state=generator.get_state())
        scaled = float(state.sigma) * noise
        population = torch.stack([perturb(center, scaled, +1), perturb(center, scaled, -1)], dim=1)
        return population.reshape(-1, center.numel()), noise, state

    def ask_seeded(self, state: OpenAIESState) -> tuple[SeededPopulation, torch.Tensor, OpenAIESState]:
        """:meth:`ask` with the population as a :class:`SeededPopulation` (pair k: seed s_k, signs +1 / -1),
        equal row for row to :meth:`ask`'s tensor; only for states with ``noise="seeded"``."""
        if state.noise != "seeded":
            raise ValueError("this OpenAI-ES state draws its noise as one matrix (search.noise: matrix, or an "
                             "older checkpoint); it cannot propose a seeded population")
        generator = torch.Generator()
        generator.set_state(state.rng_state)
        pairs, dim = self.params.popsize // 2, state.center.numel()
        seeds = torch.randint(0, 2**62, (pairs,), generator=generator, dtype=torch.int64).tolist()
        noise = torch.stack([unit_noise(seed, dim, state.center.dtype) for seed in seeds])
        population = SeededPopulation(center=state.center, sigma=float(state.sigma),
                                      noise_seeds=tuple(seed for seed in seeds for _ in (0, 1)),
                                      signs=(1, -1) * pairs)
        return population, noise, replace(state, rng_state=generator.get_state())

    def tell(self, state: OpenAIESState, noise: torch.Tensor, fitness: torch.Tensor) -> OpenAIESState:
        """Update from the population sampled by :meth:`ask` (with ``noise``) and its ``fitness`` (higher is
        better, one value per population row): one optimiser step along ``g - weight_decay * mu``, then the
        step-size and sigma schedules."""
        p = self.params
        fitness = torch.as_tensor(fitness).flatten()
        if fitness.numel() != 2 * noise.shape[0]:
            raise ValueError(f"expected {2 * noise.shape[0]} fitness values, got {fitness.numel()}")
        direction = gradient(noise, fitness, state.sigma, p.gradient) - p.weight_decay * state.center
        updates, lr = state.updates + 1, state.learning_rate
        if p.optimizer == "adam":
            m = p.beta1 * state.m + (1 - p.beta1) * direction
            v = p.beta2 * state.v + (1 - p.beta2) * direction * direction
            # bias correction folded into the step size, as in Kingma & Ba's algorithm 1 (and the reference)
            step = lr * (1 - p.beta2**updates) ** 0.5 / (1 - p.beta1**updates)
            center = state.center + step * m / (v.sqrt() + p.eps)
        else:
            m = direction if p.momentum == 0 else p.momentum * state.m + (1 - p.momentum) * direction
            v = state.v
            center = state.center + lr * m
        return replace(state, center=center, m=m, v=v, updates=updates,
                       sigma=_decayed(state.sigma, p.sigma_decay, p.sigma_min),
                       learning_rate=_decayed(lr, p.lr_decay, p.lr_min))
