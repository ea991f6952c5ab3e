"""Reading finished runs back and writing an ablation's tables and plots.

``results.csv``: one row per variant x seed x metric with the raw value (empty when the run is not finished or
has no value). ``results.md``: per metric, one row per variant: mean +- std, the 95 % confidence interval of the
mean (Student's t), n, and Welch's p-value against the first variant. ``results.png``: one panel per metric,
every seed as a dot and the mean with its 95 % interval. ``curves.png``: the mean learning curve of each
variant with a 95 % band.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evoforge.ablation.spec import PlannedRun
from evoforge.stats import Summary, summarise, welch_p
from evoforge.search.rundir import RunDir

FINISHED = ("completed", "solved")
CURVE_DEFAULTS = ("center_eval", "best_so_far", "annecs")


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """The run's summary.json as a dict, or None when it is missing or unreadable."""
    return RunDir(run_dir).read_summary()


def is_finished(run_dir: Path) -> bool:
    """Whether the run in ``run_dir`` ended ``completed`` or ``solved`` (an ablation skips it when run again)."""
    summary = read_summary(run_dir)
    return summary is not None and summary.get("status") in FINISHED


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def metric_value(metric: str, summary: dict[str, Any], records: list[dict[str, Any]]) -> float | None:
    """One metric of one run (see :mod:`evoforge.ablation.spec` for the forms); None when it has none."""
    source, _, key = metric.rpartition(".")
    if source in ("", "summary"):
        return _number(summary.get(key))
    if source == "final":
        return _number(records[-1].get(key)) if records else None
    values = [v for v in (_number(r.get(key)) for r in records) if v is not None]
    if not values:
        return None
    return {"max": max, "min": min, "mean": lambda xs: float(np.mean(xs))}[source](values)


def collect(out: Path, runs: Sequence[PlannedRun], metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Rows variant, seed, metric, value, status, run (the run directory relative to ``out``)."""
    rows = []
    for run in runs:
        run_dir = out / run.directory
        summary = read_summary(run_dir) or {}
        status = summary.get("status", "not started")
        records = RunDir(run_dir).read_metrics() if status in FINISHED else []
        for metric in metrics:
            value = metric_value(metric, summary, records) if status in FINISHED else None
            rows.append({"variant": run.variant, "seed": run.seed, "metric": metric, "value": value,
                         "status": status, "run": run.directory})
    return rows


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    """Write the rows of :func:`collect` to ``path`` as CSV (a line per variant, seed and metric); returns ``path``."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["variant", "seed", "metric", "value", "status", "run"])
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "value": "" if row["value"] is None else repr(row["value"])})
    return path


def values_by_variant(rows: list[dict[str, Any]], metric: str, variants: Sequence[str]) -> dict[str, list[float]]:
    """The values of ``metric`` of each variant in ``variants`` order, runs without a value left out."""
    found: dict[str, list[float]] = {name: [] for name in variants}
    for row in rows:
        if row["metric"] == metric and row["value"] is not None:
            found[row["variant"]].append(row["value"])
    return found


def _decimals(reference: float) -> int:
    """Decimals that show ``reference`` to about four significant digits (none from 1000 up, three
    significant digits below 1)."""
    magnitude = abs(reference)
    if not math.isfinite(magnitude) or magnitude == 0:
        return 2
    if magnitude >= 1000:
        return 0
    if magnitude >= 100:
        return 1
    if magnitude >= 1:
        return 2
    return 2 - math.floor(math.log10(magnitude))


def fmt(value: float | None, reference: float | None = None) -> str:
    """A table number with the decimals that suit ``reference`` (default: the value itself), so that a mean,
    its std and its interval line up."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{_decimals(value if reference is None else reference)}f}"


def _p(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def metric_source(metric: str) -> str:
    """Where a metric spec's value comes from, in words (summary.json, or a reduction of metrics.jsonl)."""
    source, _, key = metric.rpartition(".")
    return {"": "summary.json", "summary": "summary.json", "final": f"last metrics.jsonl record's {key}",
            "max": f"max of {key} over metrics.jsonl", "min": f"min of {key} over metrics.jsonl",
            "mean": f"mean of {key} over metrics.jsonl"}[source]


def markdown(rows: list[dict[str, Any]], variants: Sequence[str], metrics: Sequence[str], header: str) -> str:
    """One table per metric; n counts the finished runs that have a value (of the planned seeds)."""
    planned = {name: len({r["seed"] for r in rows if r["variant"] == name}) for name in variants}
    lines = [header, ""]
    for metric in metrics:
        found = values_by_variant(rows, metric, variants)
        first = variants[0]
        lines += [f"## {metric} ({metric_source(metric)})", "",
                  f"| variant | mean ± std | 95% CI | n | p (Welch, vs {first}) |", "|---|---|---|---|---|"]
        for name in variants:
            s: Summary = summarise(found[name])
            n = f"{s.n}" if s.n == planned[name] else f"{s.n} of {planned[name]}"
            mean_std = "-" if s.n == 0 else f"{fmt(s.mean)} ± {fmt(s.std, s.mean)}"
            ci = "-" if s.n < 2 else f"[{fmt(s.ci_low, s.mean)}, {fmt(s.ci_high, s.mean)}]"
            p = "" if name == first else _p(welch_p(found[first], found[name]))
            lines.append(f"| {name} | {mean_std} | {ci} | {n} | {p} |")
        lines.append("")
    return "\n".join(lines)


def plot_metrics(rows: list[dict[str, Any]], variants: Sequence[str], metrics: Sequence[str], path: Path,
                 title: str) -> Path:
    """One panel per metric: each seed a dot (jittered sideways), the mean a bar-free marker with its 95 % CI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = max(3.2, 0.55 * len(variants) + 1.2)
    fig, axes = plt.subplots(1, len(metrics), figsize=(width * len(metrics), 4.2), squeeze=False)
    rng = np.random.default_rng(0)  # fixed jitter: the same plot every time
    for ax, metric in zip(axes[0], metrics):
        found = values_by_variant(rows, metric, variants)
        for x, name in enumerate(variants):
            values = found[name]
            if not values:
                continue
            ax.scatter(x + rng.uniform(-0.12, 0.12, len(values)), values, s=14, color="0.55", zorder=2)
            s = summarise(values)
            error = None if s.n < 2 else [[s.mean - s.ci_low], [s.ci_high - s.mean]]
            ax.errorbar([x], [s.mean], yerr=error, fmt="o", color=f"C{x % 10}", capsize=5, markersize=7,
                        zorder=3)
        tilt = len(variants) > 2 or max(len(v) for v in variants) > 12  # long names would overlap
        ax.set_xticks(range(len(variants)), variants, rotation=30 if tilt else 0, ha="right" if tilt else "center",
                      fontsize=8)
        ax.set_xlim(-0.6, len(variants) - 0.4)
        ax.set_title(metric, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{title}: mean and 95% CI (Student's t); dots are seeds", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def curve_key(curve: str | bool | None, out: Path, runs: Sequence[PlannedRun]) -> str | None:
    """The metrics.jsonl key to plot: the spec's, none when it says false, else the first default the runs log."""
    if curve is False:
        return None
    if isinstance(curve, str):
        return curve
    for run in runs:
        records = RunDir(out / run.directory).read_metrics()
        for key in CURVE_DEFAULTS:
            if records and key in records[-1]:
                return key
    return None


def plot_curves(out: Path, runs: Sequence[PlannedRun], variants: Sequence[str], key: str, path: Path,
                title: str) -> Path | None:
    """Per variant, the mean over its finished seeds of ``key`` at each generation, with a 95 % band (Student's t
    over seeds). A run that stopped early (solved) keeps its last value for the later generations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves: dict[str, list[list[float]]] = {}
    for run in runs:
        run_dir = out / run.directory
        if not is_finished(run_dir):
            continue
        values = [_number(r.get(key)) for r in RunDir(run_dir).read_metrics()]
        values = [v for v in values if v is not None]
        if values:
            curves.setdefault(run.variant, []).append(values)
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for index, name in enumerate(variants):
        if name not in curves:
            continue
        length = max(len(c) for c in curves[name])
        grid = np.array([c + [c[-1]] * (length - len(c)) for c in curves[name]])
        stats = [summarise(grid[:, g]) for g in range(length)]
        xs = np.arange(length)
        ax.plot(xs, [s.mean for s in stats], color=f"C{index % 10}", label=f"{name} (n={len(grid)})")
        if len(grid) > 1:
            ax.fill_between(xs, [s.ci_low for s in stats], [s.ci_high for s in stats], color=f"C{index % 10}",
                            alpha=0.15)
    ax.set_xlabel("generation")
    ax.set_ylabel(key)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"{title}: {key}, mean over seeds with 95% CI", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
