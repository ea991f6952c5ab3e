"""``evoforge report RUN_DIR``: one self-contained HTML page per run.

Every report has an overview (status and headline numbers), learning curves, the per-generation metrics, the
validated config and the run's files; then the run's own domain view (:mod:`evoforge.report.views`): weight
trajectories and an agent video for Hebbian runs, level grids and an editing animation for PCGRL, the
environment tree with terrain thumbnails for POET, architecture diagrams and proxy/accuracy scatter plots for
NAS, formulas and per-architecture accuracy for normalization-activation layers.

Views that need new rollouts (videos, weight trajectories, generated levels) use fixed seeds, so two reports
of the same run show the same episodes; ``media=False`` leaves them out for a quick look. A new kind of
experiment gets its own view by adding ``view(report, run, media)`` to :data:`evoforge.report.views.VIEWS`.

    from evoforge.report import write_report
    write_report("runs/quickstart-20261124-101500")      # -> runs/quickstart-.../report.html

An ablation directory (``evoforge ablate``'s output) gets a page of its own: the statistics of every metric
per variant, the plots and the list of runs (:mod:`evoforge.report.ablation`).
"""

from __future__ import annotations

import time
from pathlib import Path

from evoforge.report.ablation import build_ablation_report, is_ablation_dir
from evoforge.report.page import Report, Section
from evoforge.report.views import VIEWS, RunFiles, add_common_sections

__all__ = ["Report", "Section", "build_report", "save_report", "write_report"]


def build_report(run_dir: str | Path, media: bool = True) -> Report:
    """The report of the run in ``run_dir`` (a directory with a ``config.yaml``), or of an ablation directory
    (``evoforge ablate``'s output, with its plan.json), not yet written."""
    if is_ablation_dir(Path(run_dir)):
        return build_ablation_report(Path(run_dir))
    run = RunFiles.open(Path(run_dir))
    summary = run.summary or {}
    subtitle = " · ".join(str(part) for part in (
        f"experiment {run.kind}", summary.get("status"), f"seed {run.config.get('seed', '?')}",
        f"{summary['wall_time_s']:.0f} s" if isinstance(summary.get("wall_time_s"), (int, float)) else None,
        f"report written {time.strftime('%Y-%m-%d %H:%M')}") if part)
    report = Report(title=f"{run.config.get('name', run.path.name)} — evoforge run report", subtitle=subtitle)
    view = VIEWS.get(run.kind)
    add_common_sections(report, run, domain=view, media=media)
    return report


def write_report(run_dir: str | Path, out: str | Path | None = None, media: bool = True) -> Path:
    """Write the report of ``run_dir`` as one HTML file (default ``RUN_DIR/report.html``); returns its path."""
    report = build_report(run_dir, media=media)
    return save_report(report, Path(out) if out is not None else Path(run_dir) / "report.html")


def save_report(report: Report, path: str | Path) -> Path:
    """Write a built report as one HTML file, atomically; returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(report.render(), encoding="utf-8")
    tmp.replace(path)  # never a half-written report
    return path

