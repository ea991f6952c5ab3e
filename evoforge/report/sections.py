"""The sections every run's report has, around the run's own domain sections.

Overview (summary.json), learning curves, then the experiment's own sections
(:meth:`evoforge.experiments.Experiment.report_sections`: a failure there becomes a note, never a lost
report), the metrics table, the validated config with the commands for the run, and the list of files.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from evoforge.report.page import Report
from evoforge.search.rundir import RunDir

# Metric keys every Run record has; the remaining numeric keys are the experiment's own.
STANDARD_KEYS = {"generation", "evaluations", "failed", "fitness_best", "fitness_mean", "fitness_std", "fitness_min",
                 "best_so_far", "env_steps", "evals_per_s", "env_steps_per_s", "wall_s", "center_eval", "nodes",
                 "actors_replaced", "actors_added", "actors_lost", "bytes_to_actors", "batches"}


def add_run_sections(report: Report, run_dir: RunDir, experiment: Any, media: bool) -> None:
    """Add every section of a run's report: overview, learning curves, the experiment's own sections, metrics,
    config and commands, files."""
    summary = run_dir.read_summary()
    records = run_dir.read_metrics()
    config = run_dir.read_config()
    overview = report.section("Overview")
    if summary:
        overview.table(["", "value"], [(key, _plain(value)) for key, value in summary.items()
                                       if not isinstance(value, (dict, list))])
    else:
        overview.note("No summary.json yet: the run is still going or was stopped before its first checkpoint.")
    _learning_curves(report, records, config, summary or {})
    kind = str(config.get("experiment", "unknown"))
    if experiment is not None:
        try:
            experiment.report_sections(report, run_dir, media)
        except Exception as exc:  # noqa: BLE001 - a broken view must not cost the rest of the report
            problem = f"could not render the {kind} view: {type(exc).__name__}: {exc}"
            report.section("Domain view").note(problem)
            report.problems.append(problem)
    _metrics_table(report, records)
    section = report.section("Config")
    section.code(yaml.safe_dump(config, sort_keys=False), summary="config.yaml (validated, every default filled in)")
    section.code(f"evoforge resume {run_dir}\nevoforge inspect {run_dir}\nevoforge replay {run_dir}\n"
                 f"evoforge report {run_dir}", summary="commands for this run")
    files = report.section("Files")
    files.table(["file", "bytes"], [(str(p.relative_to(run_dir.path)), p.stat().st_size)
                                    for p in sorted(run_dir.path.rglob("*")) if p.is_file()
                                    and RunDir.TENSORBOARD not in p.parts][:200])


def _plain(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


def _learning_curves(report: Report, records: list[dict[str, Any]], config: dict[str, Any],
                     summary: dict[str, Any]) -> None:
    from evoforge.media import metric_curves, plot_fitness

    section = report.section("Learning curves")
    scored = [r for r in records if "fitness_mean" in r]
    if not scored:
        section.note("no generation has finished yet")
        return
    with tempfile.TemporaryDirectory() as tmp:
        section.figure(plot_fitness(scored, Path(tmp) / "fitness.png", title=str(config.get("name", "")),
                                    threshold=summary.get("stop_fitness")),
                       "Fitness per generation: population best, mean ± std, and the search center re-scored on "
                       "fresh seeds (where the searcher has a center).")
    own = sorted({key for record in records for key, value in record.items()
                  if key not in STANDARD_KEYS and isinstance(value, (int, float)) and not isinstance(value, bool)})
    if own:
        section.figure(metric_curves(records, own), f"The experiment's own metrics per generation ({len(own)}).")
    throughput = [key for key in ("evals_per_s", "env_steps_per_s", "wall_s") if any(r.get(key) for r in records)]
    if throughput:
        section.figure(metric_curves(records, throughput), "Throughput and wall time per generation.")


def _metrics_table(report: Report, records: list[dict[str, Any]], limit: int = 300) -> None:
    if not records:
        return
    shown = records
    if len(shown) > limit:  # evenly thinned, always keeping the last
        shown = [records[int(i)] for i in np.linspace(0, len(records) - 1, limit)]
    keys = [key for key in shown[-1] if isinstance(shown[-1][key], (int, float)) and key != "nodes"][:12]
    report.section("Metrics").table(
        keys, [[record.get(key) for key in keys] for record in shown],
        caption=f"metrics.jsonl: {len(records)} records" + (f" ({limit} shown, evenly spaced)"
                                                            if len(records) > limit else ""))
