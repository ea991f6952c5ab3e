"""Evolution strategies over vector genomes, with evaluation handed to our pool.

Algorithms:

* ``openai_es`` -- OpenAI-ES (Salimans et al. 2017, arXiv 1703.03864), evoforge's own
  (:mod:`evoforge.search.openai_es`): mirrored sampling, centred-rank fitness shaping, the gradient in the
  paper's units with L2 weight decay, Adam or SGD, geometric step-size and sigma schedules. One
  :meth:`ESSearcher.step` samples, evaluates and updates.
* ``pgpe`` -- PGPE (Sehnke et al. 2010) with an adapted per-parameter sigma; Adam, ClipUp or SGD (evotorch).
* ``cmaes``, ``snes``, ``xnes``, ``cem`` -- evotorch's CMAES, SNES, XNES and CEM with their defaults.

The evotorch searchers (:mod:`evoforge.search.evotorch_es`) are used through their public API only. They
sample a population and call ``problem.evaluate(batch)``; ``PoolProblem`` forwards that batch to the evaluation
function the run installs for the current step (our :class:`~evoforge.search.pool.EvaluatorPool` with seeds for
that generation). evotorch's own ``num_actors`` is left unset: all parallelism is ours. evotorch's Gaussian
searchers apply a step's update at the start of the next step, from the previous population. evotorch (and the
cma, scipy, wandb and mlflow it imports, about 5 s) is imported only by runs that use one of its searchers.

``weight_decay``, ``sigma_decay``, ``lr_decay``, ``lr_min`` and ``noise`` apply to ``openai_es`` only; settings
refuse them for the other algorithms.
"""

from __future__ import annotations

import copy
import pickle
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from evoforge.search.evaluation import Evaluation
from evoforge.search.genome import SeededPopulation
from evoforge.search.openai_es import OpenAIES, OpenAIESParams, OpenAIESState
from evoforge.search.settings import PoolSettings

# Evaluates a (genome_count, solution_length) tensor (or a SeededPopulation of such rows), one Evaluation per
# row, in order.
PopulationEvaluator = Callable[[torch.Tensor | SeededPopulation], list[Evaluation]]

# Options only openai_es implements, with their neutral values.
OPENAI_ES_ONLY = {"weight_decay": 0.0, "sigma_decay": 1.0, "lr_decay": 1.0, "lr_min": 0.0, "gradient": "pairs",
                  "noise": "seeded"}


def fitness_for_ranking(evaluations: list[Evaluation]) -> torch.Tensor:
    """Fitness values for the searcher: a failed genome ranks below every genome that was scored.

    All searchers used here rank by fitness, so "one below the worst" removes failed genomes from the update's
    top without distorting the others.
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
    learning_rate: float = Field(0.01, gt=0, description="step size of the center (openai_es, pgpe)")
    lr_decay: float = Field(1.0, gt=0, le=1, description="openai_es: learning_rate *= decay after every update")
    lr_min: float = Field(0.0, ge=0, description="openai_es: floor for the decaying learning_rate")
    stdev_learning_rate: float = Field(0.1, ge=0, description="pgpe / snes / xnes: sigma learning rate")
    weight_decay: float = Field(0.0, ge=0, description="openai_es: L2 coefficient on the center (paper's units)")
    optimizer: Literal["adam", "clipup", "sgd"] = "adam"
    gradient: Literal["pairs", "hebbian_reference"] = Field(
        "pairs", description="openai_es: the gradient estimate's convention; hebbian_reference = Najarro & Risi's "
        "code (standardised centred ranks, sum over the population / (popsize sigma))")
    parenthood_ratio: float = Field(0.25, gt=0, le=1, description="cem: share of the population kept as elite")
    noise: Literal["seeded", "matrix"] = Field(
        "seeded", description="openai_es: each mirrored pair's noise from its own seed (a genome can travel as "
        "its seed; pool.population_transfer) or all of it in one draw, as evoforge before 2026-12 (reproduces "
        "those runs; genomes then travel as vectors)")

    @model_validator(mode="after")
    def _consistent(self) -> ESSettings:
        if self.algorithm in ("openai_es", "pgpe") and self.popsize % 2:
            raise ValueError(f"popsize must be even for mirrored sampling ({self.algorithm}), got {self.popsize}")
        if self.algorithm == "openai_es" and self.optimizer == "clipup":
            raise ValueError("openai_es supports optimizer adam or sgd, not clipup (clipup is for pgpe)")
        if self.algorithm != "openai_es":
            used = [name for name, neutral in OPENAI_ES_ONLY.items() if getattr(self, name) != neutral]
            if used:
                raise ValueError(f"{', '.join(used)} only apply to openai_es; {self.algorithm} does not "
                                 f"support them (leave them at their defaults)")
        return self


def openai_es_params(settings: ESSettings) -> OpenAIESParams:
    """The :class:`~evoforge.search.openai_es.OpenAIES` hyperparameters of ``settings``."""
    return OpenAIESParams(popsize=settings.popsize, learning_rate=settings.learning_rate, sigma=settings.sigma,
                          optimizer=settings.optimizer, weight_decay=settings.weight_decay,
                          sigma_decay=settings.sigma_decay, sigma_min=settings.sigma_min,
                          lr_decay=settings.lr_decay, lr_min=settings.lr_min, gradient=settings.gradient,
                          noise=settings.noise)


def _checked(population_evaluator: PopulationEvaluator, population: torch.Tensor) -> list[Evaluation]:
    evaluations = population_evaluator(population)
    if len(evaluations) != len(population):
        raise ValueError(f"the evaluator returned {len(evaluations)} evaluations for {len(population)} genomes")
    return evaluations


def _ranked(population_evaluator: PopulationEvaluator) -> Callable[[torch.Tensor], torch.Tensor]:
    """``population_evaluator`` as evotorch's fitness function: genomes -> :func:`fitness_for_ranking`."""
    return lambda genomes: fitness_for_ranking(population_evaluator(genomes))


def _not_evaluated(genomes: torch.Tensor) -> list[Evaluation]:
    return [Evaluation(fitness=0.0) for _ in range(len(genomes))]


class ESSearcher:
    """ES over vector genomes: one :meth:`step` is one generation.

    :meth:`state_bytes` is the whole search state: for ``openai_es`` a pickled
    :class:`~evoforge.search.openai_es.OpenAIESState` (tensors and numbers, its noise generator included), for
    the others the pickled evotorch searcher (distribution, optimiser state, the problem's torch generator).

    ``seeded_population``: ``openai_es`` hands its population to the evaluator as a
    :class:`~evoforge.search.genome.SeededPopulation` (the pool then ships noise seeds, not vectors; the rows
    are the same). evotorch's searchers sample inside evotorch, so theirs are always tensors.
    """

    def __init__(self, settings: ESSettings, center_init: torch.Tensor, seed: int,
                 seeded_population: bool = False) -> None:
        self.settings = settings
        self.seeded_population = seeded_population
        center = center_init.detach().to(torch.float32).flatten()
        if settings.algorithm == "openai_es":
            self.es: OpenAIES | None = OpenAIES(openai_es_params(settings))
            self.state: OpenAIESState | None = self.es.init(center, seed)
            self.algorithm: Any = None
            return
        from evoforge.search.evotorch_es import PoolProblem, build_algorithm

        self.es = self.state = None
        problem = PoolProblem(int(center.numel()), seed=seed)
        with warnings.catch_warnings():
            # evotorch copy-constructs tensors from tensors internally; nothing for users to act on.
            warnings.filterwarnings("ignore", message="To copy construct from a tensor", category=UserWarning)
            self.algorithm = build_algorithm(settings, problem, center)

    @classmethod
    def for_run(cls, settings: ESSettings, center_init: torch.Tensor, seed: int, pool: PoolSettings
                ) -> ESSearcher:
        """The searcher of a run whose ``pool:`` section is ``pool`` (seeded populations when genomes travel as
        seeds, ``pool.population_transfer``)."""
        return cls(settings, center_init, seed, seeded_population=pool.population_transfer == "seeds")

    def _openai_es_step(self, state: OpenAIESState, population_evaluator: PopulationEvaluator) -> OpenAIESState:
        seeded = self.seeded_population and state.noise == "seeded"  # an older checkpoint's state: vectors
        population, noise, state = self.es.ask_seeded(state) if seeded else self.es.ask(state)
        return self.es.tell(state, noise, fitness_for_ranking(_checked(population_evaluator, population)))

    def step(self, population_evaluator: PopulationEvaluator) -> None:
        """Sample a population, evaluate it through ``population_evaluator``, update the distribution.

        ``openai_es`` updates from this step's population; evotorch's searchers from the previous one."""
        if self.state is not None:
            self.state = self._openai_es_step(self.state, population_evaluator)
        else:
            from evoforge.search.evotorch_es import evotorch_step

            evotorch_step(self.algorithm, _ranked(population_evaluator))

    def proposal(self, population_evaluator: PopulationEvaluator, center: torch.Tensor | None = None,
                 fresh: bool = False, noise_seed: int | None = None) -> torch.Tensor:
        """The center after one ES step taken from ``center`` (default: this searcher's), leaving this searcher
        untouched: sample, evaluate, follow the gradient. POET's fine-tuned transfers and admission proposals:
        one step on a *new* task.

        * default: with this searcher's sigma and optimiser moments, and the noise its next step would draw;
        * ``fresh``: from a fresh state instead -- the initial sigma and step size, no moments, and for
          ``openai_es`` plain SGD (the POET reference's admission proposals: a new optimiser, SGD "keeps no
          state");
        * ``noise_seed``: the proposal's noise from its own generator seeded so (the reference draws every
          proposal's noise afresh), instead of the searcher's next noise.

        ``openai_es``: one ask/tell from a copy of the state. ``snes`` and ``cem`` keep no state besides center
        and stdev, so a fresh evotorch searcher with this one's stdev (or the initial one) at ``center``, on a
        copy of the problem (its generator included, or reseeded with ``noise_seed``), is exactly this searcher
        moved there; evotorch applies the update at the start of its next step, so that second step's
        population is sampled but never evaluated. The others keep optimiser or covariance state that
        evotorch's public API cannot carry over: ValueError.
        """
        start = None if center is None else center.detach().to(torch.float32).flatten().clone()
        if self.state is not None:
            es = self.es
            state = self.state if start is None else replace(self.state, center=start)
            if fresh:  # the initial sigma and step size, zero moments, plain SGD
                es = OpenAIES(replace(es.params, optimizer="sgd", momentum=0.0))
                state = replace(es.init(state.center, 0), rng_state=state.rng_state, noise=state.noise)
            if noise_seed is not None:
                generator = torch.Generator()
                generator.manual_seed(int(noise_seed))
                state = replace(state, rng_state=generator.get_state())
            population, noise, state = es.ask(state)
            fitness = fitness_for_ranking(_checked(population_evaluator, population))
            return es.tell(state, noise, fitness).center.clone()
        if self.settings.algorithm not in ("snes", "cem"):
            raise ValueError(f"ESSearcher.proposal supports openai_es, snes and cem, not {self.settings.algorithm}")
        from evoforge.search.evotorch_es import build_algorithm, evotorch_step

        status = self.algorithm.status
        problem = copy.deepcopy(self.algorithm.problem)
        if noise_seed is not None:
            problem.manual_seed(int(noise_seed))
        stdev = None if fresh else status["stdev"].clone()  # None: the initial sigma
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="To copy construct from a tensor", category=UserWarning)
            trial = build_algorithm(self.settings, problem, status["center"].clone() if start is None else start,
                                    stdev)
        evotorch_step(trial, _ranked(population_evaluator))  # sample and evaluate
        evotorch_step(trial, _ranked(_not_evaluated))  # apply the update
        return trial.status["center"].clone()

    @property
    def center(self) -> torch.Tensor:
        """A copy of the search distribution's center (the genome the run re-scores and keeps as the solution)."""
        if self.state is not None:
            return self.state.center.clone()
        return self.algorithm.status["center"].clone()

    @property
    def sigma_mean(self) -> float:
        """Mean of the distribution's per-parameter standard deviations (or its step size, if it reports one)."""
        if self.state is not None:
            return float(self.state.sigma)
        status = self.algorithm.status
        sigma = status["stdev"] if "stdev" in status else status["stepsize"]
        return float(torch.as_tensor(sigma).float().mean())

    def metrics(self) -> dict[str, float]:
        """Numbers logged every generation: ``sigma_mean``."""
        return {"sigma_mean": self.sigma_mean}

    def state_bytes(self) -> bytes:
        """The search state pickled (see the class docstring)."""
        return pickle.dumps(self.state if self.state is not None else self.algorithm, protocol=pickle.HIGHEST_PROTOCOL)

    def load_state_bytes(self, data: bytes) -> None:
        """Restore the state of :meth:`state_bytes` (written by a searcher with the same algorithm)."""
        try:
            loaded = pickle.loads(data)
        except AttributeError as error:  # a class that no longer exists
            raise ValueError(f"cannot load this {self.settings.algorithm} searcher state (written by an older "
                             f"evoforge?): {error}") from error
        expected = OpenAIESState if self.state is not None else type(self.algorithm)
        if not isinstance(loaded, expected):  # a config error (wrong algorithm for the checkpoint), not a bug
            raise ValueError(  # noqa: TRY004
                f"a {self.settings.algorithm} searcher cannot load a {type(loaded).__name__} state")
        if self.state is not None:
            self.state = loaded
        else:
            self.algorithm = loaded


def __getattr__(name: str) -> Any:
    """Checkpoints written before evotorch's searchers moved to :mod:`evoforge.search.evotorch_es` pickled
    their problem as ``evoforge.search.es.PoolProblem`` (PEP 562 module attribute)."""
    if name == "PoolProblem":
        from evoforge.search.evotorch_es import PoolProblem

        return PoolProblem
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
