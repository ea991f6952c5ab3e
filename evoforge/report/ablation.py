"""The report of an ablation directory (``evoforge ablate``'s output): its statistics, plots and runs on one page.

Reads what the ablation wrote (plan.json, spec.yaml, results.csv, results.png, curves.png) and recomputes the
per-variant statistics from results.csv with :mod:`evoforge.stats`, so the page and results.md agree. Where
``scripts/adaptation_table.py`` has written its tables and recovery plot into the directory (adaptation.md,
recovery.png), they are shown too.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

from evoforge.ablation.spec import PLAN_FILE
from evoforge.report.page import Report


def is_ablation_dir(path: Path) -> bool:
    """Whether ``path`` is an ablation directory (it has the plan.json that ``evoforge ablate`` writes)."""
    return (Path(path) / PLAN_FILE).is_file()


def build_ablation_report(out: Path) -> Report:
    """The report of the ablation directory ``out``: statistics per metric, plots, the runs and the spec; raises
    ValueError when its files cannot be read.
    """
    from evoforge.ablation.results import metric_source
    from evoforge.stats import summarise, welch_p

    out = Path(out)
    try:
        plan = json.loads((out / PLAN_FILE).read_text())
        spec = yaml.safe_load((out / "spec.yaml").read_text()) or {}
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"{out}: unreadable ablation files ({exc})") from None
    variants = list(dict.fromkeys(run["variant"] for run in plan["runs"]))
    rows = []
    if (out / "results.csv").is_file():
        with open(out / "results.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
    seeds = sorted({run["seed"] for run in plan["runs"]})
    report = Report(title=f"Ablation {spec.get('name', out.name)} — evoforge report",
                    subtitle=f"{len(variants)} variants × {len(seeds)} seeds = {len(plan['runs'])} runs · "
                             f"spec {plan['spec']}")
    overview = report.section("Overview")
    if spec.get("description"):
        overview.text(str(spec["description"]).strip())
    overview.text("Mean ± sample std over seeds; 95% confidence interval of the mean from Student's t with n - 1 "
                  "degrees of freedom; p: Welch's two-sided t-test against the first variant; n: runs with a "
                  "value.")
    if not rows:
        overview.note("no results.csv yet: no run has finished")
    metrics = list(dict.fromkeys(row["metric"] for row in rows))
    first = variants[0]
    for metric in metrics:
        values = {name: [float(r["value"]) for r in rows if r["metric"] == metric and r["variant"] == name
                         and r["value"] != ""] for name in variants}
        table = []
        for name in variants:
            s = summarise(values[name])
            table.append((name, s.mean if s.n else None, s.std if s.n > 1 else None,
                          s.ci_low if s.n > 1 else None, s.ci_high if s.n > 1 else None, s.n,
                          None if name == first else _finite(welch_p(values[first], values[name]))))
        report.section(f"{metric}").table(
            ["variant", "mean", "std", "95% CI low", "95% CI high", "n", f"p vs {first}"], table,
            caption=f"{metric} ({metric_source(metric)})")
    plots = report.section("Plots")
    for name, caption in (("results.png", "Each metric per variant: mean with its 95% interval, one dot per seed."),
                          ("curves.png", "Learning curves: mean over seeds per generation with a 95% band.")):
        if (out / name).is_file():
            plots.figure(out / name, caption)
    _adaptation_section(report, out)
    runs = report.section("Runs")
    status = {row["run"]: row["status"] for row in rows}
    runs.table(["variant", "seed", "status", "run directory (evoforge report on it for its own page)"],
               [(run["variant"], run["seed"], status.get(run["run"], "not finished"), run["run"])
                for run in plan["runs"]])
    report.section("Spec").code(yaml.safe_dump(spec, sort_keys=False), summary="spec.yaml")
    return report


def _adaptation_section(report: Report, out: Path) -> None:
    """The tables of ``scripts/adaptation_table.py`` (adaptation.md: a ``### family`` heading, then markdown
    tables) and its plot of the reward rate around the mid-episode change."""
    text = (out / "adaptation.md").read_text() if (out / "adaptation.md").is_file() else ""
    if not text and not (out / "recovery.png").is_file():
        return
    section = report.section("Adaptation within an episode (scripts/adaptation_table.py)")
    heading, table = "", []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            table.append([cell.strip().replace("\\|", "|") for cell in line.strip().strip("|").split(" | ")])
            continue
        if table:
            rows = [row for row in table[1:] if not set("".join(row)) <= set("-:")]  # drop the |---| row
            section.table(table[0], rows, caption=heading or None)
            table = []
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
    if (out / "recovery.png").is_file():
        section.figure(out / "recovery.png", "Reward rate around the mid-episode change: mean over the runs whose "
                                             "episodes reach it, with a 95% band.")


def _finite(value: float) -> float | None:
    return value if value == value else None  # nan -> shown as '-'
