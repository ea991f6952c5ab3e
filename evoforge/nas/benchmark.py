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


def benchmark_report(rows: Sequence[Row], proxy_names: Sequence[str], select_n: Sequence[int], repeats: int,
                     seed: int, training_seeds: Sequence[int]) -> dict[str, Any]:
    """The report's numbers for benchmark rows: per proxy, Kendall tau and Spearman rho against the mean
    trained accuracy over the cells where the proxy is finite, and its mean time per cell; random-N with
    NASWOT for each N of ``select_n`` that fits (``repeats`` draws, seeded by ``seed``); and the Kendall tau
    between the first two training seeds, the ground truth's own noise ceiling.

    Failed rows are counted (``failed``) and otherwise left out; raises ValueError when fewer than two
    cells were trained.
    """
    from scipy.stats import kendalltau, spearmanr

    trained = trained_rows(rows)
    failed = len({row["arch"] for row in rows if row.get("failed")} - {row["arch"] for row in trained})
    if len(trained) < 2:
        raise ValueError(f"fewer than two trained architectures to report on ({len(trained)} trained, "
                         f"{failed} failed)")
    accuracy = _column(trained, "accuracy")
    correlations = {}
    for name in proxy_names:
        values = _column(trained, name)
        finite = np.isfinite(values)
        tau = kendalltau(values[finite], accuracy[finite]).statistic if finite.sum() > 1 else np.nan
        rho = spearmanr(values[finite], accuracy[finite]).statistic if finite.sum() > 1 else np.nan
        correlations[name] = {"kendall_tau": float(tau), "spearman_rho": float(rho), "n": int(finite.sum()),
                              "seconds_mean": float(np.mean(_column(trained, f"{name}_seconds")))}
    selection = []
    if "naswot" in proxy_names:
        naswot = _column(trained, "naswot")
        selection = [random_n_selection(naswot, accuracy, n, repeats, seed) for n in select_n if n <= len(trained)]
    seed_tau = None
    if len(training_seeds) >= 2:
        first, second = (_column(trained, f"accuracy_seed{s}") for s in training_seeds[:2])
        seed_tau = float(kendalltau(first, second).statistic)
    return {"architectures": len(trained), "failed": failed, "accuracy_mean": float(accuracy.mean()),
            "accuracy_min": float(accuracy.min()), "accuracy_max": float(accuracy.max()),
            "train_seconds_mean": float(np.mean(_column(trained, "train_seconds"))),
            "seed_to_seed_kendall_tau": seed_tau, "correlations": correlations, "random_n": selection}


def headline(report: dict[str, Any]) -> str:
    """One line on a benchmark report: cells trained (and failed) and each proxy's Kendall tau."""
    taus = ", ".join(f"{name} {c['kendall_tau']:.3f}" for name, c in report["correlations"].items())
    failed = f" ({report['failed']} failed)" if report.get("failed") else ""
    return f"{report['architectures']} architectures trained{failed}; Kendall tau {taus}"


def report_markdown(report: dict[str, Any]) -> str:
    """The benchmark report as Markdown: accuracy range, seed-to-seed tau, each proxy's correlations, random-N."""
    head = (f"{report['architectures']} architectures; trained accuracy {report['accuracy_mean']:.1f} % mean "
            f"(range {report['accuracy_min']:.1f}-{report['accuracy_max']:.1f})")
    if report.get("failed"):
        head += f"; {report['failed']} failed and left out"
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
