"""Searchers over structured genomes (anything with ``mutate(rng)``): random sampling and regularized evolution.

* :class:`RandomSampling` -- every step scores ``batch`` fresh genomes from ``sample(rng)``; the run keeps the
  best. With an untrained score as fitness this is Mellor et al.'s NASWOT search (Algorithm 1: score N random
  architectures, keep the best).
* :class:`RegularizedEvolution` -- Real et al. 2019 (aging evolution, arXiv 1802.01548): a population of
  ``population_size`` scored genomes; each child comes from a tournament (``sample_size`` members drawn
  uniformly, the fittest mutated); children join the population and the *oldest* members leave. The initial
  population is given (random genomes for REA; Mellor et al.'s AREA passes the best-scoring of a larger
  untrained sample). With ``objectives`` (metric names), the tournament winner is drawn uniformly from the
  Pareto front of the sample over those metrics (Liu et al. 2020's multi-architecture selection). An
  evaluation whose metrics carry ``rejected`` > 0 is recorded but never joins the population (their
  quality and stability rejection).

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
    record: tuple[str, ...] = ()  # metric names kept in ``judged`` for every evaluation, rejected or not

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.history: list[tuple[Any, float]] = []  # every scored (not rejected) genome, in order
        self.rejected = 0
        self.judged: list[dict[str, float]] = []  # the ``record`` metrics of every evaluation, in order

    @property
    def center(self) -> None:
        return None  # no distribution center to re-score: the run keeps the best sampled genome

    @property
    def best(self) -> tuple[Any, float] | None:
        return max(self.history, key=lambda item: item[1], default=None)

    def _score(self, genomes: list[Any], evaluate: Evaluate) -> list[tuple[Any, float, tuple[float, ...]]]:
        """(genome, fitness, objective values) of every evaluation that neither failed nor was rejected."""
        scored = []
        for genome, evaluation in zip(genomes, evaluate(genomes)):
            if self.record and not evaluation.failed:
                self.judged.append({name: float(evaluation.metrics.get(name, float("nan"))) for name in self.record})
            if evaluation.failed:
                continue
            if evaluation.metrics.get("rejected", 0) > 0:
                self.rejected += 1
                continue
            objectives = tuple(evaluation.metrics[name] for name in getattr(self, "objectives", ()))
            scored.append((genome, evaluation.fitness, objectives or (evaluation.fitness,)))
        self.history.extend((genome, fitness) for genome, fitness, _ in scored)
        return scored

    def state_bytes(self) -> bytes:
        return pickle.dumps({key: value for key, value in self.__dict__.items() if key != "sample"})

    def load_state_bytes(self, data: bytes) -> None:
        self.__dict__.update(pickle.loads(data))


class RandomSampling(_StructuredSearcher):
    """Every step scores ``batch`` fresh genomes drawn by ``sample(rng)``; the run keeps the best (NASWOT's
    Algorithm 1 when the fitness is an untrained score).
    """

    def __init__(self, sample: Callable[[np.random.Generator], Any], batch: int, seed: int) -> None:
        super().__init__(seed)
        self.sample, self.batch = sample, batch

    def step(self, evaluate: Evaluate) -> None:
        """Draw ``batch`` genomes and score them with one call of ``evaluate``."""
        self._score([self.sample(self.rng) for _ in range(self.batch)], evaluate)

    def metrics(self) -> dict[str, float]:
        """Genomes scored so far (``sampled``) and the best score among them."""
        best = self.best
        return {"sampled": float(len(self.history)), "best_score": best[1] if best else float("nan")}


class RegularizedEvolution(_StructuredSearcher):
    """Regularized (aging) evolution, Real et al. 2019 (arXiv 1802.01548), with optional Pareto tournaments over
    ``objectives`` (Liu et al. 2020); see the module docstring.

    Args:
        initial: the initial population, scored ``children`` at a time before any child is made.
        population_size: members kept; the oldest leaves when a child joins a full population.
        sample_size: tournament size.
        children: genomes proposed per step.
        seed: seed of the searcher's own numpy generator.
        objectives: metric names; if given, the tournament winner is a random member of the sample's Pareto front.
        mutate_kwargs: keyword arguments passed to every ``mutate`` call.
        sample: draws fresh genomes while every genome so far was rejected.
        record: metric names kept for every evaluation, rejected or not, in ``judged`` (e.g. a zero-cost score
            beside the outcome, to measure what screening on it would save and lose).
    """

    def __init__(self, initial: Sequence[Any], population_size: int, sample_size: int, children: int,
                 seed: int, objectives: Sequence[str] = (), mutate_kwargs: dict[str, Any] | None = None,
                 sample: Callable[[np.random.Generator], Any] | None = None, record: Sequence[str] = ()) -> None:
        super().__init__(seed)
        self.record = tuple(record)
        self.sample = sample  # draws fresh genomes while no genome has been accepted yet
        self.objectives = tuple(objectives)
        self.mutate_kwargs = dict(mutate_kwargs or {})  # e.g. a layer search's allow_batch=False
        if not 1 <= sample_size <= population_size:
            raise ValueError(f"sample_size must be in [1, population_size={population_size}], got {sample_size}")
        self.pending = list(initial)  # initial genomes not yet scored
        self.population_size, self.sample_size, self.children = population_size, sample_size, children
        self.population: deque[tuple[Any, float, tuple[float, ...]]] = deque()

    def _child(self) -> Any:
        picks = self.rng.choice(len(self.population), size=min(self.sample_size, len(self.population)),
                                replace=False)
        sample = [self.population[int(i)] for i in picks]
        if self.objectives:
            front = pareto_front([scores for _, _, scores in sample])
            parent = sample[front[int(self.rng.integers(len(front)))]][0]
        else:
            parent = max(sample, key=lambda item: item[1])[0]
        return parent.mutate(self.rng, **self.mutate_kwargs)

    def step(self, evaluate: Evaluate) -> None:
        """Score the initial population first (in batches of ``children``), then ``children`` offspring."""
        if self.pending:
            genomes, self.pending = self.pending[:self.children], self.pending[self.children:]
        elif not self.population and self.sample is not None:
            genomes = [self.sample(self.rng) for _ in range(self.children)]  # every one so far was rejected
        elif not self.population:
            raise RuntimeError("every genome of the initial population failed; nothing to evolve from")
        else:
            genomes = [self._child() for _ in range(self.children)]
        for member in self._score(genomes, evaluate):
            self.population.append(member)
            if len(self.population) > self.population_size:
                self.population.popleft()  # aging: the oldest leaves, however fit

    def metrics(self) -> dict[str, float]:
        """The population's size, best and mean fitness, and the candidates rejected so far."""
        fitness = [f for _, f, _ in self.population]
        return {"population": float(len(fitness)), "population_best": max(fitness, default=float("nan")),
                "population_mean": float(np.mean(fitness)) if fitness else float("nan"),
                "rejected_total": float(self.rejected)}


def pareto_front(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the points no other point dominates (>= in every objective and > in one; maximisation)."""
    front = []
    for i, p in enumerate(points):
        dominated = any(all(q_k >= p_k for q_k, p_k in zip(q, p)) and any(q_k > p_k for q_k, p_k in zip(q, p))
                        for j, q in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return front


def best_distinct(history: Sequence[tuple[Any, float]], top: int) -> list[tuple[Any, float]]:
    """The ``top`` distinct genomes of a searcher's history by their best fitness, best first."""
    best: dict[Any, float] = {}
    for genome, fitness in history:
        best[genome] = max(fitness, best.get(genome, -np.inf))
    return sorted(best.items(), key=lambda item: -item[1])[:top]
