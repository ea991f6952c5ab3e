"""Neural architecture search without training (Mellor et al. 2021) on the NAS-Bench-201 cell space.

Two experiment kinds:

* ``nas`` -- a search on the shared engine: ``random`` (score N random cells untrained, keep the best: NASWOT's
  Algorithm 1), ``rea`` (regularized evolution with trained accuracy as fitness) or ``area`` (REA whose initial
  population is the best-scoring ``area_candidates`` untrained cells: Algorithm 2). Evaluations run on the
  pool; the run checkpoints and resumes like every run.
* ``nas_benchmark`` -- the offline ground truth: sample distinct cells, compute every proxy on one fixed
  minibatch and train each cell on a short schedule (mean test accuracy over ``training.seeds``), in parallel on
  the pool, appending each result to ``benchmark.jsonl`` (an interrupted build resumes where it stopped);
  then the report: Kendall tau and Spearman rho of every proxy against accuracy, and what random-N picks.

A cell's scores are a function of the cell and the config only (proxy seed, training seeds), never of the
generation or its place in a batch, so a cell scores the same wherever it is met -- as a lookup in the real
NAS-Bench-201 would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from evoforge.experiments.config import BaseRunConfig
from evoforge.nas import proxies
from evoforge.nas.data import DataSettings, ImageData, load_data
from evoforge.nas.space import NUM_CELLS, Cell
from evoforge.nas.training import NetworkSettings, TrainingSettings, train_and_test
from evoforge.search.evaluation import Evaluation, Evaluator
from evoforge.search.evolution import RandomSampling, RegularizedEvolution
from evoforge.search.seeds import derive_seed

BENCHMARK_FILE = "benchmark.jsonl"


class ProxySettings(BaseModel):
    """The ``proxy:`` section: the zero-cost proxies computed for every cell, the minibatch size, the network seed."""

    model_config = ConfigDict(extra="forbid")

    names: list[str] = Field(default_factory=lambda: ["naswot"], description="proxies computed for every cell")
    batch_size: int = Field(128, ge=2, description="the one minibatch every cell is scored on (paper: 128)")
    seed: int = Field(0, ge=0, description="network initialisation seed for the proxies")

    @model_validator(mode="after")
    def _known(self) -> "ProxySettings":
        unknown = [name for name in self.names if name not in proxies.PROXIES]
        if unknown:
            raise ValueError(f"unknown proxies {unknown}; known: {', '.join(proxies.PROXIES)}")
        return self


class GroundTruthSettings(TrainingSettings):
    """The ``training:`` section: the training schedule, and the seeds whose test accuracies are averaged."""

    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, description="accuracy = mean over seeds")


class NASSearchSettings(BaseModel):
    """The ``search:`` section of ``experiment: nas``: random-N, REA or AREA, the fitness (a proxy or trained
    accuracy) and the search's budget, population and tournament.
    """

    model_config = ConfigDict(extra="forbid")

    algorithm: Literal["random", "rea", "area"] = "random"
    fitness: str | None = Field(
        None, description="a proxy name or 'accuracy' (trained); default: naswot for random, accuracy otherwise")
    generations: int = Field(10, ge=1, description="steps; each scores `children` cells")
    children: int = Field(10, ge=1, description="cells scored per step (random: the batch)")
    population_size: int = Field(10, ge=1, description="REA / AREA population (Mellor et al.: 10)")
    sample_size: int = Field(3, ge=1, description="REA tournament size")
    area_candidates: int = Field(20, ge=1, description="AREA: untrained cells screened for the initial population")
    train_final: bool = Field(False, description="after the search, train the best cell found with `training` "
                                                 "(mean test accuracy over training.seeds) and record it in "
                                                 "summary.json as final_accuracy, with final_cell")

    @model_validator(mode="after")
    def _tournament_fits(self) -> "NASSearchSettings":
        if self.sample_size > self.population_size:
            raise ValueError(f"search.sample_size ({self.sample_size}) must not exceed search.population_size "
                             f"({self.population_size})")
        return self

    @property
    def fitness_name(self) -> str:
        """The fitness in use: ``search.fitness``, or naswot for random-N and trained accuracy for REA / AREA."""
        return self.fitness or ("naswot" if self.algorithm == "random" else "accuracy")


class NASConfig(BaseRunConfig):
    """Config of ``experiment: nas``: architecture search over NAS-Bench-201 cells (Mellor et al. 2021)."""

    experiment: Literal["nas"]
    data: DataSettings = DataSettings()
    network: NetworkSettings = NetworkSettings()
    training: GroundTruthSettings = GroundTruthSettings()
    proxy: ProxySettings = ProxySettings()
    search: NASSearchSettings = NASSearchSettings()

    @model_validator(mode="after")
    def _fitness_known(self) -> "NASConfig":
        name = self.search.fitness_name
        if name != "accuracy" and name not in proxies.PROXIES:
            raise ValueError(f"search.fitness must be 'accuracy' or a proxy ({', '.join(proxies.PROXIES)}), "
                             f"got {name!r}")
        return self


class BenchmarkSettings(BaseModel):
    """The ``benchmark:`` section: how many distinct cells, their sampling seed, chunking, and the random-N
    sizes and repeats of the report.
    """

    model_config = ConfigDict(extra="forbid")

    architectures: int = Field(200, ge=2, le=NUM_CELLS, description="distinct cells sampled uniformly")
    sample_seed: int = Field(0, ge=0)
    chunk: int = Field(8, ge=1, description="cells handed to the pool at a time (results are saved per chunk)")
    select_n: list[int] = Field(default_factory=lambda: [10, 100], description="random-N sizes in the report")
    repeats: int = Field(500, ge=1, description="random-N repeats in the report (paper: 500)")


class NASBenchmarkConfig(BaseRunConfig):
    """Config of ``experiment: nas_benchmark``: every proxy and the trained accuracy of many cells, for the
    correlation report.
    """

    experiment: Literal["nas_benchmark"]
    data: DataSettings = DataSettings()
    network: NetworkSettings = NetworkSettings()
    training: GroundTruthSettings = GroundTruthSettings()
    proxy: ProxySettings = ProxySettings(names=list(proxies.PROXIES))
    benchmark: BenchmarkSettings = BenchmarkSettings()


# -- evaluation ------------------------------------------------------------------------------------------------------
def proxy_batch(data: ImageData, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed minibatch: the first ``batch_size`` training images (the split is already a permutation)."""
    if len(data.train_y) < batch_size:
        raise ValueError(f"proxy.batch_size {batch_size} exceeds the {len(data.train_y)} training images")
    return data.train_x[:batch_size].contiguous(), data.train_y[:batch_size].contiguous()


class ArchitectureEvaluator(Evaluator):
    """Scores cells: the configured proxies on the fixed minibatch and, if ``train``, the trained accuracy."""

    def __init__(self, data: DataSettings, network: NetworkSettings, training: GroundTruthSettings,
                 proxy: ProxySettings, fitness: str, train: bool) -> None:
        self.data_settings, self.network, self.training, self.proxy = data, network, training, proxy
        self.fitness, self.train = fitness, train

    def setup(self) -> None:
        torch.set_num_threads(1)  # one actor per core
        self.data = load_data(self.data_settings)
        self.inputs, self.labels = proxy_batch(self.data, self.proxy.batch_size)

    def score(self, cell: Cell) -> dict[str, float]:
        """Every configured proxy of ``cell`` (and its time), plus the mean trained test accuracy if ``train``."""
        metrics: dict[str, float] = {}
        names = list(dict.fromkeys([*self.proxy.names, *([self.fitness] if self.fitness != "accuracy" else [])]))
        for name in names:
            started = time.perf_counter()
            metrics[name] = proxies.score(cell, [name], self.inputs, self.labels, self.data.num_classes,
                                          self.network.channels, self.network.cells_per_stage, self.proxy.seed)[name]
            metrics[f"{name}_seconds"] = time.perf_counter() - started
        if self.train:
            runs = [train_and_test(cell, self.data, self.network, self.training, seed) for seed in self.training.seeds]
            for seed, run in zip(self.training.seeds, runs):
                metrics[f"accuracy_seed{seed}"] = run["accuracy"]
            metrics["accuracy"] = float(np.mean([run["accuracy"] for run in runs]))
            metrics["train_seconds"] = float(sum(run["train_seconds"] for run in runs))
        return metrics

    def evaluate(self, genomes: Sequence[Cell], seeds: Sequence[int]) -> list[Evaluation]:
        results = []
        for cell in genomes:
            metrics = self.score(cell)
            fitness = metrics[self.fitness]
            # a singular NASWOT kernel (-inf) is a legitimate worst score, not a failure
            results.append(Evaluation(fitness=-1e300 if fitness == -np.inf else fitness, metrics=metrics))
        return results


# -- the search experiment ---------------------------------------------------------------------------------------
class NASExperiment:
    """``experiment: nas``: random-N (Algorithm 1), REA (Real et al. 2019) or AREA (Algorithm 2) over cells."""

    config_class = NASConfig

    def __init__(self, config: NASConfig) -> None:
        self.config = config
        self.settings = config.run_settings(config.search.generations, None)

    def evaluator_factory(self) -> partial[ArchitectureEvaluator]:
        """A picklable factory of :class:`ArchitectureEvaluator` scoring the search's fitness (training only for
        accuracy).
        """
        fitness = self.config.search.fitness_name
        return partial(ArchitectureEvaluator, self.config.data, self.config.network, self.config.training,
                       self.config.proxy, fitness, fitness == "accuracy")

    def make_searcher(self) -> RandomSampling | RegularizedEvolution:
        """:class:`RandomSampling` of random cells, or regularized evolution from random cells (REA) or from
        AREA's screened population.
        """
        search, seed = self.config.search, derive_seed(self.config.seed, 1)
        if search.algorithm == "random":
            return RandomSampling(Cell.random, search.children, seed)
        rng = np.random.default_rng(derive_seed(self.config.seed, 2))
        if search.algorithm == "rea":
            initial = [Cell.random(rng) for _ in range(search.population_size)]
        else:
            initial = self.area_initial_population(rng)
        return RegularizedEvolution(initial, search.population_size, search.sample_size, search.children, seed)

    def final_summary(self, best_genome: Cell | None, best_center: Any) -> dict[str, Any]:
        """With ``search.train_final``: the test accuracy of the cell the search picked (its best-scoring sample),
        trained from scratch with the configured schedule, mean over ``training.seeds`` -- what a proxy search is
        judged by (Mellor et al. 2021 report the trained accuracy of the architecture each search returns)."""
        if not self.config.search.train_final or best_genome is None:
            return {}
        data = load_data(self.config.data)
        runs = [train_and_test(best_genome, data, self.config.network, self.config.training, seed)
                for seed in self.config.training.seeds]
        return {"final_cell": str(best_genome),
                "final_accuracy": float(np.mean([run["accuracy"] for run in runs])),
                "final_accuracy_seeds": [float(run["accuracy"]) for run in runs],
                "final_train_seconds": float(sum(run["train_seconds"] for run in runs))}

    def area_initial_population(self, rng: np.random.Generator) -> list[Cell]:
        """AREA's screening: the ``population_size`` best NASWOT scores of ``area_candidates`` random cells
        (scored here, in the driver; deterministic, so a resumed run screens to the same population)."""
        search = self.config.search
        if search.area_candidates < search.population_size:
            raise ValueError("search.area_candidates must be >= search.population_size")
        evaluator = ArchitectureEvaluator(self.config.data, self.config.network, self.config.training,
                                          self.config.proxy.model_copy(update={"names": []}), "naswot", False)
        evaluator.setup()
        candidates = [Cell.random(rng) for _ in range(search.area_candidates)]
        scores = [e.fitness for e in evaluator.evaluate(candidates, [0] * len(candidates))]
        order = np.argsort(scores, kind="stable")[::-1][:search.population_size]
        return [candidates[int(i)] for i in order]


# -- the benchmark builder and its report -------------------------------------------------------------------------
class NASBenchmarkExperiment:
    """``experiment: nas_benchmark``: its own loop (:meth:`run`) appends every cell's proxies and accuracy to
    benchmark.jsonl, then writes the report; ``benchmark.architectures`` is what ``resume --generations`` extends.
    """

    config_class = NASBenchmarkConfig
    budget_key = "benchmark.architectures"  # what `evoforge resume --generations N` extends

    def __init__(self, config: NASBenchmarkConfig) -> None:
        self.config = config
        self.settings = config.run_settings(1, None)

    def evaluator_factory(self) -> partial[ArchitectureEvaluator]:
        """A picklable factory of :class:`ArchitectureEvaluator` computing every proxy and the trained accuracy."""
        return partial(ArchitectureEvaluator, self.config.data, self.config.network, self.config.training,
                       self.config.proxy, "accuracy", True)

    @staticmethod
    def describe(summary: dict[str, Any]) -> str:
        """One line on a finished benchmark: cells trained and each proxy's Kendall tau."""
        taus = ", ".join(f"{name} {tau:.3f}" for name, tau in summary["kendall_tau"].items())
        return f"{summary['architectures']} architectures trained; Kendall tau {taus}"

    def cells(self) -> list[Cell]:
        """The sample: distinct cells drawn uniformly without replacement (a prefix of one fixed permutation,
        so a benchmark extended with ``resume --generations N`` keeps the cells it has)."""
        order = np.random.default_rng(self.config.benchmark.sample_seed).permutation(NUM_CELLS)
        return [Cell.from_index(int(i)) for i in order[:self.config.benchmark.architectures]]

    def run(self, run_dir: Path, address: str | None = None, progress: bool = True) -> dict[str, Any]:
        """Build (or continue) the benchmark in ``run_dir`` on the evaluator pool, chunk by chunk, then write
        report.md, report.json and proxies.png; returns the summary.
        """
        from rich.progress import Progress

        from evoforge.search.pool import EvaluatorPool

        run_dir = Path(run_dir)
        done = read_benchmark(run_dir)
        path = run_dir / BENCHMARK_FILE
        if path.is_file() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            with open(path, "a") as handle:  # a line torn by an interruption: start the next row on a new line
                handle.write("\n")
        todo = [cell for cell in self.cells() if str(cell) not in done]
        began = time.perf_counter()
        if todo:
            pool_settings = self.config.pool
            pool = EvaluatorPool(self.evaluator_factory(), backend=pool_settings.backend,
                                 num_workers=pool_settings.workers, chunk_size=1, address=address,
                                 max_restarts=pool_settings.max_restarts)
            pool.start()
            try:
                with Progress(disable=not progress) as bar:
                    task = bar.add_task(f"{self.config.name}: training", total=self.config.benchmark.architectures,
                                        completed=len(done))
                    step = self.config.benchmark.chunk
                    for start in range(0, len(todo), step):
                        chunk = todo[start:start + step]
                        evaluations = pool.evaluate(chunk, [0] * len(chunk))
                        with open(run_dir / BENCHMARK_FILE, "a") as handle:
                            for cell, evaluation in zip(chunk, evaluations):
                                row = {"arch": str(cell), "failed": evaluation.failed, "error": evaluation.error,
                                       **evaluation.metrics}
                                handle.write(json.dumps(_finite(row)) + "\n")
                        bar.update(task, advance=len(chunk))
            finally:
                pool.shutdown()
        report = write_report(self.config, run_dir)
        summary = {"name": self.config.name, "status": "completed", "architectures": report["architectures"],
                   "kendall_tau": {k: v["kendall_tau"] for k, v in report["correlations"].items()},
                   "wall_time_s": time.perf_counter() - began}
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}


def read_benchmark(run_dir: Path) -> dict[str, dict[str, Any]]:
    """arch string -> its row, from ``benchmark.jsonl`` (later rows win; a torn last line is ignored)."""
    rows: dict[str, dict[str, Any]] = {}
    path = Path(run_dir) / BENCHMARK_FILE
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not row.get("failed"):
                rows[row["arch"]] = row
    return rows


def random_n_selection(proxy: np.ndarray, accuracy: np.ndarray, n: int, repeats: int, seed: int
                       ) -> dict[str, float]:
    """NASWOT's Algorithm 1 replayed on the benchmark: ``repeats`` times, draw n cells, take the best proxy;
    accuracy of that pick vs a random pick vs the best in the sample (mean and std over repeats)."""
    rng = np.random.default_rng(seed)
    picked, random_pick, best = [], [], []
    scores = np.where(np.isfinite(proxy), proxy, -np.inf)
    for _ in range(repeats):
        sample = rng.choice(len(accuracy), size=n, replace=False)
        picked.append(accuracy[sample[int(np.argmax(scores[sample]))]])
        random_pick.append(accuracy[sample[0]])
        best.append(accuracy[sample].max())
    return {"n": n, "repeats": repeats,
            "proxy_pick_mean": float(np.mean(picked)), "proxy_pick_std": float(np.std(picked)),
            "random_pick_mean": float(np.mean(random_pick)), "random_pick_std": float(np.std(random_pick)),
            "best_in_sample_mean": float(np.mean(best)), "best_in_sample_std": float(np.std(best))}


def write_report(config: NASBenchmarkConfig, run_dir: Path) -> dict[str, Any]:
    """Correlation table (Kendall tau, Spearman rho per proxy), random-N picks, a scatter plot per proxy:
    report.json, report.md and proxies.png in ``run_dir``."""
    rows = list(read_benchmark(run_dir).values())
    if len(rows) < 2:
        raise ValueError(f"{run_dir}: fewer than two trained architectures to report on")
    report = benchmark_report(config, rows)
    (Path(run_dir) / "report.json").write_text(json.dumps(report, indent=2))
    (Path(run_dir) / "report.md").write_text(report_markdown(report))
    plot_proxies(rows, config.proxy.names, Path(run_dir) / "proxies.png")
    return report


def benchmark_report(config: NASBenchmarkConfig, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The numbers of :func:`write_report` for benchmark rows (at least two), without writing anything."""
    from scipy.stats import kendalltau, spearmanr

    accuracy = np.array([row["accuracy"] for row in rows], dtype=np.float64)
    correlations = {}
    for name in config.proxy.names:
        values = np.array([np.nan if row.get(name) is None else row[name] for row in rows], dtype=np.float64)
        finite = np.isfinite(values)
        tau = kendalltau(values[finite], accuracy[finite]).statistic if finite.sum() > 1 else np.nan
        rho = spearmanr(values[finite], accuracy[finite]).statistic if finite.sum() > 1 else np.nan
        correlations[name] = {"kendall_tau": float(tau), "spearman_rho": float(rho), "n": int(finite.sum()),
                              "seconds_mean": float(np.mean([row.get(f"{name}_seconds", np.nan) for row in rows]))}
    selection = []
    if "naswot" in config.proxy.names:
        naswot = np.array([np.nan if row.get("naswot") is None else row["naswot"] for row in rows])
        for n in config.benchmark.select_n:
            if n <= len(rows):
                selection.append(random_n_selection(naswot, accuracy, n, config.benchmark.repeats, config.seed))
    seeds = config.training.seeds
    seed_tau = None
    if len(seeds) >= 2:
        a = [row[f"accuracy_seed{seeds[0]}"] for row in rows]
        b = [row[f"accuracy_seed{seeds[1]}"] for row in rows]
        seed_tau = float(kendalltau(a, b).statistic)
    return {"architectures": len(rows), "accuracy_mean": float(accuracy.mean()),
            "accuracy_min": float(accuracy.min()), "accuracy_max": float(accuracy.max()),
            "train_seconds_mean": float(np.mean([row["train_seconds"] for row in rows])),
            "seed_to_seed_kendall_tau": seed_tau, "correlations": correlations, "random_n": selection}


def report_markdown(report: dict[str, Any]) -> str:
    """The benchmark report as Markdown: accuracy range, seed-to-seed tau, each proxy's correlations, random-N."""
    head = (f"{report['architectures']} architectures; trained accuracy {report['accuracy_mean']:.1f} % mean "
            f"(range {report['accuracy_min']:.1f}-{report['accuracy_max']:.1f})")
    if report["seed_to_seed_kendall_tau"] is not None:
        head += (f"; Kendall tau between two training seeds {report['seed_to_seed_kendall_tau']:.3f} "
                 "(the ground truth's own noise ceiling)")
    lines = [head, "", "| proxy | Kendall tau | Spearman rho | n | seconds per cell |", "|---|---|---|---|---|"]
    for name, c in report["correlations"].items():
        lines.append(f"| {name} | {c['kendall_tau']:.3f} | {c['spearman_rho']:.3f} | {c['n']} | "
                     f"{c['seconds_mean']:.3f} |")
    if report["random_n"]:
        lines += ["", "| N | NASWOT pick (accuracy %) | random pick | best in sample | repeats |",
                  "|---|---|---|---|---|"]
        for s in report["random_n"]:
            lines.append(f"| {s['n']} | {s['proxy_pick_mean']:.2f} +- {s['proxy_pick_std']:.2f} | "
                         f"{s['random_pick_mean']:.2f} +- {s['random_pick_std']:.2f} | "
                         f"{s['best_in_sample_mean']:.2f} +- {s['best_in_sample_std']:.2f} | {s['repeats']} |")
    return "\n".join(lines) + "\n"


def plot_proxies(rows: list[dict[str, Any]], names: Sequence[str], path: Path) -> Path:
    """One scatter per proxy of its score against trained accuracy, into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(4, len(names))
    lines = -(-len(names) // columns)
    fig, axes = plt.subplots(lines, columns, figsize=(3.2 * columns, 2.8 * lines), squeeze=False)
    accuracy = [row["accuracy"] for row in rows]
    for ax, name in zip(axes.flat, names):
        values = [row.get(name) for row in rows]
        keep = [(v, a) for v, a in zip(values, accuracy) if v is not None and np.isfinite(v)]
        log = name in ("synflow", "snip", "grad_norm", "params", "flops") and all(v > 0 for v, _ in keep)
        ax.scatter([v for v, _ in keep], [a for _, a in keep], s=6, alpha=0.6)
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel("trained accuracy (%)")
    for ax in list(axes.flat)[len(names):]:
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
