"""``experiment: nas_benchmark``: how well zero-cost proxies rank architectures (Mellor et al. 2021, Fig. 3;
Abdelfattah et al. 2021).

Distinct cells, every proxy on one fixed minibatch, and each cell's accuracy -- looked up in NAS-Bench-201
(``benchmark.ground_truth: nas-bench-201``: the 200-epoch test accuracies on CIFAR-10, CIFAR-100 and
ImageNet16-120) or trained on the configured data (``train``: mean test accuracy over ``training.seeds``),
scored ``benchmark.chunk`` cells a generation by :class:`evoforge.nas.benchmark.BenchmarkSweep`;
``benchmark.jsonl`` holds a row per cell, and at the end the report: Kendall tau and Spearman rho of every proxy
with bootstrap 95 % intervals (per dataset with the benchmark's accuracies), and what random-N picks.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from functools import partial
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evoforge.errors import ConfigError
from evoforge.experiments.base import Experiment, InspectOptions
from evoforge.experiments.config import BaseRunConfig, validate
from evoforge.experiments.nas import ArchitectureEvaluator, GroundTruthSettings, ProxySettings
from evoforge.nas import benchmark, proxies
from evoforge.nas.benchmark import BenchmarkSweep, Row
from evoforge.nas.data import DataSettings
from evoforge.nas.diagrams import cells_figure, proxies_figure
from evoforge.nas.space import NUM_CELLS, Cell
from evoforge.nas.training import NetworkSettings
from evoforge.search.run import RunOutcome
from evoforge.search.rundir import RunDir
from evoforge.search.storage import atomic_write_text, write_json


class BenchmarkSettings(BaseModel):
    """The ``benchmark:`` section: how many distinct cells, their sampling seed, chunking, and the random-N
    sizes and repeats of the report.
    """

    model_config = ConfigDict(extra="forbid")

    architectures: int = Field(200, ge=2, le=NUM_CELLS, description="distinct cells sampled uniformly: the "
                               "benchmark's budget (resume --generations N sets N x chunk)")
    sample_seed: int = Field(0, ge=0)
    chunk: int = Field(8, ge=1, description="cells scored per generation, one batch on the pool (results and "
                                          "checkpoints are saved per chunk)")
    select_n: list[int] = Field(default_factory=lambda: [10, 100], description="random-N sizes in the report")
    repeats: int = Field(500, ge=1, description="random-N repeats in the report (paper: 500)")
    ground_truth: Literal["train", "nas-bench-201"] = Field(
        "train", description="train: each cell trained with `training` on `data` (a user's own data); "
                             "nas-bench-201: the benchmark's own accuracies looked up (evoforge.nas.nasbench201)")
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples for the 95 % intervals of tau and rho")


class NASBenchmarkConfig(BaseRunConfig):
    """Config of ``experiment: nas_benchmark``: every proxy and the trained accuracy of many cells, for the
    correlation report.
    """

    experiment: Literal["nas_benchmark"]
    data: DataSettings = DataSettings()
    network: NetworkSettings = NetworkSettings()
    training: GroundTruthSettings = GroundTruthSettings()
    proxy: ProxySettings = ProxySettings(names=list(proxies.STANDARD))
    benchmark: BenchmarkSettings = BenchmarkSettings()


class NASBenchmarkExperiment(Experiment):
    """``experiment: nas_benchmark``: every proxy and the trained accuracy of ``benchmark.architectures``
    distinct cells, ``benchmark.chunk`` of them a generation (:class:`BenchmarkSweep`), then the report.

    The budget is the cells: ``ceil(architectures / chunk)`` generations, and ``resume --generations N``
    extends the sample to N x chunk cells, keeping the ones it has.
    """

    config_class = NASBenchmarkConfig

    def __init__(self, config: NASBenchmarkConfig) -> None:
        self.config = config
        bench = config.benchmark
        settings = config.run_settings(math.ceil(bench.architectures / bench.chunk), None)
        if config.pool.chunk_size is None:  # one cell per task: cells differ widely in cost
            settings = dataclasses.replace(settings, pool=config.pool.model_copy(update={"chunk_size": 1}))
        self.settings = settings

    def evaluator_factory(self) -> partial[ArchitectureEvaluator]:
        """A picklable factory of :class:`ArchitectureEvaluator` computing every proxy and the trained accuracy."""
        lookup = self.config.benchmark.ground_truth == "nas-bench-201"
        return partial(ArchitectureEvaluator, self.config.data, self.config.network, self.config.training,
                       self.config.proxy, "accuracy", not lookup, lookup, device=self.config.device)

    def make_searcher(self) -> BenchmarkSweep:
        """The sweep over the sample (:func:`sample_cells`), ``benchmark.chunk`` cells a generation."""
        bench = self.config.benchmark
        return BenchmarkSweep(benchmark.sample_cells(bench.architectures, bench.sample_seed), bench.chunk)

    def with_generations(self, generations: int) -> NASBenchmarkConfig:
        """The config with ``benchmark.architectures = generations x benchmark.chunk`` (a generation is a chunk)."""
        chunk = self.config.benchmark.chunk
        if generations * chunk > NUM_CELLS:
            raise ConfigError(f"--generations {generations}: {generations} chunks of {chunk} cells exceed the "
                              f"{NUM_CELLS} cells of the space (at most {NUM_CELLS // chunk})")
        data = self.config.model_dump(mode="json")
        data["benchmark"]["architectures"] = generations * chunk
        return validate(self.config_class, data)

    def on_generation(self, run_dir: RunDir, searcher: BenchmarkSweep) -> None:
        """Rewrite benchmark.jsonl whole from the sweep's rows (a line torn by a killed process goes with it)."""
        atomic_write_text(run_dir.artifact(benchmark.BENCHMARK_FILE), benchmark.rows_text(searcher.rows))

    def final_summary(self, outcome: RunOutcome) -> dict[str, Any]:
        """Write report.json, report.md and proxies.png; return the cells trained and failed, each proxy's
        Kendall tau and a one-line ``headline``."""
        rows: list[Row] = outcome.searcher.rows
        failed = sum(bool(row["failed"]) for row in rows)
        try:
            report = self.write_report(outcome.run_dir, rows)
        except ValueError as exc:  # too few trained cells: the run itself is still complete
            return {"architectures": len(rows) - failed, "architectures_failed": failed, "kendall_tau": {},
                    "headline": str(exc)}
        return {"architectures": report["architectures"], "architectures_failed": failed,
                "kendall_tau": {name: c["kendall_tau"] for name, c in report["correlations"].items()},
                "headline": benchmark.headline(report)}

    def report_numbers(self, rows: Sequence[Row]) -> dict[str, Any]:
        """:func:`benchmark_report` of ``rows`` with this config's proxies, random-N sizes and seeds."""
        config, bench = self.config, self.config.benchmark
        return benchmark.benchmark_report(rows, config.proxy.names, bench.select_n, bench.repeats, config.seed,
                                          config.training.seeds, bootstrap=bench.bootstrap)

    def write_report(self, run_dir: RunDir, rows: Sequence[Row]) -> dict[str, Any]:
        """report.json, report.md and proxies.png of ``rows`` in the run directory; returns the report.
        Raises ValueError when fewer than two cells were trained."""
        rows = [dict(row) for row in rows]
        report = self.report_numbers(rows)
        write_json(run_dir.artifact(benchmark.REPORT_JSON), report)
        atomic_write_text(run_dir.artifact(benchmark.REPORT_MD), benchmark.report_markdown(report))
        benchmark.plot_proxies(rows, self.config.proxy.names, run_dir.artifact(benchmark.PROXIES_PNG))
        return report

    def inspect(self, run_dir: RunDir, options: InspectOptions) -> list[str]:
        """The report (rewritten from benchmark.jsonl, so also for an unfinished build) and where its plot is;
        one line saying why when fewer than two cells are trained yet."""
        try:
            report = self.write_report(run_dir, benchmark.read_rows(run_dir.artifact(benchmark.BENCHMARK_FILE)))
        except ValueError as exc:  # a build that has just started: the summary above says how far it got
            return [f"no report yet: {exc}"]
        plot = run_dir.artifact(benchmark.PROXIES_PNG)
        return [*benchmark.report_markdown(report).splitlines(), f"proxies against accuracy -> {plot}"]

    def report_sections(self, report: Any, run_dir: RunDir, media: bool) -> None:
        """Each proxy against trained accuracy (scatter, Kendall tau, Spearman rho), what random-N with NASWOT
        picks, the cells that failed, and the most accurate cells as diagrams."""
        section = report.section("Proxies against accuracy")
        rows = benchmark.read_rows(run_dir.artifact(benchmark.BENCHMARK_FILE))
        try:
            numbers = self.report_numbers(rows)
        except ValueError as exc:
            section.note(str(exc))
            return
        trained = benchmark.trained_rows(rows)
        section.figure(proxies_figure(trained, self.config.proxy.names),
                       "Each proxy's score of the untrained network against its trained test accuracy.")
        section.text(f"{numbers['architectures']} architectures; trained accuracy {numbers['accuracy_mean']:.1f} % "
                     f"mean (range {numbers['accuracy_min']:.1f}-{numbers['accuracy_max']:.1f}); Kendall tau "
                     f"between two training seeds: {numbers['seed_to_seed_kendall_tau']}.")
        section.table(["proxy", "Kendall tau", "Spearman rho", "n", "seconds per cell"],
                      [(name, c["kendall_tau"], c["spearman_rho"], c["n"], c["seconds_mean"])
                       for name, c in numbers["correlations"].items()], caption="rank correlation with accuracy")
        if numbers["random_n"]:
            section.table(["N", "NASWOT pick mean", "std", "random pick mean", "best in sample mean", "repeats"],
                          [(s["n"], s["proxy_pick_mean"], s["proxy_pick_std"], s["random_pick_mean"],
                            s["best_in_sample_mean"], s["repeats"]) for s in numbers["random_n"]],
                          caption="random-N: accuracy (%) of the cell NASWOT picks among N random cells")
        failed = [row for row in rows if row.get("failed")]
        if failed:
            section.table(["cell", "error"], [(row["arch"], row.get("error")) for row in failed],
                          caption=f"{len(failed)} cells failed and are left out of the statistics")
        best = sorted(trained, key=lambda row: -row["accuracy"])[:6]
        report.section("Most accurate cells").figure(
            cells_figure([(Cell.from_string(row["arch"]), f"accuracy {row['accuracy']:.1f} %") for row in best]),
            "The six most accurate cells of the sample.")
