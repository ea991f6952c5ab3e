"""Genomes: what a searcher proposes and an evaluator scores.

Two kinds share the engine:

* **Vector genomes** are rows of a float tensor (ES over network weights or rule coefficients). A batch of
  them travels as one 2-D tensor, so an evaluator can run every genome of a chunk in one batched forward pass.
* **Seeded populations** (:class:`SeededPopulation`) are vector genomes written as ES perturbations of one
  center: row i is ``center + sign_i * sigma * z(seed_i)``. The pool ships the center once per batch and each
  genome as its noise seed and sign; actors rebuild the rows (Salimans et al. 2017, sec. 2.1).
* **Structured genomes** are frozen dataclasses (NAS cells, layer graphs, terrain parameters, levels) that
  subclass :class:`StructuredGenome`: they mutate with an explicit RNG, round-trip through plain dicts, pickle
  cheaply, and equal genomes hash equal (frozen dataclasses give both for free).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, TypeVar, Union

import numpy as np
import torch

S = TypeVar("S", bound="StructuredGenome")


@dataclasses.dataclass(frozen=True)
class StructuredGenome:
    """Base class for structured genomes. Subclasses must be ``@dataclass(frozen=True)``."""

    def mutate(self: S, rng: np.random.Generator) -> S:
        """Return a mutated copy; all randomness comes from ``rng``."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The genome's fields as a plain dict (``dataclasses.asdict``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[S], data: dict[str, Any]) -> S:
        """The genome of a :meth:`to_dict` dict."""
        return cls(**data)


def unit_noise(seed: int, dim: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``z(seed)``: ``dim`` standard normal values from a torch generator seeded ``seed`` (one perturbation)."""
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    return torch.randn(dim, generator=generator, dtype=dtype)


def perturb(center: torch.Tensor, scaled_noise: torch.Tensor, sign: int) -> torch.Tensor:
    """``center + scaled_noise`` or ``center - scaled_noise``: the one expression every perturbed genome is
    computed with, in the driver and in the actors, so that both give the same bits."""
    return center + scaled_noise if sign > 0 else center - scaled_noise


@dataclasses.dataclass(frozen=True, eq=False)
class SeededPopulation:
    """An ES population as noise seeds: row i is ``center + signs[i] * sigma * z(noise_seeds[i])`` with
    ``z`` = :func:`unit_noise` (mirrored pairs share a seed and have opposite signs).

    Salimans et al. 2017 (arXiv 1703.03864, sec. 2.1) scale ES to 1,440 workers by sending scalars instead of
    parameter vectors; here the evaluator pool puts ``center`` in Ray's object store once per batch and each
    chunk travels as its seeds and signs (:meth:`without_center`); the actor calls :meth:`materialize`.
    Indexing and iterating give the rows as tensors, so driver code that walks a population is unchanged.
    """

    center: torch.Tensor | None  # None in a chunk shipped without it
    sigma: float
    noise_seeds: tuple[int, ...]
    signs: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.noise_seeds) != len(self.signs):
            raise ValueError(f"{len(self.noise_seeds)} noise seeds but {len(self.signs)} signs")

    def __len__(self) -> int:
        return len(self.noise_seeds)

    def __getitem__(self, index: int) -> torch.Tensor:
        center = self._require_center()
        scaled = self.sigma * unit_noise(self.noise_seeds[index], center.numel(), center.dtype)
        return perturb(center, scaled, self.signs[index])

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def _require_center(self, center: torch.Tensor | None = None) -> torch.Tensor:
        center = self.center if center is None else center
        if center is None:
            raise ValueError("this SeededPopulation was shipped without its center; pass it to materialize()")
        return center

    def rows(self, start: int, stop: int) -> SeededPopulation:
        """Genomes ``start:stop`` (the same center)."""
        return dataclasses.replace(self, noise_seeds=self.noise_seeds[start:stop], signs=self.signs[start:stop])

    def without_center(self) -> SeededPopulation:
        """The same genomes with the center left out (it travels separately, once)."""
        return dataclasses.replace(self, center=None)

    def materialize(self, center: torch.Tensor | None = None) -> torch.Tensor:
        """The (rows, dim) tensor of genomes; ``center`` for a population shipped without it. A mirrored pair's
        noise is drawn once."""
        center = self._require_center(center)
        rows, noise = [], {}
        for seed, sign in zip(self.noise_seeds, self.signs):
            if seed not in noise:
                noise[seed] = self.sigma * unit_noise(seed, center.numel(), center.dtype)
            rows.append(perturb(center, noise[seed], sign))
        return torch.stack(rows) if rows else center.new_zeros((0, center.numel()))


Genome = Union[torch.Tensor, StructuredGenome]
GenomeBatch = Union[torch.Tensor, SeededPopulation, Sequence[StructuredGenome]]


def batch_size(genomes: GenomeBatch) -> int:
    """Number of genomes in a batch: rows of a tensor, or items of a seeded population or a list."""
    return int(genomes.shape[0]) if isinstance(genomes, torch.Tensor) else len(genomes)


def slice_batch(genomes: GenomeBatch, start: int, stop: int) -> GenomeBatch:
    """Rows ``start:stop`` of a batch; tensors are copied so a chunk pickles without the whole population."""
    if isinstance(genomes, torch.Tensor):
        return genomes[start:stop].clone()
    if isinstance(genomes, SeededPopulation):
        return genomes.rows(start, stop)
    return list(genomes[start:stop])


def as_evaluable(genomes: GenomeBatch, center: torch.Tensor | None = None) -> GenomeBatch:
    """What an evaluator receives: a seeded population as its (rows, dim) tensor, anything else as it is."""
    return genomes.materialize(center) if isinstance(genomes, SeededPopulation) else genomes
