"""Evolution strategies through evotorch, with evaluation handed to our pool.

evotorch's searchers sample a population and call ``problem.evaluate(batch)``; :class:`PoolProblem` forwards
that batch to whatever evaluation function the run installs for the current generation (our
:class:`~evoforge.search.pool.EvaluatorPool` with seeds for that generation). evotorch's own ``num_actors`` is
left unset: all parallelism is ours.

Algorithms (all evotorch classes):

* ``openai_es`` -- OpenAI-ES (Salimans et al. 2017, arXiv 1703.03864) as evotorch's PGPE with mirrored
  sampling, centred-rank fitness shaping, Adam on the centre, a fixed sigma (``stdev_learning_rate = 0``) that
  may decay geometrically, and L2 weight decay on the centre, ``g_mu <- g_mu - weight_decay * mu`` with g_mu in
  the paper's units (see :class:`_DecayingPGPE`).
* ``pgpe`` -- PGPE (Sehnke et al. 2010) with an adapted per-parameter sigma; Adam or ClipUp.
* ``cmaes``, ``snes``, ``xnes``, ``cem`` -- evotorch's CMAES, SNES, XNES and CEM with their defaults.
"""

from __future__ import annotations

import copy
import logging
import pickle
import warnings
from collections.abc import Callable
from typing import Any, Literal

import torch
from evotorch import Problem, SolutionBatch
from evotorch.algorithms import CEM, CMAES, PGPE, SNES, XNES
from evotorch.algorithms.distributed.gaussian import GaussianSearchAlgorithm
from pydantic import BaseModel, ConfigDict, Field, model_validator

from evoforge.search.evaluation import Evaluation

# evotorch logs every Problem construction at INFO; keep the console for our progress bar.
logging.getLogger("evotorch").setLevel(logging.WARNING)

# Evaluates a (genome_count, solution_length) tensor, one Evaluation per row, in order.
PopulationEvaluator = Callable[[torch.Tensor], list[Evaluation]]


def fitness_for_ranking(evaluations: list[Evaluation]) -> torch.Tensor:
    """Fitness values for the searcher: a failed genome ranks below every genome that was scored.

    All evotorch searchers used here rank by fitness, so "one below the worst" removes failed genomes from
    the update's top without distorting the others.
    """
    valid = [e.fitness for e in evaluations if not e.failed]
    floor = (min(valid) - 1.0) if valid else 0.0
    return torch.tensor([floor if e.failed else e.fitness for e in evaluations], dtype=torch.float32)


class ESSettings(BaseModel):
    """The ``search`` section of an ES config."""

    model_config = ConfigDict(extra="forbid")

    algorithm: Literal["openai_es", "pgpe", "cmaes", "snes", "xnes", "cem"] = "openai_es"
    popsize: int = Field(64, ge=2, description="genomes per generation (even for mirrored sampling)")
    generations: int = Field(100, ge=1)
    sigma: float = Field(0.1, gt=0, description="initial standard deviation of the search distribution")
    sigma_decay: float = Field(1.0, gt=0, le=1, description="openai_es: sigma *= decay after every update")
    sigma_min: float = Field(0.0, ge=0, description="floor for a decaying or adapted sigma")
    learning_rate: float = Field(0.01, gt=0, description="step size of the centre (Adam for openai_es)")
    stdev_learning_rate: float = Field(0.1, ge=0, description="pgpe / snes / xnes: sigma learning rate")
    weight_decay: float = Field(0.0, ge=0, description="openai_es / pgpe: L2 coefficient on the centre")
    optimizer: Literal["adam", "clipup", "sgd"] = "adam"
    parenthood_ratio: float = Field(0.25, gt=0, le=1, description="cem: share of the population kept as elite")

    @model_validator(mode="after")
    def _mirrored_needs_even(self) -> "ESSettings":
        if self.algorithm in ("openai_es", "pgpe") and self.popsize % 2:
            raise ValueError(f"popsize must be even for mirrored sampling ({self.algorithm}), got {self.popsize}")
        return self


class PoolProblem(Problem):
    """An evotorch Problem whose batch evaluation is delegated to :attr:`population_evaluator`.

    The evaluator function is set by :class:`ESSearcher` for one generation at a time and is never pickled,
    so the problem (and the searcher holding it) checkpoints without the pool or its actors.
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
        self.population_evaluator: PopulationEvaluator | None = None

    @property
    def _nonserialized_attribs(self) -> list[str]:
        return ["population_evaluator"]

    def _evaluate_batch(self, batch: SolutionBatch) -> None:
        if self.population_evaluator is None:
            raise RuntimeError("PoolProblem.evaluate called outside ESSearcher.step")
        evaluations = self.population_evaluator(batch.values.detach().clone())
        batch.set_evals(fitness_for_ranking(evaluations))


class _DecayingPGPE(PGPE):
    """PGPE with a fixed, geometrically decaying sigma and L2 weight decay on the centre (OpenAI-ES).

    With ``reference_gradient`` the centre's gradient is put in the units of Salimans et al. 2017 (and the POET
    code): ``g = sum_k (F+_k - F-_k) z_k / (n sigma)`` over n mirrored directions with unit noise z_k. evotorch
    estimates ``sum_k (F+_k - F-_k)/2 * sigma z_k / n``, which is ``sigma^2 / 2`` times that; the optimiser does
    not care (Adam is scale-free), but the L2 term ``- weight_decay * mu`` is added in the reference's units,
    where it is small next to the gradient -- in evotorch's units (sigma 0.1) it would weigh 200 times more.
    """

    def __init__(self, problem: Problem, *, weight_decay: float, sigma_decay: float, sigma_min: float,
                 reference_gradient: bool = False, **kwargs: Any):
        super().__init__(problem, **kwargs)
        self._weight_decay = weight_decay
        self._sigma_decay = sigma_decay
        self._sigma_floor = sigma_min
        self._reference_gradient = reference_gradient

    def _update_distribution(self, gradients: dict) -> None:
        if self._reference_gradient:
            gradients = dict(gradients, mu=gradients["mu"] * 2.0 / self._distribution.sigma**2)
        if self._weight_decay:
            # Salimans et al. 2017: L2 penalty on the parameters; ascent direction of -wd/2 * ||mu||^2.
            gradients = dict(gradients, mu=gradients["mu"] - self._weight_decay * self._distribution.mu)
        super()._update_distribution(gradients)
        if self._sigma_decay < 1.0:
            sigma = torch.clamp(self._distribution.sigma * self._sigma_decay, min=self._sigma_floor)
            self._distribution = self._distribution.modified_copy(sigma=sigma)


def build_algorithm(settings: ESSettings, problem: Problem, center_init: torch.Tensor) -> Any:
    """Construct the evotorch searcher named by ``settings.algorithm``."""
    common = dict(popsize=settings.popsize, center_init=center_init)
    stdev_min = settings.sigma_min or None
    if settings.algorithm == "openai_es":
        return _DecayingPGPE(
            problem,
            center_learning_rate=settings.learning_rate,
            stdev_learning_rate=0.0,
            stdev_init=settings.sigma,
            optimizer=settings.optimizer,
            ranking_method="centered",
            symmetric=True,
            stdev_max_change=None,
            weight_decay=settings.weight_decay,
            sigma_decay=settings.sigma_decay,
            sigma_min=settings.sigma_min,
            reference_gradient=True,
            **common,
        )
    if settings.algorithm == "pgpe":
        return _DecayingPGPE(
            problem,
            center_learning_rate=settings.learning_rate,
            stdev_learning_rate=settings.stdev_learning_rate,
            stdev_init=settings.sigma,
            optimizer=settings.optimizer,
            ranking_method="centered",
            symmetric=True,
            stdev_min=stdev_min,
            weight_decay=settings.weight_decay,
            sigma_decay=1.0,
            sigma_min=0.0,
            **common,
        )
    if settings.algorithm == "cmaes":
        return CMAES(problem, stdev_init=settings.sigma, stdev_min=stdev_min, **common)
    if settings.algorithm == "snes":
        return SNES(problem, stdev_init=settings.sigma, stdev_min=stdev_min, **common)
    if settings.algorithm == "xnes":
        return XNES(problem, stdev_init=settings.sigma, **common)
    if settings.algorithm == "cem":
        return CEM(
            problem, stdev_init=settings.sigma, parenthood_ratio=settings.parenthood_ratio, stdev_min=stdev_min, **common
        )
    raise ValueError(f"unknown ES algorithm {settings.algorithm!r}")


class ESSearcher:
    """ES over vector genomes: one :meth:`step` is one generation of the evotorch searcher.

    The whole searcher (distribution, optimiser state, the problem's torch generator) pickles through
    :meth:`state_bytes`, which is what a checkpoint stores.
    """

    def __init__(self, settings: ESSettings, center_init: torch.Tensor, seed: int) -> None:
        self.settings = settings
        self.problem = PoolProblem(int(center_init.numel()), seed=seed)
        with warnings.catch_warnings():
            # evotorch copy-constructs tensors from tensors internally; nothing for users to act on.
            warnings.filterwarnings("ignore", message="To copy construct from a tensor", category=UserWarning)
            self.algorithm = build_algorithm(settings, self.problem, center_init.to(torch.float32))

    def step(self, population_evaluator: PopulationEvaluator) -> None:
        """Sample a population, evaluate it through ``population_evaluator``, update the distribution."""
        self.problem.population_evaluator = population_evaluator
        try:
            self.algorithm.step()
        finally:
            self.problem.population_evaluator = None

    def proposal(self, population_evaluator: PopulationEvaluator, center: torch.Tensor | None = None) -> torch.Tensor:
        """The centre after one ES step taken from ``center`` (default: this searcher's) with this searcher's
        sigma and optimiser moments, leaving this searcher untouched: sample, evaluate, follow the gradient.

        evotorch's Gaussian searchers update at the *start* of a step, from the previous step's population (so
        :meth:`step` on a copy would first follow the gradient of the copy's last population). POET's fine-tuned
        transfers and admission proposals need one step on a *new* task, so the copy forgets that population,
        samples and evaluates, and then applies the update itself, as evotorch's own step does.
        """
        if not isinstance(self.algorithm, GaussianSearchAlgorithm):
            raise ValueError(f"proposals need a Gaussian searcher (openai_es, pgpe, snes, xnes, cem), "
                             f"not {self.settings.algorithm}")
        trial = copy.deepcopy(self)
        algorithm = trial.algorithm
        if center is not None:
            mu = algorithm._distribution.mu
            algorithm._distribution = algorithm._distribution.modified_copy(mu=center.to(mu.dtype).clone())
        algorithm._first_iter = True  # sample and evaluate only; the update follows below
        trial.step(population_evaluator)
        population = algorithm._population
        objective = algorithm._obj_index
        gradients = algorithm._distribution.compute_gradients(
            population.access_values(keep_evals=True), population.access_evals()[:, objective],
            objective_sense=algorithm.problem.senses[objective], ranking_method=algorithm._ranking_method)
        algorithm._update_distribution(gradients)
        return algorithm._distribution.mu.detach().clone()

    @property
    def center(self) -> torch.Tensor:
        """A copy of the search distribution's centre (the genome the run re-scores and keeps as the solution)."""
        return self.algorithm.status["center"].detach().clone()

    @property
    def sigma_mean(self) -> float:
        """Mean of the distribution's per-parameter standard deviations (or its step size, if it reports one)."""
        status = self.algorithm.status
        sigma = status["stdev"] if "stdev" in status else status["stepsize"]
        return float(torch.as_tensor(sigma).float().mean())

    def metrics(self) -> dict[str, float]:
        """Numbers logged every generation: ``sigma_mean``."""
        return {"sigma_mean": self.sigma_mean}

    def state_bytes(self) -> bytes:
        """The whole evotorch searcher pickled: distribution, optimiser state and its torch generator."""
        return pickle.dumps(self.algorithm, protocol=pickle.HIGHEST_PROTOCOL)

    def load_state_bytes(self, data: bytes) -> None:
        """Restore the searcher pickled by :meth:`state_bytes`."""
        self.algorithm = pickle.loads(data)
        self.problem = self.algorithm.problem
