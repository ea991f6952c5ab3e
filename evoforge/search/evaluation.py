"""What an evaluation returns, and the contract of the code that produces it.

An :class:`Evaluator` lives inside a worker: ``setup()`` runs once (build environments, load data), then
``evaluate(genomes, seeds)`` scores a whole *batch*, which is where vectorisation happens. The pool wraps every
call in :func:`evaluate_safely`, so an exception or a NaN in one genome marks that genome failed instead of
taking the search down.
"""

from __future__ import annotations

import math
import traceback
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class Evaluation:
    """The outcome of evaluating one genome.

    Attributes:
        fitness: the scalar the searcher maximises.
        metrics: extra numbers to log (episode length, env steps, ...), summed or averaged by the run.
        failed: True when the evaluation raised or produced a non-finite fitness.
        error: one line saying why it failed.
        extras: data for the experiment rather than the log (e.g. observation statistics an experiment
            merges into the next generation's evaluation context); not written to metrics.jsonl.
    """

    fitness: float
    metrics: dict[str, float] = field(default_factory=dict)
    failed: bool = False
    error: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def failure(cls, error: str) -> "Evaluation":
        """A failed evaluation: NaN fitness, ``failed`` set, ``error`` saying why in one line."""
        return cls(fitness=float("nan"), failed=True, error=error)


class Evaluator(ABC):
    """Scores batches of genomes inside one worker.

    Subclasses are constructed in the worker by a picklable factory (usually the class itself plus its
    config), so the constructor should only store settings; expensive work belongs in :meth:`setup`.

    Every call receives one seed per genome from the run. An evaluator whose score is deterministic by design
    (a POET terrain seeds its own episode; a cell's proxies depend only on the cell) says so with
    ``deterministic = True`` and ignores them, instead of being fed dummy seeds.
    """

    deterministic: ClassVar[bool] = False

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Build environments, load data, compile kernels. Called once per worker before any evaluation."""

    def set_context(self, context: Any) -> None:  # noqa: B027 - optional hook
        """Receive the run's evaluation context (e.g. an observation normaliser) before a chunk is evaluated;
        it comes with every chunk, so a restarted worker has it too. Default: no context is used."""

    @abstractmethod
    def evaluate(self, genomes: Sequence[Any], seeds: Sequence[int]) -> list[Evaluation]:
        """Evaluate ``genomes[i]`` with seed ``seeds[i]`` and return one Evaluation per genome, in order.

        ``genomes`` is a 2-D tensor (one row per genome) for vector genomes or a list for structured ones.
        The result must depend only on the genome and its seed, never on the batch it arrived in.
        """


def _one_line(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno}" if last else ""
    return f"{type(exc).__name__}: {exc}{where}".replace("\n", " ")


def _check_finite(evaluation: Evaluation) -> Evaluation:
    if not evaluation.failed and not math.isfinite(evaluation.fitness):
        return Evaluation.failure(f"non-finite fitness {evaluation.fitness}")
    return evaluation


def evaluate_safely(evaluator: Evaluator, genomes: Sequence[Any], seeds: Sequence[int]) -> list[Evaluation]:
    """Evaluate a batch; isolate failures to the genomes that caused them.

    The batch is tried whole first (fast path). If it raises, each genome is retried alone so that one bad
    genome does not fail its neighbours; a genome that still raises becomes a failed Evaluation carrying the
    error. Non-finite fitness values are marked failed as well.
    """
    try:
        results = evaluator.evaluate(genomes, seeds)
        if len(results) != len(seeds):
            raise RuntimeError(f"evaluator returned {len(results)} evaluations for {len(seeds)} genomes")
        return [_check_finite(r) for r in results]
    except Exception as exc:  # noqa: BLE001 - isolated below, recorded as a failed evaluation
        if len(seeds) == 1:
            return [Evaluation.failure(_one_line(exc))]
    return [evaluate_safely(evaluator, genomes[i : i + 1], seeds[i : i + 1])[0] for i in range(len(seeds))]
