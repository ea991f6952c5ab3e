"""``evoforge report RUN_DIR``: one self-contained HTML page per run.

Every report has an overview (status and headline numbers), learning curves, the per-generation metrics, the
validated config and the run's files; then the run's own sections, which its experiment class adds
(:meth:`evoforge.experiments.Experiment.report_sections`): weight
trajectories and an agent video for Hebbian runs, level grids and an editing animation for PCGRL, the
environment tree with terrain thumbnails for POET, architecture diagrams and proxy/accuracy scatter plots for
NAS, formulas and per-architecture accuracy for normalization-activation layers.

Views that need new rollouts (videos, weight trajectories, generated levels) use fixed seeds, so two reports
of the same run show the same episodes; ``media=False`` leaves them out for a quick look. A new kind of
experiment gets its own sections by overriding ``report_sections(report, run_dir, media)`` in its class.

    from evoforge.report import write_report
    write_report("runs/quickstart-20261124-101500")      # -> runs/quickstart-.../report.html

An ablation directory (``evoforge ablate``'s output) gets a page of its own: the statistics of every metric
per variant, the plots and the list of runs (:mod:`evoforge.report.ablation`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from evoforge.report.ablation import build_ablation_report, is_ablation_dir
from evoforge.report.page import Report, Section
from evoforge.report.sections import add_run_sections
from evoforge.search.rundir import RunDir
from evoforge.search.storage import atomic_write_text

__all__ = ["Report", "Section", "build_report", "save_report", "write_report"]


def build_report(run_dir: str | Path, media: bool = True) -> Report:
    """The report of the run in ``run_dir`` (a directory with a ``config.yaml``), or of an ablation directory
    (``evoforge ablate``'s output, with its plan.json), not yet written."""
    if is_ablation_dir(Path(run_dir)):
        return build_ablation_report(Path(run_dir))
    run = RunDir(run_dir)
    config = run.read_config()  # UserError when it is not a run directory
    summary = run.read_summary() or {}
    kind = config.get("experiment", "unknown")
    subtitle = " · ".join(str(part) for part in (
        f"experiment {kind}", summary.get("status"), f"seed {config.get('seed', '?')}",
        f"{summary['wall_time_s']:.0f} s" if isinstance(summary.get("wall_time_s"), (int, float)) else None,
        f"report written {time.strftime('%Y-%m-%d %H:%M')}") if part)
    report = Report(title=f"{config.get('name', run.path.name)} — evoforge run report", subtitle=subtitle)
    add_run_sections(report, run, _experiment(run, report), media=media)
    return report


def _experiment(run: RunDir, report: Report) -> Any:
    """The run's experiment rebuilt from its config.yaml, or None (with a note) when the config no longer loads."""
    from evoforge.errors import UserError
    from evoforge.experiments import load_experiment

    try:
        return load_experiment(run.config_path, [])
    except UserError as exc:
        problem = f"the run's config does not load any more, so its own sections are left out: {exc}"
        report.problems.append(problem)
        return None


def write_report(run_dir: str | Path, out: str | Path | None = None, media: bool = True) -> Path:
    """Write the report of ``run_dir`` as one HTML file (default ``RUN_DIR/report.html``); returns its path."""
    report = build_report(run_dir, media=media)
    return save_report(report, Path(out) if out is not None else Path(run_dir) / "report.html")


def save_report(report: Report, path: str | Path) -> Path:
    """Write a built report as one HTML file, atomically; returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, report.render())  # never a half-written report
    return path

