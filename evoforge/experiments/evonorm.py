"""Search for normalization-activation layers (Liu et al. 2020, arXiv 2004.02967) on the shared engine.

Genomes are :class:`~evoforge.nas.evonorm.LayerGraph` s; each is judged by
:func:`~evoforge.nas.evonorm_train.judge_layer` on K anchor architectures (quality and stability rejection, then
one accuracy per anchor) inside the pool's actors; regularized evolution keeps the accepted ones and picks
parents from the Pareto front of a tournament over the K accuracies. ``search.batch_independent`` searches the
S series (no batch aggregates). The run checkpoints and resumes like every run; ``evoforge inspect`` prints the
best layers as formulas and ``scripts/evonorm_compare.py`` trains them against BN-ReLU, GN-ReLU, B0 and S0.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from evoforge.experiments.config import BaseRunConfig
from evoforge.nas.data import DataSettings, load_data
from evoforge.nas.evonorm import LayerGraph
from evoforge.nas.evonorm_train import LayerTraining, Rejection, judge_layer
from evoforge.search.evaluation import Evaluation, Evaluator
from evoforge.search.evolution import RegularizedEvolution, best_distinct, saved_searcher
from evoforge.search.seeds import derive_seed


class LayerSearchSettings(BaseModel):
    """The ``search:`` section of a layer search: regularized evolution's budget, population, tournament, and
    the initial population (random graphs or the baselines).
    """

    model_config = ConfigDict(extra="forbid")

    generations: int = Field(20, ge=1)
    children: int = Field(4, ge=1, description="candidates judged per step")
    population_size: int = Field(10, ge=1)
    sample_size: int = Field(4, ge=1, description="tournament size (the winner: a random member of its front)")
    batch_independent: bool = Field(False, description="the S series: no batch aggregates")
    seed_baselines: bool = Field(False, description="start from B0 / S0 / BN-ReLU / GN-ReLU instead of random graphs")

    @model_validator(mode="after")
    def _tournament_fits(self) -> "LayerSearchSettings":
        if self.sample_size > self.population_size:
            raise ValueError(f"search.sample_size ({self.sample_size}) must not exceed search.population_size "
                             f"({self.population_size})")
        return self

class EvoNormConfig(BaseRunConfig):
    """Config of ``experiment: evonorm``: evolve normalization-activation layers (Liu et al. 2020)."""

    experiment: Literal["evonorm"]
    data: DataSettings = DataSettings()
    anchors: list[Literal["resnet", "mobilenet", "plain"]] = Field(
        default_factory=lambda: ["resnet", "mobilenet", "plain"], min_length=1)
    training: LayerTraining = LayerTraining()
    rejection: Rejection = Rejection()
    search: LayerSearchSettings = LayerSearchSettings()
    training_seed: int = Field(0, ge=0, description="every candidate trains from this seed (comparable scores)")


class LayerEvaluator(Evaluator):
    """Judges each layer graph on the anchor architectures (:func:`~evoforge.nas.evonorm_train.judge_layer`);
    fitness = mean accuracy over the anchors, 0 for a rejected layer (``rejected`` > 0 in its metrics).
    """

    def __init__(self, config: EvoNormConfig) -> None:
        self.config = config

    def setup(self) -> None:
        torch.set_num_threads(1)
        self.data = load_data(self.config.data)

    def evaluate(self, genomes: Sequence[LayerGraph], seeds: Sequence[int]) -> list[Evaluation]:
        results = []
        for graph in genomes:
            metrics = judge_layer(graph, self.data, self.config.anchors, self.config.training,
                                  self.config.rejection, self.config.training_seed)
            results.append(Evaluation(fitness=metrics.get("accuracy_mean", 0.0), metrics=metrics))
        return results


class EvoNormExperiment:
    """``experiment: evonorm``: regularized evolution with Pareto tournaments over the per-anchor accuracies."""

    config_class = EvoNormConfig

    def __init__(self, config: EvoNormConfig) -> None:
        self.config = config
        self.settings = config.run_settings(config.search.generations, None)

    def evaluator_factory(self) -> partial[LayerEvaluator]:
        """A picklable factory of :class:`LayerEvaluator` with this config."""
        return partial(LayerEvaluator, self.config)

    def make_searcher(self) -> RegularizedEvolution:
        """Regularized evolution from the baselines' graphs or seeded random graphs, parents picked from the
        Pareto front of each tournament over ``accuracy_<anchor>``.
        """
        from evoforge.nas.evonorm import BASELINES

        search = self.config.search
        rng = np.random.default_rng(derive_seed(self.config.seed, 2))
        if search.seed_baselines:
            names = ["evonorm_s0", "gn_relu"] if search.batch_independent else list(BASELINES)
            initial = [BASELINES[name] for name in names]
        else:
            initial = [LayerGraph.random(rng, allow_batch=not search.batch_independent)
                       for _ in range(search.population_size)]
        return RegularizedEvolution(initial, search.population_size, search.sample_size, search.children,
                                    derive_seed(self.config.seed, 1),
                                    objectives=[f"accuracy_{anchor}" for anchor in self.config.anchors],
                                    mutate_kwargs={"allow_batch": not search.batch_independent},
                                    sample=partial(LayerGraph.random, allow_batch=not search.batch_independent))


def best_layers(run_dir: Path, top: int = 3) -> list[tuple[LayerGraph, float]]:
    """The ``top`` distinct accepted layers of a run by mean accuracy, from its latest checkpoint."""
    return best_distinct(saved_searcher(run_dir).history, top)


class ComparisonEvaluator(LayerEvaluator):
    """Trains (layer, anchor, batch size, seed) jobs from scratch; fitness = test accuracy (failed if unstable)."""

    def evaluate(self, genomes: Sequence[tuple[LayerGraph, str, int, int]], seeds: Sequence[int]
                 ) -> list[Evaluation]:
        from evoforge.nas.evonorm_train import make_model, train_model

        results = []
        training = self.config.training
        for graph, anchor, batch, seed in genomes:
            torch.manual_seed(seed)
            model = make_model(graph, anchor, self.data, training.width)
            result = train_model(model, self.data, training.steps, batch, training.learning_rate, training, seed)
            results.append(Evaluation(fitness=result["accuracy"], metrics=result))
        return results


def compare_layers(config: EvoNormConfig, layers: dict[str, LayerGraph], batches: Sequence[int],
                   seeds: Sequence[int], backend: str = "ray") -> list[dict]:
    """Every layer on every anchor at every batch size and seed, trained as in the search (steps, learning rate);
    rows of accuracy mean / std / n (diverged runs are counted, not averaged)."""
    from evoforge.search.pool import EvaluatorPool

    jobs = [(name, anchor, batch, seed) for name in layers for anchor in config.anchors for batch in batches
            for seed in seeds]
    pool = EvaluatorPool(partial(ComparisonEvaluator, config), backend=backend, chunk_size=1)
    pool.start()
    try:
        evaluations = pool.evaluate([(layers[n], a, b, s) for n, a, b, s in jobs], [0] * len(jobs))
    finally:
        pool.shutdown()
    rows = []
    for name in layers:
        for anchor in config.anchors:
            for batch in batches:
                runs = [e for (n, a, b, _), e in zip(jobs, evaluations) if (n, a, b) == (name, anchor, batch)]
                ok = [e.fitness for e in runs if not e.failed]
                rows.append({"layer": name, "formula": str(layers[name]), "anchor": anchor, "batch": batch,
                             "mean": float(np.mean(ok)) if ok else float("nan"),
                             "std": float(np.std(ok)) if ok else float("nan"), "n": len(ok),
                             "diverged": len(runs) - len(ok)})
    return rows
