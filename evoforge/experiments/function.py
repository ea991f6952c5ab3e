"""ES on a benchmark function: the smallest complete experiment, and the engine's test bench.

Fitness is ``-f(x)`` for f in {sphere, rastrigin}, optionally with seeded Gaussian noise. ``faults`` injects
the failures the engine must survive -- NaN fitness, exceptions, slow evaluations -- so fault tolerance can be
exercised from a config as well as from tests.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from evoforge.experiments.base import Experiment
from evoforge.experiments.config import BaseRunConfig
from evoforge.search.es import ESSearcher, ESSettings
from evoforge.search.evaluation import Evaluation, Evaluator
from evoforge.search.seeds import RunStream, episode_seeds, run_seed


class FaultSettings(BaseModel):
    """Failures to inject (all off by default)."""

    model_config = ConfigDict(extra="forbid")

    nan_above: float | None = Field(None, description="fitness is NaN when x[0] exceeds this")
    raise_above: float | None = Field(None, description="evaluation raises when x[0] exceeds this")
    sleep_s: float = Field(0.0, ge=0, description="sleep per evaluate() call (to make room for a kill)")
    pid_dir: Path | None = Field(None, description="each evaluate() call writes its worker pid here")


class FunctionSettings(BaseModel):
    """The ``function:`` section: which benchmark function, its dimension, fitness noise and injected faults."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["sphere", "rastrigin"] = "sphere"
    dim: int = Field(10, ge=1)
    noise: float = Field(0.0, ge=0, description="std of seeded Gaussian noise added to the fitness")
    faults: FaultSettings = FaultSettings()


class FunctionConfig(BaseRunConfig):
    """Config of ``experiment: function``: ES (the ``search:`` section) on a benchmark function."""

    experiment: Literal["function"]
    function: FunctionSettings = FunctionSettings()
    search: ESSettings = ESSettings()
    stop_fitness: float | None = None


def sphere(x: torch.Tensor) -> torch.Tensor:
    """Sphere: sum of x_i^2 over the last axis, global minimum 0 at the origin."""
    return (x**2).sum(dim=-1)


def rastrigin(x: torch.Tensor) -> torch.Tensor:
    """Rastrigin (1974): 10 d + sum(x_i^2 - 10 cos(2 pi x_i)), global minimum 0 at the origin."""
    return 10 * x.shape[-1] + (x**2 - 10 * torch.cos(2 * math.pi * x)).sum(dim=-1)


FUNCTIONS = {"sphere": sphere, "rastrigin": rastrigin}


class FunctionEvaluator(Evaluator):
    """Fitness = -f(x) for a chunk of vector genomes in one vectorised call, with the configured noise and faults."""

    def __init__(self, settings: FunctionSettings) -> None:
        self.settings = settings

    def evaluate(self, genomes: torch.Tensor, seeds: Sequence[int]) -> list[Evaluation]:
        faults = self.settings.faults
        if faults.pid_dir is not None:
            Path(faults.pid_dir).mkdir(parents=True, exist_ok=True)
            (Path(faults.pid_dir) / f"{os.getpid()}.pid").write_text(str(os.getpid()))
        if faults.sleep_s:
            time.sleep(faults.sleep_s)
        x = genomes.to(torch.float64)
        if faults.raise_above is not None and bool((x[:, 0] > faults.raise_above).any()):
            raise ValueError(f"injected fault: x[0] > {faults.raise_above}")
        values = -FUNCTIONS[self.settings.name](x)
        results = []
        for value, seed, row in zip(values.tolist(), seeds, x):
            if self.settings.noise:
                value += self.settings.noise * float(np.random.default_rng(seed).standard_normal())
            if faults.nan_above is not None and row[0] > faults.nan_above:
                value = float("nan")
            results.append(Evaluation(fitness=value, metrics={"distance": float(row.norm())}))
        return results


class FunctionExperiment(Experiment):
    """``experiment: function``: ES from a seeded random center in [-2, 2)^dim on -f(x)."""

    config_class = FunctionConfig

    def __init__(self, config: FunctionConfig) -> None:
        self.config = config
        self.settings = config.run_settings(config.search.generations, config.stop_fitness)

    def evaluator_factory(self) -> partial[FunctionEvaluator]:
        """A picklable factory of :class:`FunctionEvaluator` with this config's ``function:`` section."""
        return partial(FunctionEvaluator, self.config.function)

    def make_searcher(self) -> ESSearcher:
        """The configured ES from a random center drawn from the run seed."""
        generator = torch.Generator().manual_seed(run_seed(self.config.seed, RunStream.INITIAL_GENOME))
        center = torch.rand(self.config.function.dim, generator=generator) * 4 - 2
        return ESSearcher.for_run(self.config.search, center, run_seed(self.config.seed, RunStream.SEARCHER),
                                  self.config.pool)

    def replay(
        self, genome: torch.Tensor, episodes: int, seed: int, record: bool = False, env_id: str | None = None
    ) -> tuple[list[float], list]:
        """Fitness of ``genome`` on the seeds ``episode_seeds(seed, episodes)`` (faults off: a replay shows the
        function, not the injected failures); no frames to record, and no env to choose (``env_id`` is ignored)."""
        evaluator = FunctionEvaluator(self.config.function.model_copy(update={"faults": FaultSettings()}))
        genome = torch.as_tensor(genome).reshape(1, -1)
        seeds = episode_seeds(seed, episodes)
        return [e.fitness for e in evaluator.evaluate(genome.repeat(episodes, 1), seeds)], []
