"""Search for normalization-activation layers (Liu et al. 2020, arXiv 2004.02967) on the shared engine.

Genomes are :class:`~evoforge.nas.evonorm.LayerGraph` s; each is judged by
:func:`~evoforge.nas.evonorm_train.judge_layer` on K anchor architectures (quality and stability rejection, then
one accuracy per anchor) inside the pool's actors; regularized evolution keeps the accepted ones and picks
parents from the Pareto front of a tournament over the K accuracies. ``search.batch_independent`` searches the
S series (no batch aggregates). The run checkpoints and resumes like every run; ``evoforge inspect`` prints the
best layers as formulas, ``evoforge report`` adds them with the population's per-anchor accuracy, and
``scripts/evonorm_compare.py`` trains them against BN-ReLU, GN-ReLU, B0 and S0 (:func:`compare_layers`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from evoforge.errors import CheckpointError
from evoforge.experiments.base import Experiment, InspectOptions
from evoforge.experiments.config import BaseRunConfig
from evoforge.nas.data import DataSettings, load_data
from evoforge.nas.evonorm import LayerGraph
from evoforge.nas.evonorm_train import LayerTraining, Rejection, judge_layer
from evoforge.search.evaluation import Evaluation, Evaluator
from evoforge.search.evolution import RegularizedEvolution, best_distinct
from evoforge.search.pool import EvaluatorPool
from evoforge.search.rundir import RunDir
from evoforge.search.seeds import RunStream, run_seed

COMPARISON = "compare.json"  # the run artifact scripts/evonorm_compare.py writes, shown by the report


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

    Deterministic by design: every candidate trains from ``training_seed``, whatever its evaluation seed, so
    that the scores of two layers differ only by the layers (Liu et al. 2020 train every candidate alike).
    """

    deterministic: ClassVar[bool] = True

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


class EvoNormExperiment(Experiment):
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
        rng = np.random.default_rng(run_seed(self.config.seed, RunStream.INITIAL_GENOME))
        if search.seed_baselines:
            names = ["evonorm_s0", "gn_relu"] if search.batch_independent else list(BASELINES)
            initial = [BASELINES[name] for name in names]
        else:
            initial = [LayerGraph.random(rng, allow_batch=not search.batch_independent)
                       for _ in range(search.population_size)]
        return RegularizedEvolution(initial, search.population_size, search.sample_size, search.children,
                                    run_seed(self.config.seed, RunStream.SEARCHER),
                                    objectives=[f"accuracy_{anchor}" for anchor in self.config.anchors],
                                    mutate_kwargs={"allow_batch": not search.batch_independent},
                                    sample=partial(LayerGraph.random, allow_batch=not search.batch_independent))

    def best_layers(self, run_dir: RunDir, top: int = 3) -> list[tuple[LayerGraph, float]]:
        """The ``top`` distinct accepted layers of a run by mean accuracy, from its newest valid checkpoint
        (raises CheckpointError without one)."""
        return best_distinct(self.load_searcher(run_dir).history, top)

    def inspect(self, run_dir: RunDir, options: InspectOptions) -> list[str]:
        """The five best distinct accepted layers as formulas, with their mean accuracy over the anchors."""
        try:
            ranked = self.best_layers(run_dir, top=5)
        except CheckpointError:
            return ["no checkpoint yet: no accepted layers to show"]
        return [f"layer {rank}: {graph}   (mean accuracy {accuracy:.2f} %)"
                for rank, (graph, accuracy) in enumerate(ranked, start=1)]

    def report_sections(self, report: Any, run_dir: RunDir, media: bool) -> None:
        """The best layers as formulas, the final population's accuracy on every anchor architecture (table and
        bars), the rejection counts, and compare.json of scripts/evonorm_compare.py when it was run."""
        section = report.section("Layers")
        searcher = self.saved_searcher(run_dir)
        if searcher is None or not searcher.history:
            section.note("no checkpoint with accepted layers yet")
            return
        ranked = best_distinct(searcher.history, 10)
        section.table(["rank", "layer (formula)", "mean accuracy %"],
                      [(k + 1, str(graph), accuracy) for k, (graph, accuracy) in enumerate(ranked)],
                      caption=f"best distinct accepted layers ({len(searcher.history)} accepted, "
                              f"{searcher.rejected} rejected in all)")
        anchors = list(self.config.anchors)
        members = [(graph, scores) for graph, _, scores in searcher.population if len(scores) == len(anchors) > 1]
        if members:
            section.table(["layer", *[f"{a} %" for a in anchors]], [(str(g), *scores) for g, scores in members],
                          caption="the final population's accuracy on each anchor architecture (the Pareto "
                                  "tournament's objectives)")
            section.figure(_anchor_bars(members, anchors), "Per-architecture accuracy of the final population.")
        compare = run_dir.artifact(COMPARISON)
        if compare.is_file():
            rows = json.loads(compare.read_text())
            section.table(["layer", "anchor", "batch", "mean %", "std", "n", "diverged"],
                          [(r["layer"], r["anchor"], r["batch"], r["mean"], r["std"], r["n"], r["diverged"])
                           for r in rows], caption=f"{COMPARISON} (scripts/evonorm_compare.py): layers trained "
                                                   "from scratch over several seeds")


def _anchor_bars(members: list[tuple[LayerGraph, Sequence[float]]], anchors: list[str]) -> Any:
    """Grouped bars: each population member's accuracy on each anchor, members by mean accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.4))
    order = sorted(range(len(members)), key=lambda i: -np.mean(members[i][1]))
    width = 0.8 / len(anchors)
    for a, anchor in enumerate(anchors):
        ax.bar(np.arange(len(order)) + a * width, [members[i][1][a] for i in order], width, label=anchor)
    ax.set_xticks(np.arange(len(order)) + 0.4 - width / 2, [f"L{k + 1}" for k in range(len(order))])
    ax.set_ylabel("test accuracy %")
    ax.set_xlabel("population member (by mean accuracy; formulas in the table above)")
    ax.legend(fontsize=8)
    return fig


class ComparisonEvaluator(LayerEvaluator):
    """Trains (layer, anchor, batch size) jobs from scratch, job i from its evaluation seed ``seeds[i]`` (the
    comparison's training seed); fitness = test accuracy (failed if unstable)."""

    def evaluate(self, genomes: Sequence[tuple[LayerGraph, str, int]], seeds: Sequence[int]) -> list[Evaluation]:
        from evoforge.nas.evonorm_train import make_model, train_model

        results = []
        training = self.config.training
        for (graph, anchor, batch), seed in zip(genomes, seeds):
            torch.manual_seed(seed)
            model = make_model(graph, anchor, self.data, training.width)
            result = train_model(model, self.data, training.steps, batch, training.learning_rate, training, seed)
            results.append(Evaluation(fitness=result["accuracy"], metrics=result))
        return results


def compare_layers(config: EvoNormConfig, layers: dict[str, LayerGraph], batches: Sequence[int],
                   seeds: Sequence[int], address: str | None = None, backend: str | None = None) -> list[dict]:
    """Every layer on every anchor at every batch size and training seed, trained as in the search (steps,
    learning rate); rows of accuracy mean / std / n (diverged runs are counted, not averaged).

    The jobs run on the pool of the config's ``pool:`` section (``backend`` overrides its backend), joining the
    Ray cluster at ``address`` if given; one job per chunk, as each trains a network. A job's evaluation seed is
    its training seed, so the comparison is the same on either backend."""
    jobs = [(name, anchor, batch, seed) for name in layers for anchor in config.anchors for batch in batches
            for seed in seeds]
    overrides: dict[str, Any] = {"chunk_size": 1} | ({"backend": backend} if backend is not None else {})
    pool = EvaluatorPool.from_settings(partial(ComparisonEvaluator, config), config.pool, address, **overrides)
    pool.start()
    try:
        evaluations = pool.evaluate([(layers[n], a, b) for n, a, b, _ in jobs], [s for *_, s in jobs])
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
