"""evotorch's searchers (PGPE, CMAES, SNES, XNES, CEM) on our pool, through evotorch's public API.

Kept apart from :mod:`evoforge.search.es` so that evotorch, and the cma, scipy, wandb and mlflow it imports, load
only in runs that use one of its searchers: every other run (OpenAI-ES is evoforge's own) starts about 5 s
sooner.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from evotorch import Problem, SolutionBatch
from evotorch.algorithms import CEM, CMAES, PGPE, SNES, XNES

if TYPE_CHECKING:
    from evoforge.search.es import ESSettings

# evotorch logs every Problem construction at INFO; keep the console for our progress bar.
logging.getLogger("evotorch").setLevel(logging.WARNING)

# A (genome_count, solution_length) tensor -> its fitness tensor, higher is better (what evotorch maximises).
FitnessFunction = Callable[[torch.Tensor], torch.Tensor]

# The fitness function of the step running in this thread (POET steps many searchers in threads at once). Kept
# out of the Problem so that a pickled searcher never holds the pool or its actors.
_CURRENT_FITNESS: contextvars.ContextVar[FitnessFunction | None] = contextvars.ContextVar(
    "evoforge_fitness_function", default=None)


class PoolProblem(Problem):
    """An evotorch Problem whose batch evaluation goes to the fitness function of the current
    :func:`evotorch_step` (:meth:`~evoforge.search.es.ESSearcher.step`: the run's pool).

    It overrides only ``_evaluate_batch``, evotorch's documented hook for batch evaluation, and holds no
    reference to the evaluator, so it pickles without the pool.
    """

    def __init__(self, solution_length: int, seed: int) -> None:
        super().__init__(
            "max",
            solution_length=solution_length,
            initial_bounds=(-0.1, 0.1),
            dtype=torch.float32,
            device="cpu",
            seed=seed,
        )

    def _evaluate_batch(self, batch: SolutionBatch) -> None:
        fitness = _CURRENT_FITNESS.get()
        if fitness is None:
            raise RuntimeError("PoolProblem.evaluate called outside evotorch_step")
        batch.set_evals(fitness(batch.values.detach().clone()))


def build_algorithm(settings: ESSettings, problem: Problem, center_init: torch.Tensor,
                    stdev_init: float | torch.Tensor | None = None) -> Any:
    """Construct the evotorch searcher named by ``settings.algorithm`` (not openai_es, which is ours);
    ``stdev_init`` defaults to ``settings.sigma``."""
    common = {"popsize": settings.popsize, "center_init": center_init,
              "stdev_init": settings.sigma if stdev_init is None else stdev_init}
    stdev_min = settings.sigma_min or None
    if settings.algorithm == "pgpe":
        return PGPE(problem, center_learning_rate=settings.learning_rate,
                    stdev_learning_rate=settings.stdev_learning_rate, optimizer=settings.optimizer,
                    ranking_method="centered", symmetric=True, stdev_min=stdev_min, **common)
    if settings.algorithm == "cmaes":
        return CMAES(problem, stdev_min=stdev_min, **common)
    if settings.algorithm == "snes":
        return SNES(problem, stdev_min=stdev_min, **common)
    if settings.algorithm == "xnes":
        return XNES(problem, **common)
    if settings.algorithm == "cem":
        return CEM(problem, parenthood_ratio=settings.parenthood_ratio, stdev_min=stdev_min, **common)
    raise ValueError(f"no evotorch searcher for ES algorithm {settings.algorithm!r}")


def evotorch_step(algorithm: Any, fitness: FitnessFunction) -> None:
    """One ``algorithm.step()`` whose batch evaluations go to ``fitness``."""
    token = _CURRENT_FITNESS.set(fitness)
    try:
        algorithm.step()
    finally:
        _CURRENT_FITNESS.reset(token)
