"""Observation normalisation for ES on control tasks (Salimans et al. 2017, "Evolution Strategies as a Scalable
Alternative to Reinforcement Learning", section 2.2: "virtual batch" statistics of the observations collected
during training, used to normalise every input; as EvoTorch's GymNE ``observation_normalization``).

An :class:`ObsNormalizer` keeps the count, sum and sum of squares of every observation seen so far (float64),
so statistics gathered in many workers merge exactly: the run's driver adds each generation's per-genome sums,
in genome order, so the result does not depend on how genomes were split into chunks. The policy sees
``clip((obs - mean) / std, -5, 5)`` with ``std = sqrt(max(var, 1e-2))`` (Salimans et al.'s reference code: the
variance floored at 0.01, observations clipped to +-5); before any observation, mean 0 and std 1 (the identity).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

CLIP = 5.0
VAR_FLOOR = 1e-2


@dataclass(frozen=True)
class ObsNormalizer:
    """Running observation statistics: ``count`` observations, their elementwise ``total`` and ``squares``."""

    count: float
    total: np.ndarray
    squares: np.ndarray

    @classmethod
    def empty(cls, shape: tuple[int, ...]) -> "ObsNormalizer":
        """No observation yet: normalising is the identity."""
        return cls(0.0, np.zeros(shape, np.float64), np.zeros(shape, np.float64))

    @property
    def mean(self) -> np.ndarray:
        """The mean observation (zeros before any)."""
        return self.total / self.count if self.count else np.zeros_like(self.total)

    @property
    def std(self) -> np.ndarray:
        """sqrt(max(variance, 0.01)) per element (ones before any observation)."""
        if not self.count:
            return np.ones_like(self.total)
        variance = self.squares / self.count - self.mean**2
        return np.sqrt(np.maximum(variance, VAR_FLOOR))

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        """``clip((obs - mean) / std, -5, 5)`` in the observations' dtype (rows are observations)."""
        return self.prepared()(observations)

    def prepared(self) -> Callable[[np.ndarray], np.ndarray]:
        """:meth:`__call__` with mean and std computed once, for a rollout's every step."""
        mean, std = self.mean, self.std

        def normalise(observations: np.ndarray) -> np.ndarray:
            normalised = np.clip((observations - mean) / std, -CLIP, CLIP)
            return normalised.astype(observations.dtype, copy=False)

        return normalise

    def merged(self, stats: list[tuple[float, np.ndarray, np.ndarray]]) -> "ObsNormalizer":
        """These statistics plus ``(count, total, squares)`` triples, added in the order given."""
        count, total, squares = self.count, self.total.copy(), self.squares.copy()
        for n, t, q in stats:
            count += float(n)
            total += t
            squares += q
        return ObsNormalizer(count, total, squares)


class ObsRecorder:
    """Per-genome sums of the raw observations of one batched rollout (rows ``g * episodes + e``)."""

    def __init__(self, genomes: int, episodes: int, shape: tuple[int, ...]) -> None:
        self.episodes = episodes
        self.count = np.zeros(genomes, np.float64)
        self.total = np.zeros((genomes, *shape), np.float64)
        self.squares = np.zeros((genomes, *shape), np.float64)

    def add(self, observations: np.ndarray, rows: np.ndarray) -> None:
        """Add the observations of ``rows`` (one per row)."""
        genome = np.asarray(rows) // self.episodes
        values = np.asarray(observations, np.float64)
        np.add.at(self.count, genome, 1.0)
        np.add.at(self.total, genome, values)
        np.add.at(self.squares, genome, values * values)

    def stats(self, genome: int) -> tuple[float, np.ndarray, np.ndarray]:
        """``(count, total, squares)`` of one genome's observations."""
        return float(self.count[genome]), self.total[genome].copy(), self.squares[genome].copy()
