"""The building blocks of POET (Wang et al. 2019, arXiv 1901.01753) and Enhanced POET (arXiv 2003.08536).

* :func:`novelty`: mean Euclidean distance from an environment's encoding to its k (5) nearest neighbours among
  every environment ever admitted (active or retired) -- the original POET's hand-designed novelty;
* :func:`pata_ec`: Enhanced POET's performance-of-all-transferred-agents characterisation;
* :func:`passes_mc`: the minimal criterion on a score, ``low <= score <= high``;
* :func:`step_together`: one ES step of many searchers whose populations are evaluated in *one* call;
* :class:`Proposal`: one ES step from a given center, the searcher left untouched (transfers, admissions);
* :class:`ANNECS`: Enhanced POET's count of environments that passed the MC against all agents so far when they
  were created and were later solved.

The loop that uses them is :mod:`evoforge.search.poet`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from evoforge.search.es import ESSearcher
from evoforge.search.evaluation import Evaluation

NOVELTY_K = 5


def novelty(encoding: np.ndarray, archive: Sequence[np.ndarray], k: int = NOVELTY_K) -> float:
    """Mean distance to the ``k`` nearest encodings in ``archive`` (all of them when fewer than k); 0 if empty."""
    if len(archive) == 0:
        return 0.0
    distances = np.sort(np.linalg.norm(np.asarray(archive, dtype=np.float64) - np.asarray(encoding), axis=1))
    return float(distances[:k].mean())


def pata_ec(scores: np.ndarray, low: float, high: float) -> np.ndarray:
    """Enhanced POET's performance-of-all-transferred-agents environment characterisation: each row (one
    environment's scores of the same agents) clipped to the MC bounds [low, high], then centred ranks in
    [-0.5, 0.5] (ties by order); one agent gives 0."""
    scores = np.clip(np.atleast_2d(np.asarray(scores, dtype=np.float64)), low, high)
    agents = scores.shape[1]
    if agents < 2:
        return np.zeros_like(scores)
    ranks = np.argsort(np.argsort(scores, axis=1, kind="stable"), axis=1, kind="stable")
    return ranks / (agents - 1) - 0.5


def passes_mc(score: float, low: float, high: float) -> bool:
    """The minimal criterion: neither too easy nor too hard for the agent that scored ``score``."""
    return low <= score <= high


def step_together(searchers: Sequence[Any], evaluate: Callable[[list[Any]], list[Evaluation]]) -> None:
    """One ``step`` of every searcher, with all their populations evaluated by a single ``evaluate`` call.

    Each searcher's step runs in its own thread until it asks for its population's evaluation; when all have
    asked, the populations are concatenated, evaluated once, split back, and the steps finish. A searcher draws
    its population from its own generator, so the result does not depend on thread scheduling (tested equal to
    stepping the searchers one after the other).

    Whatever stops the caller's thread -- ``evaluate`` raising (too many failed evaluations), or a signal
    handler raising while it waits (an interrupted run) -- the barrier is broken on the way out, so no worker
    thread stays blocked on it; the caller's exception propagates.
    """
    count = len(searchers)
    if count == 0:
        return
    populations: list[Any] = [None] * count
    results: list[list[Evaluation] | None] = [None] * count
    asked = threading.Barrier(count + 1)
    answered = threading.Event()
    errors: list[BaseException] = []

    def run(i: int) -> None:
        def ask(population):
            populations[i] = population
            asked.wait()
            answered.wait()
            if results[i] is None:
                raise RuntimeError("the shared evaluation failed")
            return results[i]

        try:
            searchers[i].step(ask)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)
            asked.abort()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    try:
        asked.wait()
        sizes = [len(p) for p in populations]
        merged = [genome for population in populations for genome in population]
        evaluations = evaluate(merged)
        offsets = np.cumsum([0, *sizes])
        for i in range(count):
            results[i] = evaluations[offsets[i]:offsets[i + 1]]
    except threading.BrokenBarrierError:
        pass  # a searcher failed before asking: its error is raised below
    except BaseException:
        asked.abort()  # whatever stopped this thread, release the searchers' threads still waiting
        raise
    finally:
        answered.set()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]


class Proposal:
    """One ES step proposed from ``start`` (default: the searcher's center) with ``searcher``'s sigma and
    optimiser moments -- or, ``fresh``, from a fresh state (initial sigma, plain SGD) -- with its own noise when
    ``noise_seed`` is given, the searcher left untouched (:meth:`ESSearcher.proposal`); a ``step``-able object,
    so that many proposals share one evaluation through :func:`step_together`. The result is :attr:`center`."""

    def __init__(self, searcher: ESSearcher, start: torch.Tensor | None = None, fresh: bool = False,
                 noise_seed: int | None = None) -> None:
        self.searcher, self.start, self.fresh, self.noise_seed = searcher, start, fresh, noise_seed
        self.center: torch.Tensor | None = None

    def step(self, population_evaluator: Callable[[torch.Tensor], list[Evaluation]]) -> None:
        """Compute :attr:`center`: one ES step from ``start``, its population scored by ``population_evaluator``."""
        self.center = self.searcher.proposal(population_evaluator, self.start, self.fresh, self.noise_seed)


@dataclass
class ANNECS:
    """Accumulated Number of Novel Environments Created and Solved (Enhanced POET).

    ``created(env_id, passed_mc_against_all)`` records each admitted environment and whether, at creation, it
    passed the MC against every agent produced so far (active and archived); ``scored(env_id, score)`` records
    scores reached on it. The count is the number of recorded environments that passed and were solved
    (a score of ``solved_threshold`` or more).
    """

    solved_threshold: float
    candidates: set[str] = field(default_factory=set)
    solved: set[str] = field(default_factory=set)

    def created(self, env_id: str, passed_mc_against_all: bool) -> None:
        """Record an admitted environment; it counts once solved if it passed the MC against every agent so far."""
        if passed_mc_against_all:
            self.candidates.add(env_id)

    def scored(self, env_id: str, score: float) -> None:
        """Record a score reached on ``env_id``; at ``solved_threshold`` or more the environment is solved."""
        if score >= self.solved_threshold:
            self.solved.add(env_id)

    @property
    def value(self) -> int:
        """The count: recorded environments that passed the MC against all agents at creation and were solved."""
        return len(self.candidates & self.solved)
