"""Genomes: what a searcher proposes and an evaluator scores.

Two kinds share the engine:

* **Vector genomes** are rows of a float tensor (ES over network weights or rule coefficients). A batch of
  them travels as one 2-D tensor, so an evaluator can run every genome of a chunk in one batched forward pass.
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


Genome = Union[torch.Tensor, StructuredGenome]
GenomeBatch = Union[torch.Tensor, Sequence[StructuredGenome]]


def batch_size(genomes: GenomeBatch) -> int:
    """Number of genomes in a batch: rows of a tensor, or items of a list."""
    return int(genomes.shape[0]) if isinstance(genomes, torch.Tensor) else len(genomes)


def slice_batch(genomes: GenomeBatch, start: int, stop: int) -> GenomeBatch:
    """Rows ``start:stop`` of a batch; tensors are copied so a chunk pickles without the whole population."""
    if isinstance(genomes, torch.Tensor):
        return genomes[start:stop].clone()
    return list(genomes[start:stop])
