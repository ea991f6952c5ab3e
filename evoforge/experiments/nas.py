"""Neural architecture search without training (Mellor et al. 2021) on the NAS-Bench-201 cell space.

Two experiment kinds, both runs of the one engine loop (:class:`evoforge.search.run.Run`):

* ``nas`` -- a search: ``random`` (score N random cells untrained, keep the best: NASWOT's Algorithm 1),
  ``rea`` (regularized evolution with trained accuracy on the validation split as fitness; the test split is only
  reported) or ``area`` (REA whose initial population is the best-scoring ``area_candidates`` untrained cells:
  Algorithm 2). With ``search.fitness: benchmark`` the
  fitness is NAS-Bench-201's own validation accuracy looked up (``search.benchmark_column``, by default the
  12-epoch CIFAR-10 validation accuracy its search protocol trains for), the budget is counted in cells
  (``search.budget_cells``), and summary.json reports the pick -- the best cell by validation accuracy -- by
  its 200-epoch test accuracies on CIFAR-10, CIFAR-100 and ImageNet16-120 (selection on validation, report on
  test: Dong & Yang 2020, Sec. 5; Mellor et al. 2021, Table 2).
* ``nas_benchmark`` -- the correlation benchmark, in :mod:`evoforge.experiments.nas_benchmark`; it shares this
  module's proxy settings and :class:`ArchitectureEvaluator`.

A cell's scores are a function of the cell and the config only (proxy seed, training seeds), never of the
generation, the evaluation seed or its place in a batch, so a cell scores the same wherever it is met -- as a
lookup in the real NAS-Bench-201 would.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from evoforge.devices import resolve_device
from evoforge.experiments.base import Experiment, InspectOptions
from evoforge.experiments.config import BaseRunConfig, validate
from evoforge.nas import proxies
from evoforge.nas.data import DataSettings, ImageData, load_data
from evoforge.nas.diagrams import cells_figure, scores_figure
from evoforge.nas.nasbench201 import NASBench201
from evoforge.nas.space import Cell
from evoforge.nas.training import NetworkSettings, TrainingSettings, train_and_test
from evoforge.search.evaluation import Evaluation, Evaluator
from evoforge.search.evolution import RandomSampling, RegularizedEvolution, best_distinct
from evoforge.search.run import RunOutcome
from evoforge.search.rundir import RunDir
from evoforge.search.seeds import RunStream, run_seed


class ProxySettings(BaseModel):
    """The ``proxy:`` section: the zero-cost proxies computed for every cell, the minibatch size, the network seed."""

    model_config = ConfigDict(extra="forbid")

    names: list[str] = Field(default_factory=lambda: ["naswot"], description="proxies computed for every cell")
    batch_size: int = Field(128, ge=2, description="the one minibatch every cell is scored on (paper: 128)")
    seed: int = Field(0, ge=0, description="network initialisation seed for the proxies")

    @model_validator(mode="after")
    def _known(self) -> ProxySettings:
        unknown = [name for name in self.names if name not in proxies.PROXIES]
        if unknown:
            raise ValueError(f"unknown proxies {unknown}; known: {', '.join(proxies.PROXIES)}")
        return self


class GroundTruthSettings(TrainingSettings):
    """The ``training:`` section: the training schedule, and the seeds whose test accuracies are averaged."""

    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, description="accuracy = mean over seeds")


class NASSearchSettings(BaseModel):
    """The ``search:`` section of ``experiment: nas``: random-N, REA or AREA, the fitness (a proxy, trained
    accuracy or NAS-Bench-201's looked-up validation accuracy) and the search's budget, population and tournament.

    The budget is ``generations`` steps of ``children`` cells, or, with ``budget_cells`` = B, exactly B cells
    evaluated: for random search ceil(B / children) steps; for REA / AREA the initial population of P cells
    (ceil(P / children) steps) and then children until B cells in all (ceil((B - P) / children) steps), the last
    step cut short so that no more than B are evaluated. AREA's ``area_candidates`` untrained screenings are not
    counted (they stand for seconds of NASWOT, not training).
    """

    model_config = ConfigDict(extra="forbid")

    algorithm: Literal["random", "rea", "area"] = "random"
    fitness: str | None = Field(
        None, description="a proxy name, 'accuracy' (trained on `data`; its validation split) or 'benchmark' "
                          "(NAS-Bench-201's search.benchmark_column looked up); default: naswot for random, "
                          "accuracy otherwise")
    benchmark_column: str = Field(
        "cifar10_val_12", description="fitness benchmark: the table's validation column the search selects on "
                                      "(NAS-Bench-201's protocol: the 12-epoch CIFAR-10 validation accuracy)")
    budget_cells: int | None = Field(
        None, ge=1, description="the budget in cells evaluated (REA / AREA: the initial population, then children "
                                "until it is spent); replaces search.generations")
    report_benchmark: bool = Field(
        False, description="record the picked cell's NAS-Bench-201 accuracies in summary.json as final_<column> "
                           "(always on with fitness benchmark)")
    generations: int = Field(10, ge=1, description="steps; each scores `children` cells")
    children: int = Field(10, ge=1, description="cells scored per step (random: the batch)")
    population_size: int = Field(10, ge=1, description="REA / AREA population (Mellor et al.: 10)")
    sample_size: int = Field(3, ge=1, description="REA tournament size")
    area_candidates: int = Field(20, ge=1, description="AREA: untrained cells screened for the initial population")
    train_final: bool = Field(False, description="after the search, train the best cell found with `training` "
                                                 "(mean test accuracy over training.seeds) and record it in "
                                                 "summary.json as final_accuracy, with final_cell, "
                                                 "final_val_accuracy and the split sizes")

    @model_validator(mode="after")
    def _tournament_fits(self) -> NASSearchSettings:
        if self.sample_size > self.population_size:
            raise ValueError(f"search.sample_size ({self.sample_size}) must not exceed search.population_size "
                             f"({self.population_size})")
        return self

    @property
    def fitness_name(self) -> str:
        """The fitness in use: ``search.fitness``, or naswot for random-N and trained accuracy for REA / AREA."""
        return self.fitness or ("naswot" if self.algorithm == "random" else "accuracy")

    @property
    def fitness_label(self) -> str:
        """The fitness as the metrics name it: the benchmark column for fitness benchmark, else the fitness."""
        return self.benchmark_column if self.fitness_name == "benchmark" else self.fitness_name

    @property
    def reports_benchmark(self) -> bool:
        """Whether summary.json gets the pick's NAS-Bench-201 accuracies (fitness benchmark or report_benchmark)."""
        return self.report_benchmark or self.fitness_name == "benchmark"

    def _initial_steps(self) -> int:
        """Steps REA / AREA spend on their initial population (scored ``children`` at a time); 0 for random."""
        return 0 if self.algorithm == "random" else -(-self.population_size // self.children)

    def generations_for(self, cells: int) -> int:
        """Steps that evaluate ``cells`` cells: ceil(cells / children) for random search and within REA's
        initial population, else ceil(P / children) + ceil((cells - P) / children)."""
        initial = self._initial_steps()
        if initial == 0 or cells <= self.population_size:
            return -(-cells // self.children)
        return initial + -(-(cells - self.population_size) // self.children)

    def cells_for(self, generations: int) -> int:
        """Cells that ``generations`` steps evaluate (the inverse of :meth:`generations_for`)."""
        initial = self._initial_steps()
        if generations <= initial:
            return min(generations * self.children, self.population_size)
        return (self.population_size if initial else 0) + (generations - initial) * self.children


class NASConfig(BaseRunConfig):
    """Config of ``experiment: nas``: architecture search over NAS-Bench-201 cells (Mellor et al. 2021)."""

    experiment: Literal["nas"]
    data: DataSettings = DataSettings()
    network: NetworkSettings = NetworkSettings()
    training: GroundTruthSettings = GroundTruthSettings()
    proxy: ProxySettings = ProxySettings()
    search: NASSearchSettings = NASSearchSettings()

    @model_validator(mode="after")
    def _fitness_known(self) -> NASConfig:
        name = self.search.fitness_name
        if name not in ("accuracy", "benchmark") and name not in proxies.PROXIES:
            raise ValueError(f"search.fitness must be 'accuracy', 'benchmark' or a proxy "
                             f"({', '.join(proxies.PROXIES)}), got {name!r}")
        if name == "benchmark":
            column = self.search.benchmark_column
            # selection on validation, report on test: a test column as fitness would select on test
            valid = [c for c in NASBench201.shipped().columns if "_val_" in c]
            if column not in valid:
                raise ValueError(f"search.benchmark_column must be one of the table's validation columns "
                                 f"({', '.join(valid)}), got {column!r}")
        return self


# -- evaluation ------------------------------------------------------------------------------------------------------
def proxy_batch(data: ImageData, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed minibatch: the first ``batch_size`` training images (the split is already a permutation)."""
    if len(data.train_y) < batch_size:
        raise ValueError(f"proxy.batch_size {batch_size} exceeds the {len(data.train_y)} training images")
    return data.train_x[:batch_size].contiguous(), data.train_y[:batch_size].contiguous()


class ArchitectureEvaluator(Evaluator):
    """Scores cells: the configured proxies on the fixed minibatch and, if ``train``, the trained accuracy.

    Deterministic by design (:attr:`deterministic`): a cell's scores depend only on the cell and the config's
    ``proxy.seed`` and ``training.seeds``, as a lookup in the real NAS-Bench-201 would, so the evaluation seeds
    the run hands it are ignored and a cell scores the same in any generation, batch or worker.
    """

    deterministic: ClassVar[bool] = True  # the seeds of evaluate() are not used

    def __init__(self, data: DataSettings, network: NetworkSettings, training: GroundTruthSettings,
                 proxy: ProxySettings, fitness: str, train: bool, lookup: bool = False,
                 benchmark_column: str | None = None, device: str = "auto") -> None:
        self.data_settings, self.network, self.training, self.proxy = data, network, training, proxy
        self.device_spec = device
        self.fitness, self.train, self.lookup = fitness, train, lookup
        if fitness == "benchmark" and benchmark_column is None:
            raise ValueError("fitness benchmark needs a benchmark_column")
        self.benchmark_column = benchmark_column

    @property
    def proxy_names(self) -> list[str]:
        """The proxies :meth:`score` computes: the configured ones and the fitness when it is a proxy."""
        fitness = [self.fitness] if self.fitness in proxies.PROXIES else []
        return list(dict.fromkeys([*self.proxy.names, *fitness]))

    def setup(self) -> None:
        """Load the data and the fixed minibatch, unless nothing is scored or trained on them (pure lookups)."""
        torch.set_num_threads(1)  # one actor per core
        self.device = resolve_device(self.device_spec)
        if self.proxy_names or self.train:
            self.data = load_data(self.data_settings).to(self.device)
            self.inputs, self.labels = proxy_batch(self.data, self.proxy.batch_size)

    @property
    def fitness_key(self) -> str:
        """The metric that is the fitness: the benchmark column for fitness benchmark, the validation accuracy
        for trained accuracy (select on validation; the test accuracy is only reported), else the fitness name."""
        if self.fitness == "benchmark":
            return self.benchmark_column  # type: ignore[return-value]
        return "val_accuracy" if self.fitness == "accuracy" and self.train else self.fitness

    def score(self, cell: Cell) -> dict[str, float]:
        """Every configured proxy of ``cell`` (and its time), plus the mean trained validation and test accuracy
        if ``train``,
        the benchmark's validation column for fitness benchmark, and every table column if ``lookup``."""
        metrics: dict[str, float] = {}
        for name in self.proxy_names:
            started = time.perf_counter()
            metrics[name] = proxies.score(cell, [name], self.inputs, self.labels, self.data.num_classes,
                                          self.network.channels, self.network.cells_per_stage, self.proxy.seed)[name]
            metrics[f"{name}_seconds"] = time.perf_counter() - started
        if self.train:
            runs = [train_and_test(cell, self.data, self.network, self.training, seed) for seed in self.training.seeds]
            for seed, run in zip(self.training.seeds, runs):
                metrics[f"accuracy_seed{seed}"] = run["accuracy"]
            metrics["accuracy"] = float(np.mean([run["accuracy"] for run in runs]))
            metrics["val_accuracy"] = float(np.mean([run["val_accuracy"] for run in runs]))
            metrics["train_seconds"] = float(sum(run["train_seconds"] for run in runs))
        if self.lookup:  # NAS-Bench-201's own accuracies; `accuracy` is its 200-epoch CIFAR-10 test accuracy
            entry = NASBench201.shipped()[cell]
            metrics.update(entry.accuracies)
            metrics["accuracy"] = entry["cifar10_test_200"]
        if self.fitness == "benchmark":  # NAS-Bench-201's protocol: a lookup stands for training the cell
            metrics[self.fitness_key] = NASBench201.shipped()[cell][self.fitness_key]
        return metrics

    def evaluate(self, genomes: Sequence[Cell], seeds: Sequence[int]) -> list[Evaluation]:
        results = []
        for cell in genomes:  # seeds unused: see the class docstring
            metrics = self.score(cell)
            fitness = metrics[self.fitness_key]
            # a singular NASWOT kernel (-inf) is a legitimate worst score, not a failure
            results.append(Evaluation(fitness=-1e300 if fitness == -np.inf else fitness, metrics=metrics))
        return results


def _train_mean(cell: Cell, config: NASConfig) -> dict[str, Any]:
    """``cell`` trained from scratch with the configured schedule once per training seed."""
    data = load_data(config.data)
    runs = [train_and_test(cell, data, config.network, config.training, seed) for seed in config.training.seeds]
    return {"final_cell": str(cell), "final_accuracy": float(np.mean([run["accuracy"] for run in runs])),
            "final_accuracy_seeds": [float(run["accuracy"]) for run in runs],
            "final_val_accuracy": float(np.mean([run["val_accuracy"] for run in runs])),
            "final_split": data.describe(),
            "final_train_seconds": float(sum(run["train_seconds"] for run in runs))}


def benchmark_pick(cell: Cell, selected_on: str) -> dict[str, Any]:
    """What summary.json records of a search's pick: its string, its benchmark index, the fitness it was picked
    on, and every NAS-Bench-201 column as ``final_<column>`` -- above all the 200-epoch test accuracies
    ``final_cifar10_test_200``, ``final_cifar100_test_200``, ``final_imagenet16_test_200`` that Mellor et al.
    (2021, Table 2) and Dong & Yang (2020, Table 5) report a search by."""
    entry = NASBench201.shipped()[cell]
    return {"final_cell": str(cell), "final_benchmark_index": entry.index, "final_selected_on": selected_on,
            **{f"final_{column}": value for column, value in entry.accuracies.items()}}


class _CellBudget:
    """Caps a searcher at ``budget`` cells evaluated over the whole search (``None``: no cap).

    Each step proposes ``batch_attribute`` cells (RandomSampling's ``batch``, REA's ``children``); the step that
    would cross the budget proposes only the cells left. ``cells_evaluated`` counts every cell handed to the
    run (failures included: a failed training still spent its budget). The budget is configuration, not
    state: a resumed search keeps the budget it was built with (``resume --generations N`` may extend it)."""

    budget: int | None = None
    cells_evaluated: int = 0
    batch_attribute: ClassVar[str]

    def step(self, evaluate: Any) -> None:
        """One step of the searcher, cut to the cells the budget has left (none once it is spent)."""
        size = getattr(self, self.batch_attribute)
        left = size if self.budget is None else min(size, self.budget - self.cells_evaluated)
        if left <= 0:
            return

        def counted(genomes: list[Any]) -> list[Evaluation]:
            self.cells_evaluated += len(genomes)
            return evaluate(genomes)

        setattr(self, self.batch_attribute, left)
        try:
            super().step(counted)  # type: ignore[misc]
        finally:
            setattr(self, self.batch_attribute, size)

    def load_state_bytes(self, data: bytes) -> None:
        """Restore the searcher's state; the budget stays the one this searcher was built with."""
        budget = self.budget
        super().load_state_bytes(data)  # type: ignore[misc]
        self.budget = budget

    def metrics(self) -> dict[str, float]:
        """The searcher's own numbers, plus ``cells_evaluated`` under a budget."""
        numbers = dict(super().metrics())  # type: ignore[misc]
        if self.budget is not None:
            numbers["cells_evaluated"] = float(self.cells_evaluated)
        return numbers


class BudgetedSampling(_CellBudget, RandomSampling):
    """:class:`RandomSampling` of at most ``budget`` cells in all (random search under a cell budget, the
    paper's RS)."""

    batch_attribute = "batch"


class BudgetedEvolution(_CellBudget, RegularizedEvolution):
    """:class:`RegularizedEvolution` of at most ``budget`` cells in all, the initial population included
    (NAS-Bench-201's REA protocol counts every cell trained)."""

    batch_attribute = "children"


# -- the search experiment ---------------------------------------------------------------------------------------
class NASExperiment(Experiment):
    """``experiment: nas``: random-N (Algorithm 1), REA (Real et al. 2019) or AREA (Algorithm 2) over cells."""

    config_class = NASConfig

    def __init__(self, config: NASConfig) -> None:
        self.config = config
        search = config.search
        generations = search.generations if search.budget_cells is None else search.generations_for(
            search.budget_cells)
        self.settings = config.run_settings(generations, None)

    def evaluator_factory(self) -> partial[ArchitectureEvaluator]:
        """A picklable factory of :class:`ArchitectureEvaluator` scoring the search's fitness (training only for
        accuracy, a table lookup for benchmark).
        """
        search = self.config.search
        fitness = search.fitness_name
        column = search.benchmark_column if fitness == "benchmark" else None
        return partial(ArchitectureEvaluator, self.config.data, self.config.network, self.config.training,
                       self.config.proxy, fitness, fitness == "accuracy", benchmark_column=column,
                       device=self.config.device)

    def with_generations(self, generations: int) -> NASConfig:
        """The config with a budget of ``generations`` steps; under ``search.budget_cells``, the budget becomes
        the cells those steps evaluate (:meth:`NASSearchSettings.cells_for`)."""
        search = self.config.search
        if search.budget_cells is None:
            return super().with_generations(generations)  # type: ignore[return-value]
        data = self.config.model_dump(mode="json")
        data["search"]["budget_cells"] = search.cells_for(generations)
        return validate(self.config_class, data)

    def make_searcher(self) -> BudgetedSampling | BudgetedEvolution:
        """:class:`RandomSampling` of random cells, or regularized evolution from random cells (REA) or from
        AREA's screened population, each capped at ``search.budget_cells`` when it is set.
        """
        return self._searcher(screen=True)

    def _searcher(self, screen: bool) -> BudgetedSampling | BudgetedEvolution:
        search, seed = self.config.search, run_seed(self.config.seed, RunStream.SEARCHER)
        searcher: BudgetedSampling | BudgetedEvolution
        if search.algorithm == "random":
            searcher = BudgetedSampling(Cell.random, search.children, seed)
        else:
            rng = np.random.default_rng(run_seed(self.config.seed, RunStream.INITIAL_GENOME))
            if search.algorithm == "rea":
                initial = [Cell.random(rng) for _ in range(search.population_size)]
            else:  # without screening: a checkpoint's state replaces the initial population anyway
                initial = self.area_initial_population(rng) if screen else []
            searcher = BudgetedEvolution(initial, search.population_size, search.sample_size, search.children,
                                         seed)
        searcher.budget = search.budget_cells
        return searcher

    def load_searcher(self, run_dir: RunDir) -> BudgetedSampling | BudgetedEvolution:
        """The searcher of the newest valid checkpoint (AREA's screening is not redone for it)."""
        _, payload, _ = run_dir.load_checkpoint()
        searcher = self._searcher(screen=False)
        searcher.load_state_bytes(payload["searcher"])
        return searcher

    def final_summary(self, outcome: RunOutcome) -> dict[str, Any]:
        """What the search's pick (its best-scoring sample) is judged by (Mellor et al. 2021 report the accuracy
        of the architecture each search returns):

        * with fitness benchmark (or ``search.report_benchmark``): its NAS-Bench-201 columns
          (:func:`benchmark_pick`); the pick is the best cell by the validation column searched on, reported by
          its 200-epoch test accuracies -- selection on validation, report on test -- and the cells evaluated;
        * with ``search.train_final``: its test accuracy trained from scratch with the configured schedule, mean
          over ``training.seeds``."""
        search, best = self.config.search, outcome.best_genome
        if best is None:
            return {}
        summary: dict[str, Any] = {}
        if search.reports_benchmark:
            summary.update(benchmark_pick(best, search.fitness_label))
            summary["final_cells_evaluated"] = int(getattr(outcome.searcher, "cells_evaluated", 0))
        if search.train_final:
            summary.update(_train_mean(best, self.config))
        return summary

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
        seeds = [run_seed(self.config.seed, RunStream.SCREENING, index) for index in range(len(candidates))]
        scores = [e.fitness for e in evaluator.evaluate(candidates, seeds)]
        order = np.argsort(scores, kind="stable")[::-1][:search.population_size]
        return [candidates[int(i)] for i in order]

    def inspect(self, run_dir: RunDir, options: InspectOptions) -> list[str]:
        """The best cell sampled, as a NAS-Bench-201 string (to look up in the real benchmark), with its score."""
        best = run_dir.read_best(prefer="sample")
        if best is None:
            return []
        score = "-" if best.score is None else f"{best.score:.3f}"
        line = f"best cell: {best.genome}  ({self.config.search.fitness_label} {score}, generation {best.generation})"
        return [line]

    def report_sections(self, report: Any, run_dir: RunDir, media: bool) -> None:
        """The best cells as DAG diagrams and every scored cell's fitness in the order the search sampled it."""
        section = report.section("Architectures")
        searcher = self.saved_searcher(run_dir)
        if searcher is None or not searcher.history:
            section.note("no checkpoint with scored cells yet")
            return
        fitness_name = self.config.search.fitness_label
        ranked = best_distinct(searcher.history, 20)
        section.figure(cells_figure([(cell, f"#{k + 1}: {fitness_name} {fitness:.4g}")
                                     for k, (cell, fitness) in enumerate(ranked[:6])]),
                       "The best distinct cells: nodes 0 (input) to 3 (output), one arc per edge with its operation; "
                       "dashed arcs are 'none'.")
        section.table(["rank", "cell (NAS-Bench-201 string)", fitness_name],
                      [(k + 1, str(cell), fitness) for k, (cell, fitness) in enumerate(ranked)])
        values = [fitness for _, fitness in searcher.history]
        section.figure(scores_figure(values, fitness_name),
                       f"Every scored cell's {fitness_name} in sampling order ({len(values)} cells).")


# -- the benchmark -----------------------------------------------------------------------------------------------
