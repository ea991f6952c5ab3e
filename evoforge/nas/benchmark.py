"""The offline NAS benchmark: a sweep over a fixed sample of cells, its rows, and the statistics of its report.

Mellor et al. 2021 (arXiv 2006.04647) judge a zero-cost proxy by how well it ranks architectures against their
trained accuracy (Kendall tau, Spearman rho over a sample of NAS-Bench-201 cells) and by what a random-N search
with it picks (their Algorithm 1 replayed on the sample). Here the ground truth is built, not looked up:

* :func:`sample_cells` -- the sample: a prefix of one fixed permutation of the 15,625 cells, so a benchmark
  extended to more cells keeps the ones it has;
* :class:`BenchmarkSweep` -- a searcher for :class:`evoforge.search.run.Run` over that fixed list: each step
  scores the next chunk of cells with one batch and keeps every result as a row (failed ones too, marked);
* :func:`benchmark_report`, :func:`random_n_selection`, :func:`report_markdown` -- the statistics, computed on
  the rows that did not fail;
* :func:`rows_text`, :func:`parse_rows`, :func:`read_rows` -- the rows as JSON lines (``benchmark.jsonl``).
"""

from __future__ import annotations

import io
import json
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evoforge.nas.diagrams import proxies_figure
from evoforge.nas.space import NUM_CELLS, Cell
from evoforge.search.evaluation import Evaluation
from evoforge.search.storage import atomic_write_bytes, jsonable

BENCHMARK_FILE = "benchmark.jsonl"  # one row per cell, rewritten whole after every generation
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
PROXIES_PNG = "proxies.png"

Row = dict[str, Any]


def sample_cells(architectures: int, sample_seed: int) -> list[Cell]:
    """``architectures`` distinct cells drawn uniformly without replacement: the first ones of one fixed
    permutation of the space (seeded by ``sample_seed``), so a larger sample starts with a smaller one."""
    order = np.random.default_rng(sample_seed).permutation(NUM_CELLS)
    return [Cell.from_index(int(i)) for i in order[:architectures]]


def benchmark_row(cell: Cell, evaluation: Evaluation) -> Row:
    """One row of the benchmark: the cell's string, whether it failed (and why), and every metric it got."""
    return {"arch": str(cell), "failed": evaluation.failed, "error": evaluation.error, **evaluation.metrics}


class BenchmarkSweep:
    """A searcher over a fixed list of cells, one chunk a generation (the run's searcher contract).

    Step g brings the benchmark up to its first ``min((g + 1) * chunk, len(cells))`` cells: it scores, in one
    ``evaluate`` call, those of them not scored yet. A benchmark extended to more cells (a longer ``cells``,
    same state) therefore continues with the cells it lacks, even when its last chunk was a short one. Every
    result is kept as a row, failed evaluations included (``failed`` set, ``error`` saying why); the report
    leaves those out. There is no center and nothing random: the state is the rows and the step count.
    """

    def __init__(self, cells: Sequence[Cell], chunk: int) -> None:
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        self.cells, self.chunk = list(cells), chunk
        self.steps = 0
        self.rows: list[Row] = []

    @property
    def center(self) -> None:
        """None: there is no center to re-score, every cell is scored once."""
        return None

    def step(self, evaluate: Callable[[list[Cell]], list[Evaluation]]) -> None:
        """Score the cells of this step's chunk (and any earlier one left unscored) with one batch."""
        done = {row["arch"] for row in self.rows}
        target = self.cells[:min((self.steps + 1) * self.chunk, len(self.cells))]
        todo = [cell for cell in target if str(cell) not in done]
        evaluations = evaluate(todo)
        self.rows.extend(benchmark_row(cell, evaluation) for cell, evaluation in zip(todo, evaluations))
        self.steps += 1

    def metrics(self) -> dict[str, float]:
        """Cells scored so far, those of them that failed, and the cells planned."""
        return {"cells_done": float(len(self.rows)), "cells_failed": float(sum(r["failed"] for r in self.rows)),
                "cells_planned": float(len(self.cells))}

    def state_bytes(self) -> bytes:
        """The rows and the step count (the cells themselves come from the config)."""
        return pickle.dumps({"steps": self.steps, "rows": self.rows})

    def load_state_bytes(self, data: bytes) -> None:
        """Restore :meth:`state_bytes`; with a longer list of cells the sweep continues with those it lacks."""
        state = pickle.loads(data)
        self.steps, self.rows = int(state["steps"]), list(state["rows"])


# -- rows as JSON lines ----------------------------------------------------------------------------------------
def rows_text(rows: Sequence[Row]) -> str:
    """The rows as JSON lines (non-finite numbers as null)."""
    return "".join(json.dumps(jsonable(row)) + "\n" for row in rows)


def parse_rows(text: str) -> list[Row]:
    """Rows of JSON-lines text in order; a torn line (a process killed mid-write) or any line that is not a
    JSON object is skipped."""
    rows = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and "arch" in row:
            rows.append(row)
    return rows


def read_rows(path: Path) -> list[Row]:
    """The rows of a benchmark file (:func:`parse_rows`), or [] when there is none."""
    path = Path(path)
    return parse_rows(path.read_text()) if path.is_file() else []


def trained_rows(rows: Sequence[Row]) -> list[Row]:
    """The rows the statistics use: not failed and with an accuracy, one per cell (a later row wins)."""
    kept: dict[str, Row] = {}
    for row in rows:
        if not row.get("failed") and row.get("accuracy") is not None:
            kept[row["arch"]] = row
    return list(kept.values())


# -- statistics ------------------------------------------------------------------------------------------------
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


def _column(rows: Sequence[Row], name: str) -> np.ndarray:
    return np.array([np.nan if row.get(name) is None else row[name] for row in rows], dtype=np.float64)


# NAS-Bench-201's 200-epoch test accuracy per dataset: the ground truth of a benchmark that looks them up
DATASET_COLUMNS = {"cifar10": "cifar10_test_200", "cifar100": "cifar100_test_200", "imagenet16": "imagenet16_test_200"}
# Published correlations on NAS-Bench-201, per dataset (see ../shared/reference/nas-without-training.md):
# Mellor et al. 2021 Fig. 3, Kendall tau of NASWOT against validation accuracy over 1,000 cells; Abdelfattah et
# al. 2021, |Spearman rho| against test accuracy over all 15,625 cells.
PUBLISHED_TAU = {"naswot": {"cifar10": 0.574, "cifar100": 0.611, "imagenet16": 0.549}}
PUBLISHED_RHO = {"grad_norm": {"cifar10": 0.594, "cifar100": 0.637, "imagenet16": 0.578},
                 "snip": {"cifar10": 0.596, "cifar100": 0.637, "imagenet16": 0.578},
                 "synflow": {"cifar10": 0.737, "cifar100": 0.763, "imagenet16": 0.751},
                 "jacob_cov": {"cifar10": 0.731, "cifar100": 0.704, "imagenet16": 0.701}}


def rank_correlations(values: np.ndarray, accuracy: np.ndarray, resamples: int, seed: int) -> dict[str, Any]:
    """Kendall tau and Spearman rho of ``values`` against ``accuracy`` over the cells where both are finite,
    with percentile bootstrap 95 % intervals (``resamples`` resamples of the cells with replacement; none
    when 0)."""
    from scipy.stats import kendalltau, spearmanr

    finite = np.isfinite(values) & np.isfinite(accuracy)
    x, y = values[finite], accuracy[finite]
    result: dict[str, Any] = {"n": int(finite.sum()), "kendall_tau": np.nan, "spearman_rho": np.nan,
                              "kendall_tau_ci": [np.nan, np.nan], "spearman_rho_ci": [np.nan, np.nan]}
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return result
    result["kendall_tau"] = float(kendalltau(x, y).statistic)
    result["spearman_rho"] = float(spearmanr(x, y).statistic)
    if resamples:
        rng = np.random.default_rng(seed)
        taus, rhos = [], []
        for _ in range(resamples):
            pick = rng.integers(len(x), size=len(x))
            taus.append(kendalltau(x[pick], y[pick]).statistic)
            rhos.append(spearmanr(x[pick], y[pick]).statistic)
        result["kendall_tau_ci"] = [float(v) for v in np.nanpercentile(taus, [2.5, 97.5])]
        result["spearman_rho_ci"] = [float(v) for v in np.nanpercentile(rhos, [2.5, 97.5])]
    return result


def benchmark_report(rows: Sequence[Row], proxy_names: Sequence[str], select_n: Sequence[int], repeats: int,
                     seed: int, training_seeds: Sequence[int], bootstrap: int = 0) -> dict[str, Any]:
    """The report's numbers for benchmark rows: per proxy, Kendall tau and Spearman rho against the accuracy
    (the mean trained accuracy, or NAS-Bench-201's 200-epoch CIFAR-10 test accuracy when looked up) over the
    cells where the proxy is finite, with bootstrap 95 % intervals (``bootstrap`` resamples), and its mean time
    per cell; when the rows carry NAS-Bench-201's columns, the same per dataset (CIFAR-10, CIFAR-100,
    ImageNet16-120); random-N with NASWOT for each N of ``select_n`` that fits (``repeats`` draws, seeded by
    ``seed``; one pick per draw, its accuracy on every dataset); and the Kendall tau between the first two
    training seeds, the ground truth's own noise ceiling.

    Failed rows are counted (``failed``) and otherwise left out; raises ValueError when fewer than two
    cells have an accuracy.
    """
    from scipy.stats import kendalltau

    trained = trained_rows(rows)
    failed = len({row["arch"] for row in rows if row.get("failed")} - {row["arch"] for row in trained})
    if len(trained) < 2:
        raise ValueError(f"fewer than two trained architectures to report on ({len(trained)} trained, "
                         f"{failed} failed)")
    accuracy = _column(trained, "accuracy")
    correlations = {}
    for name in proxy_names:
        correlations[name] = rank_correlations(_column(trained, name), accuracy, bootstrap, seed)
        correlations[name]["seconds_mean"] = float(np.nanmean(_column(trained, f"{name}_seconds")))
    datasets = {}
    if all(column in trained[0] for column in DATASET_COLUMNS.values()):
        for dataset, column in DATASET_COLUMNS.items():
            truth = _column(trained, column)
            datasets[dataset] = {name: rank_correlations(_column(trained, name), truth, bootstrap, seed)
                                 for name in proxy_names}
    selection = []
    if "naswot" in proxy_names:
        naswot = _column(trained, "naswot")
        for n in select_n:
            if n > len(trained):
                continue
            picked = random_n_selection(naswot, accuracy, n, repeats, seed)
            if datasets:  # the same draws (same seed): each pick's accuracy on every dataset
                picked["datasets"] = {dataset: random_n_selection(naswot, _column(trained, column), n, repeats, seed)
                                      for dataset, column in DATASET_COLUMNS.items()}
            selection.append(picked)
    seed_tau = None
    if len(training_seeds) >= 2 and f"accuracy_seed{training_seeds[0]}" in trained[0]:
        first, second = (_column(trained, f"accuracy_seed{s}") for s in training_seeds[:2])
        seed_tau = float(kendalltau(first, second).statistic)
    seconds = _column(trained, "train_seconds")
    return {"architectures": len(trained), "failed": failed, "accuracy_mean": float(accuracy.mean()),
            "accuracy_min": float(accuracy.min()), "accuracy_max": float(accuracy.max()),
            "train_seconds_mean": float(np.nanmean(seconds)) if np.isfinite(seconds).any() else None,
            "seed_to_seed_kendall_tau": seed_tau, "correlations": correlations, "datasets": datasets,
            "random_n": selection}


def headline(report: dict[str, Any]) -> str:
    """One line on a benchmark report: cells trained (and failed) and each proxy's Kendall tau."""
    taus = ", ".join(f"{name} {c['kendall_tau']:.3f}" for name, c in report["correlations"].items())
    failed = f" ({report['failed']} failed)" if report.get("failed") else ""
    return f"{report['architectures']} architectures trained{failed}; Kendall tau {taus}"


def _interval(value: float, ci: Sequence[float]) -> str:
    if not np.isfinite(value):
        return "-"
    low, high = ci
    return f"{value:.3f}" + (f" [{low:.3f}, {high:.3f}]" if np.isfinite(low) else "")


def report_markdown(report: dict[str, Any]) -> str:
    """The benchmark report as Markdown: accuracy range, seed-to-seed tau, each proxy's correlations with their
    bootstrap intervals (per dataset, next to the published values, when NAS-Bench-201's accuracies were looked
    up), random-N."""
    head = (f"{report['architectures']} architectures; accuracy {report['accuracy_mean']:.1f} % mean "
            f"(range {report['accuracy_min']:.1f}-{report['accuracy_max']:.1f})")
    if report.get("failed"):
        head += f"; {report['failed']} failed and left out"
    if report["seed_to_seed_kendall_tau"] is not None:
        head += (f"; Kendall tau between two training seeds {report['seed_to_seed_kendall_tau']:.3f} "
                 "(the ground truth's own noise ceiling)")
    lines = [head, "", "Rank correlations with their bootstrap 95 % intervals in brackets.", "",
             "| proxy | Kendall tau | Spearman rho | n | seconds per cell |", "|---|---|---|---|---|"]
    for name, c in report["correlations"].items():
        lines.append(f"| {name} | {_interval(c['kendall_tau'], c.get('kendall_tau_ci', [np.nan] * 2))} | "
                     f"{_interval(c['spearman_rho'], c.get('spearman_rho_ci', [np.nan] * 2))} | {c['n']} | "
                     f"{c['seconds_mean']:.3f} |")
    for dataset, by_proxy in (report.get("datasets") or {}).items():
        lines += ["", f"NAS-Bench-201 {dataset}, 200-epoch test accuracy:", "",
                  "| proxy | Kendall tau [95 % CI] | published tau | Spearman rho [95 % CI] | published abs(rho) | n |",
                  "|---|---|---|---|---|---|"]
        for name, c in by_proxy.items():
            tau = PUBLISHED_TAU.get(name, {}).get(dataset)
            rho = PUBLISHED_RHO.get(name, {}).get(dataset)
            lines.append(f"| {name} | {_interval(c['kendall_tau'], c['kendall_tau_ci'])} | "
                         f"{'-' if tau is None else tau} | {_interval(c['spearman_rho'], c['spearman_rho_ci'])} | "
                         f"{'-' if rho is None else rho} | {c['n']} |")
    if report["random_n"]:
        lines += ["", "| N | dataset | NASWOT pick (accuracy %) | random pick | best in sample | repeats |",
                  "|---|---|---|---|---|---|"]
        for s in report["random_n"]:
            for dataset, d in (s.get("datasets") or {"": s}).items():
                lines.append(f"| {s['n']} | {dataset or '-'} | {d['proxy_pick_mean']:.2f} +- {d['proxy_pick_std']:.2f} | "
                             f"{d['random_pick_mean']:.2f} +- {d['random_pick_std']:.2f} | "
                             f"{d['best_in_sample_mean']:.2f} +- {d['best_in_sample_std']:.2f} | {d['repeats']} |")
    return "\n".join(lines) + "\n"


def plot_proxies(rows: Sequence[Row], names: Sequence[str], path: Path) -> Path:
    """One scatter per proxy of its score against trained accuracy (failed rows left out), written to
    ``path`` atomically."""
    import matplotlib.pyplot as plt

    fig = proxies_figure(trained_rows(rows), names)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)
