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
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from evoforge.devices import resolve_device
from evoforge.errors import CheckpointError
from evoforge.experiments.base import Experiment, InspectOptions
from evoforge.experiments.config import BaseRunConfig
from evoforge.nas.anchors import norm_act_channels
from evoforge.nas.data import DataSettings, load_data
from evoforge.nas.evonorm import DegenerateGroups, GroupSettings, LayerGraph
from evoforge.nas.evonorm_train import LayerTraining, Rejection, judge_layer
from evoforge.search.evaluation import Evaluation, Evaluator
from evoforge.search.evolution import RegularizedEvolution, best_distinct
from evoforge.search.pool import EvaluatorPool
from evoforge.search.rundir import RunDir
from evoforge.search.seeds import RunStream, run_seed

COMPARISON = "compare.json"  # the run artifact scripts/evonorm_compare.py writes, shown by the report
# what the searcher keeps of every candidate, accepted or not: enough to replay any screening threshold
JUDGED = ("screen_score", "rejected", "rejected_screen", "rejected_quality", "rejected_stability", "accuracy_mean")


def screening_tradeoff(judged: Sequence[dict[str, float]], quantiles: Sequence[float] = (0.1, 0.25, 0.5, 0.75),
                       top: int = 10) -> list[dict[str, float]]:
    """What rejecting candidates below a zero-cost score threshold would have done to a search that screened
    none: for each threshold (the score's ``quantiles`` over the candidates, and -inf, which drops only the
    singular kernels), the candidates it would not have trained, the accepted layers among them, and how many
    of the ``top`` accepted layers by validation accuracy it would have lost. Candidates a screening already
    rejected are left out (their outcome is unknown)."""
    rows = [r for r in judged if not r.get("rejected_screen", 0) > 0 and not np.isnan(r.get("screen_score", np.nan))]
    if not rows:
        return []
    scores = np.array([r["screen_score"] for r in rows])
    accepted = np.array([not r["rejected"] > 0 for r in rows])
    accuracy = np.array([r["accuracy_mean"] if ok else -np.inf for r, ok in zip(rows, accepted)])
    best = set(np.argsort(-accuracy)[:min(top, int(accepted.sum()))].tolist())
    finite = scores[np.isfinite(scores)]
    thresholds = [-np.inf] + ([float(np.quantile(finite, q)) for q in quantiles] if finite.size else [])
    table = []
    for quantile, threshold in zip([float("nan"), *quantiles], thresholds):
        # -inf: drop only singular kernels (score -inf); otherwise drop scores strictly below the threshold
        below = ~np.isfinite(scores) if threshold == -np.inf else scores < threshold
        table.append({"quantile": quantile, "threshold": threshold, "candidates": float(len(rows)),
                      "not_trained": float(below.sum()), "accepted": float(accepted.sum()),
                      "accepted_lost": float((below & accepted).sum()),
                      "top_lost": float(sum(1 for i in best if below[i])), "top": float(len(best))})
    return table


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
    anchors: list[Literal["resnet", "mobilenet", "plain", "resnet_wide", "vgg"]] = Field(
        default_factory=lambda: ["resnet", "mobilenet", "plain"], min_length=1)
    grouping: GroupSettings = Field(GroupSettings(), description="how group aggregates split the channels")
    training: LayerTraining = LayerTraining()
    rejection: Rejection = Rejection()
    search: LayerSearchSettings = LayerSearchSettings()
    training_seed: int = Field(0, ge=0, description="every candidate trains from this seed (comparable scores)")

    @model_validator(mode="after")
    def _groups_fit_every_layer(self) -> "EvoNormConfig":
        """Refuse, before anything trains, a grouping that some anchor's layers cannot take (a group size that
        does not divide their channels, or one channel per group)."""
        check_grouping(self.grouping, self.anchors, self.training.width)
        return self


def check_grouping(grouping: GroupSettings, anchors: Sequence[str], width: int) -> None:
    """Raise ValueError naming the anchor and channel count where ``grouping`` is degenerate or does not divide."""
    for anchor in anchors:
        for channels in sorted(set(norm_act_channels(anchor, width))):
            try:
                grouping.count(channels)
            except DegenerateGroups as exc:
                raise ValueError(f"grouping: {anchor} at width {width} has a {channels}-channel layer: {exc}") \
                    from None


class LayerEvaluator(Evaluator):
    """Judges each layer graph on the anchor architectures (:func:`~evoforge.nas.evonorm_train.judge_layer`);
    fitness = mean validation accuracy over the anchors, 0 for a rejected layer (``rejected`` > 0 in its
    metrics). The test split is never read here.

    Deterministic by design: every candidate trains from ``training_seed``, whatever its evaluation seed, so
    that the scores of two layers differ only by the layers (Liu et al. 2020 train every candidate alike).
    """

    deterministic: ClassVar[bool] = True

    def __init__(self, config: EvoNormConfig) -> None:
        self.config = config

    def setup(self) -> None:
        torch.set_num_threads(1)
        self.data = load_data(self.config.data).to(resolve_device(self.config.device))

    def evaluate(self, genomes: Sequence[LayerGraph], seeds: Sequence[int]) -> list[Evaluation]:
        results = []
        for graph in genomes:
            metrics = judge_layer(graph, self.data, self.config.anchors, self.config.training,
                                  self.config.rejection, self.config.training_seed, self.config.grouping)
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
                                    sample=partial(LayerGraph.random, allow_batch=not search.batch_independent),
                                    record=JUDGED)

    def final_summary(self, outcome: Any) -> dict[str, Any]:
        """The protocol a reader needs beside the numbers: the split sizes (selection used validation only),
        the grouping and the search's schedule, and the candidates judged."""
        searcher = outcome.searcher
        return {"data_split": load_data(self.config.data).describe(), "selected_on": "validation",
                "grouping": self.config.grouping.describe(), "schedule": self.config.training.describe(search=True),
                "candidates_judged": len(getattr(searcher, "judged", [])),
                "candidates_rejected": int(getattr(searcher, "rejected", 0))}

    def best_layers(self, run_dir: RunDir, top: int = 3, baselines: bool = True) -> list[tuple[LayerGraph, float]]:
        """The ``top`` distinct accepted layers of a run by mean accuracy, from its newest valid checkpoint
        (raises CheckpointError without one); ``baselines=False`` leaves out the reference layers a search may
        have started from."""
        history = self.load_searcher(run_dir).history
        if baselines:
            return best_distinct(history, top)
        from evoforge.nas.evonorm import NAMED_LAYERS

        references = {NAMED_LAYERS[name] for name in REFERENCE_LAYERS}
        return [item for item in best_distinct(history, len(history)) if item[0] not in references][:top]

    def inspect(self, run_dir: RunDir, options: InspectOptions) -> list[str]:
        """The five best distinct accepted layers as formulas, with their mean validation accuracy over the
        anchors."""
        try:
            ranked = self.best_layers(run_dir, top=5)
        except CheckpointError:
            return ["no checkpoint yet: no accepted layers to show"]
        return [f"layer {rank}: {graph}   (mean validation accuracy {accuracy:.2f} %)"
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
        section.table(["rank", "layer (formula)", "mean validation accuracy %"],
                      [(k + 1, str(graph), accuracy) for k, (graph, accuracy) in enumerate(ranked)],
                      caption=f"best distinct accepted layers ({len(searcher.history)} accepted, "
                              f"{searcher.rejected} rejected in all; {self.config.grouping.describe()}, "
                              f"{self.config.training.describe(search=True)})")
        anchors = list(self.config.anchors)
        members = [(graph, scores) for graph, _, scores in searcher.population if len(scores) == len(anchors) > 1]
        if members:
            section.table(["layer", *[f"{a} %" for a in anchors]], [(str(g), *scores) for g, scores in members],
                          caption="the final population's validation accuracy on each anchor architecture (the "
                                  "Pareto tournament's objectives)")
            section.figure(_anchor_bars(members, anchors), "Per-architecture accuracy of the final population.")
        tradeoff = screening_tradeoff(searcher.judged)
        if tradeoff:
            section.table(["threshold (score quantile)", "not trained", "accepted lost", "top 10 lost"],
                          [(f"{r['threshold']:.1f} (q {r['quantile']:g})" if np.isfinite(r["threshold"])
                            else "-inf (singular only)", f"{r['not_trained']:.0f} of {r['candidates']:.0f}",
                            f"{r['accepted_lost']:.0f} of {r['accepted']:.0f}",
                            f"{r['top_lost']:.0f} of {r['top']:.0f}")
                           for r in tradeoff],
                          caption="zero-cost screening replayed on this search: rejecting candidates whose NASWOT-"
                                  "style score of the untrained anchors is below a threshold")
        compare = run_dir.artifact(COMPARISON)
        if compare.is_file():
            rows = json.loads(compare.read_text())
            section.table(["layer", "architecture", "batch", "test % mean", "95 % CI", "n", "diverged",
                           "p vs bn_relu"],
                          [(r["layer"], r["anchor"], r["batch"], r["mean"],
                            f"[{r.get('ci_low', float('nan')):.1f}, {r.get('ci_high', float('nan')):.1f}]", r["n"],
                            r["diverged"], r.get("welch_p", {}).get("bn_relu", float("nan"))) for r in rows],
                          caption=f"{COMPARISON} (scripts/evonorm_compare.py): layers re-trained from scratch over "
                                  "several seeds, test split")


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
    """Trains (layer, architecture, batch size) jobs from scratch on the config's schedule (the same epochs at
    every batch size), job i from its evaluation seed ``seeds[i]`` (the comparison's training seed); fitness =
    test accuracy, with the validation accuracy in the metrics (failed if unstable)."""

    def evaluate(self, genomes: Sequence[tuple[LayerGraph, str, int]], seeds: Sequence[int]) -> list[Evaluation]:
        from evoforge.nas.evonorm_train import make_model, train_model

        results = []
        training = self.config.training
        for (graph, anchor, batch), seed in zip(genomes, seeds):
            torch.manual_seed(seed)
            model = make_model(graph, anchor, self.data, training.width, self.config.grouping)
            steps = training.steps_for(batch, len(self.data.train_y))
            result = train_model(model, self.data, steps, batch, training.lr_for(batch), training, seed,
                                 splits=("validation", "test"))
            results.append(Evaluation(fitness=result["accuracy"], metrics=result))
        return results


REFERENCE_LAYERS = ("bn_relu", "gn_relu", "evonorm_b0", "evonorm_s0")  # what evolved layers are tested against


def compare_layers(config: EvoNormConfig, layers: dict[str, LayerGraph], batches: Sequence[int],
                   seeds: Sequence[int], architectures: Sequence[str] | None = None, address: str | None = None,
                   backend: str | None = None, cache: Path | None = None,
                   progress: Callable[[int, int], None] | None = None, train: bool = True) -> list[dict]:
    """Every layer on every architecture (default: the search's anchors) at every batch size and training
    seed, trained on the config's schedule; one row per (layer, architecture, batch): the test accuracies of
    the runs that did not diverge, their mean, 95 % interval (Student t over seeds) and validation mean, the
    diverged count, and Welch's p against each of :data:`REFERENCE_LAYERS` present in ``layers``.

    The jobs run on the pool of the config's ``pool:`` section (``backend`` overrides its backend), joining the
    Ray cluster at ``address`` if given; one job per chunk, as each trains a network. A job's evaluation seed is
    its training seed, so the comparison is the same on either backend. With ``cache`` (a JSON-lines file),
    every finished job is appended to it, one round of the pool at a time (as many jobs as it has actors), and
    jobs already there are not trained again: an interrupted comparison loses at most one round and continues
    where it stopped. ``progress(done, total)`` is called after each round. With ``train=False`` nothing is
    trained: the rows are those whose every seed is in ``cache`` (a comparison still under way, tabulated)."""
    from evoforge.stats import summarise, welch_p

    architectures = list(config.anchors if architectures is None else architectures)
    check_grouping(config.grouping, architectures, config.training.width)
    protocol = comparison_protocol(config)
    done = _cached_jobs(cache, protocol)
    graphs = {str(graph): graph for graph in layers.values()}  # two names for one graph train once
    jobs = [(formula, arch, batch, seed) for formula in graphs for arch in architectures for batch in batches
            for seed in seeds]
    todo = [job for job in jobs if job not in done] if train else []
    overrides: dict[str, Any] = {"chunk_size": 1} | ({"backend": backend} if backend is not None else {})
    pool = EvaluatorPool.from_settings(partial(ComparisonEvaluator, config), config.pool, address, **overrides)
    try:
        if progress is not None:
            progress(len(jobs) - len(todo), len(jobs))
        if todo:
            pool.start()
        while todo:
            round_, todo = todo[:pool.num_workers], todo[pool.num_workers:]
            evaluations = pool.evaluate([(graphs[formula], a, b) for formula, a, b, _ in round_],
                                        [s for *_, s in round_])
            fresh = {job: {"failed": e.failed, "accuracy": e.fitness,
                           "val_accuracy": e.metrics.get("val_accuracy", float("nan"))}
                     for job, e in zip(round_, evaluations)}
            done.update(fresh)
            _append_jobs(cache, protocol, fresh)
            if progress is not None:
                progress(len(jobs) - len(todo), len(jobs))
    finally:
        pool.shutdown()
    accuracies: dict[tuple[str, str, int], list[float]] = {}
    rows = []
    for name in layers:
        for arch in architectures:
            for batch in batches:
                if not all((str(layers[name]), arch, batch, seed) in done for seed in seeds):
                    continue  # only without training: a cell not finished yet
                runs = [done[str(layers[name]), arch, batch, seed] for seed in seeds]
                ok = [r for r in runs if not r["failed"]]
                accuracies[name, arch, batch] = [r["accuracy"] for r in ok]
                summary = summarise(accuracies[name, arch, batch])
                rows.append({"layer": name, "formula": str(layers[name]), "anchor": arch, "batch": batch,
                             "accuracies": accuracies[name, arch, batch], "mean": summary.mean,
                             "std": summary.std, "ci_low": summary.ci_low, "ci_high": summary.ci_high,
                             "val_mean": float(np.mean([r["val_accuracy"] for r in ok])) if ok else float("nan"),
                             "n": len(ok), "diverged": len(runs) - len(ok)})
    for row in rows:
        row["welch_p"] = {ref: welch_p(accuracies[row["layer"], row["anchor"], row["batch"]],
                                       accuracies[ref, row["anchor"], row["batch"]])
                          for ref in REFERENCE_LAYERS
                          if ref in layers and ref != row["layer"] and (ref, row["anchor"], row["batch"]) in accuracies}
    return rows


def comparison_protocol(config: EvoNormConfig) -> str:
    """What a comparison's training depends on besides the layer, the architecture, the batch and the seed (the
    training, data and grouping sections), as a key for cached jobs."""
    return json.dumps({"training": config.training.model_dump(mode="json"), "data": config.data.model_dump(
        mode="json"), "grouping": config.grouping.model_dump(mode="json")}, sort_keys=True)


def _cached_jobs(cache: Path | None, protocol: str) -> dict[tuple[str, str, int, int], dict[str, Any]]:
    """Finished comparison jobs of ``cache`` trained under ``protocol`` (a torn last line is ignored)."""
    found: dict[tuple[str, str, int, int], dict[str, Any]] = {}
    if cache is None or not cache.is_file():
        return found
    for line in cache.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row.get("protocol") == protocol:
            found[row["formula"], row["architecture"], row["batch"], row["seed"]] = row["result"]
    return found


def _append_jobs(cache: Path | None, protocol: str, jobs: dict[tuple[str, str, int, int], dict[str, Any]]) -> None:
    if cache is None:
        return
    torn = cache.is_file() and cache.stat().st_size > 0 and not cache.read_bytes().endswith(b"\n")
    with open(cache, "a") as handle:
        if torn:  # an interrupted write: start a fresh line, so the torn one is the only one skipped
            handle.write("\n")
        for (formula, arch, batch, seed), result in jobs.items():
            handle.write(json.dumps({"protocol": protocol, "formula": formula, "architecture": arch,
                                     "batch": batch, "seed": seed, "result": result}) + "\n")
        handle.flush()
