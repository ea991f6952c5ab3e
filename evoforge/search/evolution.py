"""Searchers over structured genomes (anything with ``mutate(rng)``): random sampling and regularized evolution.

* :class:`RandomSampling` -- every step scores ``batch`` fresh genomes from ``sample(rng)``; the run keeps the
  best. With an untrained score as fitness this is Mellor et al.'s NASWOT search (Algorithm 1: score N random
  architectures, keep the best).
* :class:`RegularizedEvolution` -- Real et al. 2019 (aging evolution, arXiv 1802.01548): a population of
  ``population_size`` scored genomes; each child comes from a tournament (``sample_size`` members drawn
  uniformly, the fittest mutated); children join the population and the *oldest* members leave. The initial
  population is given (random genomes for REA; Mellor et al.'s AREA passes the best-scoring of a larger
  untrained sample).

Both follow the run's searcher protocol (``step(evaluate)``, ``state_bytes``), draw every random number from
their own numpy generator, and checkpoint whole, so a resumed search continues exactly.
"""

from __future__ import annotations

import pickle
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from evoforge.search.evaluation import Evaluation

Evaluate = Callable[[list[Any]], list[Evaluation]]


class _StructuredSearcher:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.history: list[tuple[Any, float]] = []  # every scored genome, in order

    @property
    def center(self) -> None:
        return None  # no distribution centre to re-score: the run keeps the best sampled genome

    @property
    def best(self) -> tuple[Any, float] | None:
        return max(self.history, key=lambda item: item[1], default=None)

    def _score(self, genomes: list[Any], evaluate: Evaluate) -> list[tuple[Any, float]]:
        scored = [(genome, e.fitness) for genome, e in zip(genomes, evaluate(genomes)) if not e.failed]
        self.history.extend(scored)
        return scored

    def state_bytes(self) -> bytes:
        return pickle.dumps({key: value for key, value in self.__dict__.items() if key != "sample"})

    def load_state_bytes(self, data: bytes) -> None:
        self.__dict__.update(pickle.loads(data))


class RandomSampling(_StructuredSearcher):
    def __init__(self, sample: Callable[[np.random.Generator], Any], batch: int, seed: int) -> None:
        super().__init__(seed)
        self.sample, self.batch = sample, batch

    def step(self, evaluate: Evaluate) -> None:
        self._score([self.sample(self.rng) for _ in range(self.batch)], evaluate)

    def metrics(self) -> dict[str, float]:
        best = self.best
        return {"sampled": float(len(self.history)), "best_score": best[1] if best else float("nan")}


class RegularizedEvolution(_StructuredSearcher):
    def __init__(self, initial: Sequence[Any], population_size: int, sample_size: int, children: int,
                 seed: int) -> None:
        super().__init__(seed)
        if not 1 <= sample_size <= population_size:
            raise ValueError(f"sample_size must be in [1, population_size={population_size}], got {sample_size}")
        self.pending = list(initial)  # initial genomes not yet scored
        self.population_size, self.sample_size, self.children = population_size, sample_size, children
        self.population: deque[tuple[Any, float]] = deque()

    def _child(self) -> Any:
        picks = self.rng.choice(len(self.population), size=self.sample_size, replace=False)
        parent = max((self.population[int(i)] for i in picks), key=lambda item: item[1])[0]
        return parent.mutate(self.rng)

    def step(self, evaluate: Evaluate) -> None:
        """Score the initial population first (in batches of ``children``), then ``children`` offspring."""
        if self.pending:
            genomes, self.pending = self.pending[:self.children], self.pending[self.children:]
        elif not self.population:
            raise RuntimeError("every genome of the initial population failed; nothing to evolve from")
        else:
            genomes = [self._child() for _ in range(self.children)]
        for member in self._score(genomes, evaluate):
            self.population.append(member)
            if len(self.population) > self.population_size and not self.pending:
                self.population.popleft()  # aging: the oldest leaves, however fit

    def metrics(self) -> dict[str, float]:
        fitness = [f for _, f in self.population]
        return {"population": float(len(fitness)), "population_best": max(fitness, default=float("nan")),
                "population_mean": float(np.mean(fitness)) if fitness else float("nan")}
