"""What a report shows: the sections every run has and one domain view per kind of experiment.

A domain view is ``view(report, run, media)``: it adds its sections to the report. Views read the run's files
and, with ``media``, replay the best genome with fixed seeds for videos and pictures. A view never changes the
run's own results; derived files it needs are rendered into a temporary directory.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from evoforge.report.page import Report
from evoforge.search.evolution import best_distinct
from evoforge.search.metrics import read_metrics

REPLAY_SEED = 12345  # the same seed as `evoforge replay` and `evoforge inspect` use by default

# Metric keys every Run-based record has; the remaining numeric keys are the experiment's own.
_STANDARD_KEYS = {"generation", "evaluations", "failed", "fitness_best", "fitness_mean", "fitness_std", "fitness_min",
                  "best_so_far", "env_steps", "evals_per_s", "env_steps_per_s", "wall_s", "center_eval", "nodes"}


@dataclass
class RunFiles:
    """A run directory read once: its config (as a plain dict), summary and metrics records."""

    path: Path
    config: dict[str, Any]
    summary: dict[str, Any] | None
    records: list[dict[str, Any]]

    @classmethod
    def open(cls, path: Path) -> "RunFiles":
        """Read the run directory ``path``: config.yaml (required), summary.json and metrics.jsonl when present."""
        config_path = path / "config.yaml"
        if not config_path.is_file():
            raise ValueError(f"{path} is not a run directory (no config.yaml)")
        try:
            config = yaml.safe_load(config_path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{config_path}: not valid YAML ({exc})") from None
        return cls(path, config, _load_json(path / "summary.json"), read_metrics(path))

    @property
    def kind(self) -> str:
        """The run's ``experiment:`` kind, which picks its domain view."""
        return str(self.config.get("experiment", "unknown"))

    def experiment(self) -> Any:
        """The run's experiment, rebuilt from its config.yaml."""
        from evoforge.experiments import load_experiment

        return load_experiment(self.path / "config.yaml", [])

    def best(self) -> tuple[str, Any, dict[str, Any]] | None:
        """("center" or "sample", genome, its record) from best.pt: the best centre if the run has one."""
        import torch

        best_path = self.path / "best.pt"
        if not best_path.is_file():
            return None
        blob = torch.load(best_path, map_location="cpu", weights_only=False)
        chosen = "center" if blob.get("center", {}).get("genome") is not None else "sample"
        return chosen, blob[chosen]["genome"], blob[chosen]

    def searcher_state(self) -> Any:
        """The latest valid checkpoint's structured searcher (NAS, EvoNorm), or None without one."""
        from evoforge.search.checkpoint import CheckpointError
        from evoforge.search.evolution import saved_searcher

        try:
            return saved_searcher(self.path)
        except CheckpointError:
            return None


def _load_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# -- sections every run has ------------------------------------------------------------------------------------
def add_common_sections(report: Report, run: RunFiles, domain: Callable | None, media: bool) -> None:
    """Add every report's sections to ``report``: overview, learning curves, the domain view (its failure becomes a
    note, not a lost report), metrics table, config and commands, files.
    """
    overview = report.section("Overview")
    if run.summary:
        overview.table(["", "value"], [(key, _plain(value)) for key, value in run.summary.items()
                                       if not isinstance(value, (dict, list))])
    else:
        overview.note("No summary.json yet: the run is still going or was stopped before its first checkpoint.")
    if "generation" in (run.records[0] if run.records else {}):
        _learning_curves(report, run)
    if domain is not None:
        try:
            domain(report, run, media)
        except Exception as exc:  # a broken view must not cost the rest of the report
            problem = f"could not render the {run.kind} view: {type(exc).__name__}: {exc}"
            report.section("Domain view").note(problem)
            report.problems.append(problem)
    _metrics_table(report, run)
    config = report.section("Config")
    config.code(yaml.safe_dump(run.config, sort_keys=False), summary="config.yaml (validated, every default filled in)")
    config.code(f"evoforge resume {run.path}\nevoforge inspect {run.path}\nevoforge replay {run.path}\n"
                f"evoforge report {run.path}", summary="commands for this run")
    files = report.section("Files")
    files.table(["file", "bytes"], [(str(p.relative_to(run.path)), p.stat().st_size)
                                    for p in sorted(run.path.rglob("*")) if p.is_file()
                                    and "tensorboard" not in p.parts][:200])


def _plain(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


def _learning_curves(report: Report, run: RunFiles) -> None:
    from evoforge.media import plot_fitness
    from evoforge.report.diagrams import metric_curves

    section = report.section("Learning curves")
    if not run.records:
        section.note("no generation has finished yet")
        return
    summary = run.summary or {}
    with tempfile.TemporaryDirectory() as tmp:
        section.figure(plot_fitness(run.records, Path(tmp) / "fitness.png", title=str(run.config.get("name", "")),
                                    threshold=summary.get("stop_fitness")),
                       "Fitness per generation: population best, mean ± std, and the search centre re-scored on "
                       "fresh seeds (where the searcher has a centre).")
    own = sorted({key for record in run.records for key, value in record.items()
                  if key not in _STANDARD_KEYS and isinstance(value, (int, float)) and not isinstance(value, bool)})
    if own:
        section.figure(metric_curves(run.records, own), f"The experiment's own metrics per generation ({len(own)}).")
    throughput = [key for key in ("evals_per_s", "env_steps_per_s", "wall_s")
                  if any(record.get(key) for record in run.records)]
    if throughput:
        section.figure(metric_curves(run.records, throughput), "Throughput and wall time per generation.")


def _metrics_table(report: Report, run: RunFiles, limit: int = 300) -> None:
    if not run.records:
        return
    records = run.records
    if len(records) > limit:  # evenly thinned, always keeping the last
        records = [records[int(i)] for i in np.linspace(0, len(records) - 1, limit)]
    keys = [key for key in records[-1] if isinstance(records[-1][key], (int, float)) and key != "nodes"][:12]
    section = report.section("Metrics")
    section.table(keys, [[record.get(key) for key in keys] for record in records],
                  caption=f"metrics.jsonl: {len(run.records)} records" +
                          (f" ({limit} shown, evenly spaced)" if len(run.records) > limit else ""))


# -- domain views ------------------------------------------------------------------------------------------------
def control_view(report: Report, run: RunFiles, media: bool) -> None:
    """Gym control and Hebbian runs: the best genome's episode as a video; for Hebbian networks the weights
    during that episode (random at step 0, then rewritten by the evolved rules; Najarro & Risi 2020, Fig. 4)
    and the recovery after all weights are zeroed or re-randomised mid-episode."""
    best = run.best()
    section = report.section("Best agent")
    if best is None:
        section.note("no best.pt yet: nothing to replay")
        return
    chosen, genome, record = best
    genome = _tensor(genome)
    score = record.get("center_eval", record.get("fitness"))
    section.table(["genome", "parameters", "score", "generation", "min", "max", "mean |value|"],
                  [(chosen, genome.numel(), score, record.get("generation"), float(genome.min()),
                    float(genome.max()), float(genome.abs().mean()))])
    section.figure(_histogram(genome.numpy(), "evolved Hebbian coefficients" if run.kind == "hebbian"
                              else "policy weights"), "Distribution of the genome's values.")
    if not media:
        section.note("videos and weight trajectories left out (--no-media)")
        return
    experiment = run.experiment()
    returns, frames = experiment.replay(genome, 1, REPLAY_SEED, record=True)
    section.animation(frames, f"One episode of the best {chosen} genome (seed {REPLAY_SEED}): return "
                              f"{returns[0]:.1f}.", fps=getattr(experiment, "video_fps", 30))
    if run.kind == "hebbian":
        from evoforge.experiments.hebbian_inspect import inspect_hebbian

        with tempfile.TemporaryDirectory() as tmp:
            totals = inspect_hebbian(experiment, genome, Path(tmp), REPLAY_SEED)
            weights = report.section("Weights during an episode")
            weights.figure(Path(tmp) / "weights.png", "The network starts from random weights; the evolved rules "
                           "rewrite them at every step. Top: output-layer weights at four moments; bottom: 25 "
                           "synapses per layer over time and all weights' first two principal components.")
            weights.figure(Path(tmp) / "perturbation.png", "All plastic weights zeroed or re-randomised "
                           "mid-episode: the rules rebuild a working network from there.")
            weights.table(["episode", "return"], list(totals.items()))


def pcgrl_view(report: Report, run: RunFiles, media: bool) -> None:
    """PCGRL level generators: a grid of generated levels (green bar = valid) with their statistics, and the
    editing of several levels animated step by step (Khalifa et al. 2020; Earle et al. 2021 for the NCA)."""
    best = run.best()
    section = report.section("Generated levels")
    if best is None:
        section.note("no best.pt yet: no generator to run")
        return
    if not media:
        section.note("generated levels left out (--no-media)")
        return
    chosen, genome, _ = best
    experiment = run.experiment()
    genome = _tensor(genome)
    with tempfile.TemporaryDirectory() as tmp:
        stats = experiment.level_report(genome, 32, REPLAY_SEED, Path(tmp) / "levels.png")
        section.figure(Path(tmp) / "levels.png", f"32 levels from the best {chosen} generator (seed {REPLAY_SEED}); "
                                                 "a green bar marks the valid ones.")
    section.table(["levels", "valid", "mean path / solution length", "Hamming diversity", "mean score"],
                  [(stats["levels"], stats["valid"], stats["path"], stats["diversity"], stats["score"])])
    _, frames = experiment.replay(genome, 8, REPLAY_SEED, record=True)
    report.section("Editing animation").animation(
        frames, "Eight levels being edited by the generator, one frame per step.", fps=10, max_width=900)


def poet_view(report: Report, run: RunFiles, media: bool) -> None:
    """POET (Wang et al. 2019): progress over iterations, the tree of every environment ever created drawn as
    terrain thumbnails (solved framed green, retired greyed), the environments and pairs as tables, and the best
    agent walking its terrain."""
    from evoforge.experiments.poet import plot_environment_tree, plot_progress, replay_agent

    experiment = run.experiment()
    poet = experiment.load_poet(run.path)
    section = report.section("POET")
    if poet is None:
        section.note("no POET state yet")
        return
    last = poet.history[-1] if poet.history else poet.metrics()
    keys = ("iteration", "active", "archived", "environments", "solved", "annecs", "transfers_attempted",
            "transfers_accepted")
    section.table(list(keys), [[last[key] for key in keys]])
    with tempfile.TemporaryDirectory() as tmp:
        if poet.history:
            section.figure(plot_progress(poet.history, Path(tmp) / "poet.png"),
                           "Active pairs, environments created, ANNECS (environments that passed the minimal "
                           "criterion against all agents so far and were later solved) and transfers over "
                           "iterations; right: best self-evaluation, solved at 230.")
        tree = report.section("Environment tree")
        tree.figure(plot_environment_tree(poet, Path(tmp) / "environments.png"),
                    "Every environment ever created, as a family tree of terrain thumbnails: rows are generations "
                    "of mutation, each with its best score and difficulty class; solved ones framed green, retired "
                    "ones greyed.")
    rows = []
    for record in sorted(poet.envs.values(), key=lambda r: r.id):
        rows.append((record.id, experiment_env_name(record.env), record.parent, record.created,
                     record.best_score if np.isfinite(record.best_score) else None, record.solved_at,
                     record.retired_at))
    tree.table(["id", "terrain", "parent", "created", "best score", "solved at", "retired at"], rows,
               caption="environments")
    tree.table(["pair", "environment", "self-evaluation", "created"],
               [(p.id, experiment_env_name(p.env), p.score if np.isfinite(p.score) else None, p.created)
                for p in poet.pairs], caption="active pairs")
    if media and poet.pairs:
        best_pair = max(poet.pairs, key=lambda p: p.score)
        total, frames = replay_agent(experiment, poet, best_pair.id, best_pair.id, record=True)
        report.section("Best agent").animation(
            frames, f"Agent #{best_pair.id} on its own environment #{best_pair.id}: return {total:.1f}.", fps=50)


def experiment_env_name(env: Any) -> str:
    """The name of a POET environment stored as a terrain dict."""
    from evoforge.envs.poet_walker import TerrainConfig

    return TerrainConfig.from_dict(env).name


def nas_view(report: Report, run: RunFiles, media: bool) -> None:
    """NAS searches (Mellor et al. 2021): the best cells as DAG diagrams and every scored cell's fitness in the
    order the search sampled it."""
    from evoforge.report.diagrams import cells_figure

    searcher = run.searcher_state()
    section = report.section("Architectures")
    if searcher is None or not searcher.history:
        section.note("no checkpoint with scored cells yet")
        return
    fitness_name = run.config.get("search", {}).get("fitness") or "fitness"
    ranked = best_distinct(searcher.history, 20)
    top = ranked[:6]
    section.figure(cells_figure([(cell, f"#{k + 1}: {fitness_name} {fitness:.4g}") for k, (cell, fitness)
                                 in enumerate(top)]),
                   "The best distinct cells: nodes 0 (input) to 3 (output), one arc per edge with its operation; "
                   "dashed arcs are 'none'.")
    section.table(["rank", "cell (NAS-Bench-201 string)", fitness_name],
                  [(k + 1, str(cell), fitness) for k, (cell, fitness) in enumerate(ranked)])
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    values = [fitness for _, fitness in searcher.history]
    ax.scatter(range(len(values)), values, s=8, alpha=0.6, label="scored cell")
    ax.plot(np.maximum.accumulate(values), color="C1", label="best so far")
    ax.set_xlabel("cells scored, in order")
    ax.set_ylabel(str(fitness_name))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    section.figure(fig, f"Every scored cell's {fitness_name} in sampling order ({len(values)} cells).")


def nas_benchmark_view(report: Report, run: RunFiles, media: bool) -> None:
    """The offline benchmark: each proxy against trained accuracy (scatter, Kendall tau, Spearman rho), what
    random-N with NASWOT picks, and the most accurate cells as diagrams."""
    from evoforge.experiments.nas import benchmark_report, plot_proxies, read_benchmark
    from evoforge.nas.space import Cell
    from evoforge.report.diagrams import cells_figure

    section = report.section("Proxies against accuracy")
    rows = list(read_benchmark(run.path).values())
    if len(rows) < 2:
        section.note("fewer than two trained architectures so far")
        return
    experiment = run.experiment()
    names = experiment.config.proxy.names
    summary = benchmark_report(experiment.config, rows)
    with tempfile.TemporaryDirectory() as tmp:
        section.figure(plot_proxies(rows, names, Path(tmp) / "proxies.png"),
                       "Each proxy's score of the untrained network against its trained test accuracy.")
    section.text(f"{summary['architectures']} architectures; trained accuracy {summary['accuracy_mean']:.1f} % "
                 f"mean (range {summary['accuracy_min']:.1f}-{summary['accuracy_max']:.1f}); Kendall tau between "
                 f"two training seeds: {summary['seed_to_seed_kendall_tau']}.")
    section.table(["proxy", "Kendall tau", "Spearman rho", "n", "seconds per cell"],
                  [(name, c["kendall_tau"], c["spearman_rho"], c["n"], c["seconds_mean"])
                   for name, c in summary["correlations"].items()], caption="rank correlation with accuracy")
    if summary["random_n"]:
        section.table(["N", "NASWOT pick mean", "std", "random pick mean", "best in sample mean", "repeats"],
                      [(s["n"], s["proxy_pick_mean"], s["proxy_pick_std"], s["random_pick_mean"],
                        s["best_in_sample_mean"], s["repeats"]) for s in summary["random_n"]],
                      caption="random-N: accuracy (%) of the cell NASWOT picks among N random cells")
    best = sorted(rows, key=lambda row: -row["accuracy"])[:6]
    report.section("Most accurate cells").figure(
        cells_figure([(Cell.from_string(row["arch"]), f"accuracy {row['accuracy']:.1f} %") for row in best]),
        "The six most accurate cells of the sample.")


def evonorm_view(report: Report, run: RunFiles, media: bool) -> None:
    """Evolved normalization-activation layers (Liu et al. 2020): the best layers as formulas, the current
    population's accuracy on every anchor architecture, and the rejection counts."""
    searcher = run.searcher_state()
    section = report.section("Layers")
    if searcher is None or not searcher.history:
        section.note("no checkpoint with accepted layers yet")
        return
    ranked = best_distinct(searcher.history, 10)
    section.table(["rank", "layer (formula)", "mean accuracy %"],
                  [(k + 1, str(graph), accuracy) for k, (graph, accuracy) in enumerate(ranked)],
                  caption=f"best distinct accepted layers ({len(searcher.history)} accepted, {searcher.rejected} "
                          "rejected in all)")
    anchors = list(run.config.get("anchors", []))
    members = [(graph, scores) for graph, _, scores in searcher.population if len(scores) == len(anchors) > 1]
    if members:
        section.table(["layer", *[f"{a} %" for a in anchors]], [(str(g), *scores) for g, scores in members],
                      caption="the final population's accuracy on each anchor architecture (the Pareto "
                              "tournament's objectives)")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 3.4))
        order = sorted(range(len(members)), key=lambda i: -np.mean(members[i][1]))
        width = 0.8 / len(anchors)
        for a, anchor in enumerate(anchors):
            ax.bar(np.arange(len(order)) + a * width, [members[i][1][a] for i in order], width, label=anchor)
        ax.set_xticks(np.arange(len(order)) + 0.4 - width / 2, [f"L{k + 1}" for k in range(len(order))])
        ax.set_ylabel("test accuracy %")
        ax.set_xlabel("population member (by mean accuracy; formulas in the table above)")
        ax.legend(fontsize=8)
        section.figure(fig, "Per-architecture accuracy of the final population.")
    compare = run.path / "compare.json"
    if compare.is_file():
        rows = json.loads(compare.read_text())
        section.table(["layer", "anchor", "batch", "mean %", "std", "n", "diverged"],
                      [(r["layer"], r["anchor"], r["batch"], r["mean"], r["std"], r["n"], r["diverged"])
                       for r in rows], caption="compare.json (scripts/evonorm_compare.py): layers trained from "
                                               "scratch over several seeds")


def _tensor(genome: Any) -> Any:
    import torch

    return torch.as_tensor(genome).detach().flatten().to(torch.float32)


def _histogram(values: np.ndarray, label: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2.6))
    ax.hist(values, bins=60, color="#2b8cbe")
    ax.set_xlabel(label)
    ax.set_ylabel("count")
    return fig


VIEWS: dict[str, Callable[[Report, RunFiles, bool], None]] = {
    "gym_control": control_view,
    "hebbian": control_view,
    "pcgrl": pcgrl_view,
    "poet": poet_view,
    "nas": nas_view,
    "nas_benchmark": nas_benchmark_view,
    "evonorm": evonorm_view,
}
