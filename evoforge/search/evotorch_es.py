"""evotorch's searchers (PGPE, CMAES, SNES, XNES, CEM) on our pool, through evotorch's public API.

Kept apart from :mod:`evoforge.search.es` so that evotorch, and the cma, scipy, wandb and mlflow it imports, load
only in runs that use one of its searchers: every other run (OpenAI-ES is evoforge's own) starts about 5 s
sooner.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

import torch
from evotorch import Problem, SolutionBatch
from evotorch.algorithms import CEM, CMAES, PGPE, SNES, XNES

from evoforge.search.es import ESSettings, PopulationEvaluator, fitness_for_ranking

# evotorch logs every Problem construction at INFO; keep the console for our progress bar.
logging.getLogger("evotorch").setLevel(logging.WARNING)

# The evaluator of the step running in this thread (POET steps many searchers in threads at once). Kept out of
# the Problem so that a pickled searcher never holds the pool or its actors.
_CURRENT_EVALUATOR: contextvars.ContextVar[PopulationEvaluator | None] = contextvars.ContextVar(
    "evoforge_population_evaluator", default=None)


class PoolProblem(Problem):
    """An evotorch Problem whose batch evaluation goes to the evaluator of the current :meth:`ESSearcher.step`.

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
        evaluate = _CURRENT_EVALUATOR.get()
        if evaluate is None:
            raise RuntimeError("PoolProblem.evaluate called outside ESSearcher.step")
        batch.set_evals(fitness_for_ranking(evaluate(batch.values.detach().clone())))


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




def evotorch_step(algorithm: Any, population_evaluator: PopulationEvaluator) -> None:
    """One ``algorithm.step()`` whose batch evaluations go to ``population_evaluator``."""
    token = _CURRENT_EVALUATOR.set(population_evaluator)
    try:
        algorithm.step()
    finally:
        _CURRENT_EVALUATOR.reset(token)
