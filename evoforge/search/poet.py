"""Building blocks of POET (Wang et al. 2019, arXiv 1901.01753) and Enhanced POET (arXiv 2003.08536).

Work in progress (issue 5): the pieces below are complete and tested; the outer loop that uses them (pairs,
reproduction, transfer, archive, checkpointing) comes next.

* :func:`novelty`: mean Euclidean distance from an environment's encoding to its k (5) nearest neighbours among
  every environment ever admitted (active or retired) -- the original POET's hand-designed novelty;
* :func:`passes_mc`: the minimal criterion on a score, [25, 340] in the reference code ([50, 300] in the paper);
* :func:`step_together`: one ES step of many searchers whose populations are evaluated in *one* call, so the
  pool sees all pairs' rollouts as one batch (POET runs one ES step per active pair per iteration);
* :class:`ANNECS`: Enhanced POET's count of environments that passed the MC against all agents so far when they
  were created and were later solved (score >= 230).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evoforge.search.evaluation import Evaluation

MC_LOW, MC_HIGH = 25.0, 340.0  # reference code (the paper: 50, 300)
SOLVED = 230.0
NOVELTY_K = 5


def novelty(encoding: np.ndarray, archive: Sequence[np.ndarray], k: int = NOVELTY_K) -> float:
    """Mean distance to the ``k`` nearest encodings in ``archive`` (all of them when fewer than k); 0 if empty."""
    if len(archive) == 0:
        return 0.0
    distances = np.sort(np.linalg.norm(np.asarray(archive, dtype=np.float64) - np.asarray(encoding), axis=1))
    return float(distances[:k].mean())


def passes_mc(score: float, low: float = MC_LOW, high: float = MC_HIGH) -> bool:
    """The minimal criterion: neither too easy nor too hard for the agent that scored ``score``."""
    return low <= score <= high


def step_together(searchers: Sequence[Any], evaluate: Callable[[list[Any]], list[Evaluation]]) -> None:
    """One ``step`` of every searcher, with all their populations evaluated by a single ``evaluate`` call.

    Each searcher's step runs in its own thread until it asks for its population's evaluation; when all have
    asked, the populations are concatenated, evaluated once, split back, and the steps finish. A searcher draws
    its population from its own generator, so the result does not depend on thread scheduling (tested equal to
    stepping the searchers one after the other).
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
        pass
    finally:
        answered.set()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]


@dataclass
class ANNECS:
    """Accumulated Number of Novel Environments Created and Solved (Enhanced POET).

    ``created(env_id, passed_mc_against_all)`` records each admitted environment and whether, at creation, it
    passed the MC against every agent produced so far (active and archived); ``scored(env_id, score)`` records
    scores reached on it. The count is the number of recorded environments that passed and were solved.
    """

    solved_threshold: float = SOLVED
    candidates: set[str] = field(default_factory=set)
    solved: set[str] = field(default_factory=set)

    def created(self, env_id: str, passed_mc_against_all: bool) -> None:
        if passed_mc_against_all:
            self.candidates.add(env_id)

    def scored(self, env_id: str, score: float) -> None:
        if score >= self.solved_threshold:
            self.solved.add(env_id)

    @property
    def value(self) -> int:
        return len(self.candidates & self.solved)
