"""POET on BipedalWalker terrains (Wang et al. 2019): the walker environment space, the evaluator, the
experiment (a :class:`~evoforge.search.poet.POETSearcher` on the Run), and its inspect / replay / report
surface.

An evaluation job is (terrain config as a dict, genome); the evaluator runs one episode of the pair's agent
(:class:`~evoforge.policies.walker.WalkerAgent`) on that terrain, reset with the terrain's own seed so that every
rollout of an environment is the same episode, as in the reference with ``stochastic`` off (its 5
self-evaluation rollouts are identical, so one is run). All jobs of an iteration go through the Run's pool.

Besides the Run's files (metrics.jsonl with one record per iteration, rotated checkpoints of the whole POET
state, summary.json, best.pt), the run keeps ``environments.json``: every environment ever created, with its
encoding, parent, creation, best score, when solved / retired and difficulty class.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from evoforge.envs.cppn import CPPN, mutate_cppn
from evoforge.envs.poet_walker import (
    CATEGORIES,
    DIFFICULTY_CLASSES,
    POETWalker,
    TerrainConfig,
    difficulty,
    mutate_terrain,
)
from evoforge.errors import UserError
from evoforge.experiments.base import Experiment, InspectOptions, ReplayOptions
from evoforge.experiments.config import BaseRunConfig
from evoforge.policies.walker import AgentSettings, WalkerAgent, walker_mlp
from evoforge.search.es import ESSettings
from evoforge.search.evaluation import Evaluation, Evaluator
from evoforge.search.poet import POET, EnvRecord, POETSearcher, POETSettings
from evoforge.search.run import RunOutcome
from evoforge.search.rundir import LEGACY_STATE_FILES, RunDir
from evoforge.search.seeds import RunStream, run_seed
from evoforge.search.storage import jsonable, write_json

__all__ = ["AgentSettings", "POETConfig", "POETExperiment", "WalkerAgent", "WalkerEvaluator", "WalkerSpace",
           "walker_mlp"]

MC_LOW, MC_HIGH = 25.0, 340.0  # the reference code's minimal criterion on walker returns (the paper: 50, 300)
SOLVED = 230.0  # a walker return that solves a terrain (the paper's threshold)
ENVIRONMENTS = "environments.json"
COUNTS = ("iteration", "active", "archived", "environments", "solved", "annecs", "transfers_attempted",
          "transfers_accepted")


class WalkerPOETSettings(POETSettings):
    """The ``poet:`` section: POET's loop with the reference walker's minimal criterion and solved threshold."""

    mc_low: float = MC_LOW
    mc_high: float = MC_HIGH
    solved: float = SOLVED


class POETConfig(BaseRunConfig):
    """Config of ``experiment: poet``: the POET loop, the agents' ES, the agent and the terrain categories."""

    experiment: Literal["poet"]
    poet: WalkerPOETSettings = WalkerPOETSettings()
    # the reference's ES: sigma 0.1 x 0.999 per step (floor 0.01), lr 0.01 x 0.9999 (floor 0.001, Adam), L2
    # 0.01; 512 rollouts there (configs/poet_paper.yaml), 64 by default
    search: ESSettings = ESSettings(algorithm="openai_es", popsize=64, sigma=0.1, sigma_decay=0.999,
                                    sigma_min=0.01, learning_rate=0.01, lr_decay=0.9999, lr_min=0.001,
                                    weight_decay=0.01)
    agent: AgentSettings = AgentSettings()
    categories: list[Literal["roughness", "pit", "stump"]] = Field(default_factory=lambda: list(CATEGORIES))
    terrain: Literal["parametric", "cppn"] = Field(
        "parametric", description="parametric: the original POET's 5-parameter terrains; cppn: Enhanced POET's "
                                  "CPPN ground heights (needs poet.novelty: pata_ec)")
    cppn_add_connection: float = Field(0.1, ge=0, le=1, description="cppn: probability that a mutation adds a "
                                                                    "connection (0 in the reference's config)")
    first_env: dict[str, Any] = Field(default_factory=dict, description="TerrainConfig fields; default flat (or "
                                                                        "the root CPPN of the run's seed)")

    @model_validator(mode="after")
    def _cppn_needs_pata_ec(self) -> "POETConfig":
        if self.terrain == "cppn" and self.poet.novelty != "pata_ec":
            raise ValueError("terrain: cppn has no parameter vector to measure novelty on: set poet.novelty: "
                             "pata_ec (Enhanced POET's performance-based novelty)")
        return self


class WalkerSpace:
    """Terrain configs (as dicts) for :class:`~evoforge.search.poet.POET`: the original POET's 5-parameter
    terrains, or with ``cppn`` Enhanced POET's CPPN terrains."""

    def __init__(self, categories: Sequence[str] = CATEGORIES, cppn: bool = False, add_connection: float = 0.1):
        self.categories, self.cppn, self.add_connection = tuple(categories), cppn, add_connection

    def mutate(self, env: dict, rng: np.random.Generator) -> dict:
        """A child terrain of ``env``: the original POET's mutation of every enabled category, or a valid CPPN
        mutation (:func:`~evoforge.envs.cppn.mutate_cppn`); a new terrain seed either way."""
        config = TerrainConfig.from_dict(env)
        if not self.cppn:
            return mutate_terrain(config, rng, self.categories).to_dict()
        parent = CPPN.from_dict(config.cppn) if config.cppn is not None else CPPN.root(rng)
        child = mutate_cppn(parent, rng, self.add_connection)
        return TerrainConfig(cppn=child.to_dict(), seed=int(rng.integers(1_000_000))).to_dict()

    def encoding(self, env: dict) -> np.ndarray:
        """The terrain's encoding vector (novelty distances are computed between these); CPPN terrains have none
        (their novelty is PATA-EC)."""
        config = TerrainConfig.from_dict(env)
        if config.cppn is not None:
            raise ValueError("a CPPN terrain has no encoding vector: use poet.novelty: pata_ec")
        return config.vector()

    def name(self, env: dict) -> str:
        """The terrain's name; POET rejects a child named like an active environment, as the reference."""
        return TerrainConfig.from_dict(env).name


def terrain_name(env: dict) -> str:
    """The name of a POET environment stored as a terrain dict."""
    return TerrainConfig.from_dict(env).name


class WalkerEvaluator(Evaluator):
    """Scores (terrain, weights) jobs: one episode each.

    Deterministic by design: every rollout of an environment is the same episode, reset with the terrain's own
    seed (the reference with ``stochastic`` off), so the seeds the Run hands over are not used.
    """

    deterministic: ClassVar[bool] = True  # ignores its seeds: the terrain seeds the episode

    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings

    def setup(self) -> None:
        self.agent = WalkerAgent(self.settings)
        self._envs: dict[tuple, POETWalker] = {}

    def _env(self, env: dict) -> tuple[POETWalker, int]:
        config = TerrainConfig.from_dict(env)
        key = (config.name, config.seed)
        if key not in self._envs:
            if len(self._envs) > 64:  # terrains come and go; keep the recent ones
                self._envs.pop(next(iter(self._envs))).close()
            self._envs[key] = POETWalker(config)
        return self._envs[key], config.seed

    def evaluate(self, genomes: Sequence[tuple[dict, torch.Tensor]], seeds: Sequence[int]) -> list[Evaluation]:
        """One episode of each job's agent on its terrain (``seeds`` unused: see the class docstring)."""
        results = []
        for env_dict, weights in genomes:
            env, seed = self._env(env_dict)
            total, steps = self.agent.episode(weights, env, seed)
            results.append(Evaluation(fitness=total, metrics={"steps": float(steps)}))
        return results


class POETExperiment(Experiment):
    """``experiment: poet``: a :class:`~evoforge.search.poet.POETSearcher` on the Run, one generation per POET
    iteration, with ``poet.generations`` as the budget that ``evoforge resume --generations`` extends."""

    config_class = POETConfig
    generations_key = "poet.generations"

    def __init__(self, config: POETConfig) -> None:
        self.config = config
        self.settings = config.run_settings(config.poet.generations, None)

    def evaluator_factory(self) -> partial[WalkerEvaluator]:
        """A picklable factory of the walker evaluator with this config's ``agent:`` section."""
        return partial(WalkerEvaluator, self.config.agent)

    def space(self) -> WalkerSpace:
        """The environment space the config names (5-parameter or CPPN terrains)."""
        return WalkerSpace(self.config.categories, self.config.terrain == "cppn", self.config.cppn_add_connection)

    def make_poet(self) -> POET:
        """A fresh POET loop whose first environment is ``first_env`` (flat by default; for CPPN terrains the
        root CPPN drawn from the run's seed, a random gentle slope as the reference's)."""
        first = dict(self.config.first_env)
        if self.config.terrain == "cppn" and first.get("cppn") is None:
            rng = np.random.default_rng(run_seed(self.config.seed, RunStream.INITIAL_GENOME))
            first["cppn"] = CPPN.root(rng).to_dict()
        return POET(self.config.poet, self.config.search, self.space(), TerrainConfig.from_dict(first).to_dict(),
                    WalkerAgent(self.config.agent).num_params, seed=self.config.seed)

    def make_searcher(self) -> POETSearcher:
        """The POET loop at iteration 0, as a Run searcher."""
        return POETSearcher(self.make_poet())

    def load_poet(self, run_dir: Path | RunDir) -> POET | None:
        """The POET state of the run's newest valid checkpoint, or None when the run has none yet (a
        checkpoint of an older format is refused with :class:`~evoforge.errors.CheckpointError`)."""
        files = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
        legacy = any(files.artifact(name).is_file() for name in LEGACY_STATE_FILES)
        if not files.checkpoints() and not legacy:
            return None
        return self.load_searcher(files).poet

    # -- the run's hooks -----------------------------------------------------------------------------------
    def on_generation(self, run_dir: RunDir, searcher: POETSearcher) -> None:
        """Rewrite environments.json after every iteration."""
        write_environments(searcher.poet, run_dir.artifact(ENVIRONMENTS))

    def final_summary(self, outcome: RunOutcome) -> dict[str, Any]:
        """Iterations, pairs, environments, environments solved, ANNECS and transfers, and a headline of them.
        (The count of solved environments is ``environments_solved``: the run's own ``solved`` says whether a
        stop fitness was reached.)"""
        poet = outcome.searcher.poet
        counts = {k: v for k, v in poet.metrics().items() if k not in ("iteration", "scores", "solved")}
        counts["environments_solved"] = poet.metrics()["solved"]
        counts.update({f"{kind}_{re.sub(r'[^a-z]+', '_', label.lower()).strip('_')}": number
                       for (label, kind), number in class_counts(poet).items()})
        headline = f"{poet.iteration} iterations, {counts['environments']} environments, ANNECS {counts['annecs']}"
        return {"iterations": poet.iteration, **counts, "headline": headline}

    # -- inspect, replay, report ---------------------------------------------------------------------------
    def _require_poet(self, run_dir: RunDir) -> POET:
        poet = self.load_poet(run_dir)
        if poet is None:
            raise UserError(f"{run_dir} has no POET state to read (no checkpoint yet)")
        return poet

    def inspect(self, run_dir: RunDir, options: InspectOptions) -> list[str]:
        """The latest counts, poet.png (pairs, environments, ANNECS, transfers over iterations) and
        environments.png (the tree of every environment as terrain thumbnails)."""
        poet = self._require_poet(run_dir)
        last = poet.history[-1] if poet.history else poet.metrics()
        lines = [f"{key:<20}  {last[key]}" for key in COUNTS]
        lines += [f"{kind} {label}: {number}" for (label, kind), number in class_counts(poet).items() if number]
        if poet.history:
            path = plot_progress(poet.history, run_dir.artifact("poet.png"), solved=poet.settings.solved)
            lines.append(f"progress -> {path}")
        lines.append(f"environment tree -> {plot_environment_tree(poet, run_dir.artifact('environments.png'))}")
        return lines

    def replay_run(self, run_dir: RunDir, options: ReplayOptions) -> list[str]:
        """Agent ``options.agent`` (default: the best active pair's) on environment ``options.on`` (default its
        own), any pair of the run, active or retired; with ``options.video``, a video of it."""
        from evoforge.media import write_video

        poet = self._require_poet(run_dir)
        agent = options.agent if options.agent is not None else max(poet.pairs, key=lambda p: p.score).id
        env_id = options.on if options.on is not None else agent
        try:
            total, frames = replay_agent(self, poet, agent, env_id, record=options.video is not None)
        except ValueError as exc:
            raise UserError(str(exc).splitlines()[0]) from None
        lines = [f"agent #{agent} on environment #{env_id}: return {total:.2f}"]
        if options.video is not None:
            lines.append(f"video -> {write_video(frames, options.video, fps=self.video_fps)}")
        return lines

    def report_sections(self, report: Any, run_dir: RunDir, media: bool) -> None:
        """POET: progress over iterations, the tree of every environment ever created drawn as terrain
        thumbnails (solved framed green, retired greyed), the environments and pairs as tables, and (with
        ``media``) the best active agent walking its terrain."""
        poet = self.load_poet(run_dir)
        section = report.section("POET")
        if poet is None:
            section.note("no POET state yet")
            return
        last = poet.history[-1] if poet.history else poet.metrics()
        section.table(list(COUNTS), [[last[key] for key in COUNTS]])
        classes = class_counts(poet)
        labels = list(dict.fromkeys(label for label, _ in classes))
        section.table(["class", "created", "solved"],
                      [(label, classes[label, "created"], classes[label, "solved"]) for label in labels],
                      caption="environments by the paper's difficulty classes (how many of stump height >= 2.4, "
                              "gap width >= 6.0, roughness >= 4.5 their upper bounds reach; solved = score >= "
                              f"{poet.settings.solved:g} at some point)")
        with tempfile.TemporaryDirectory() as tmp:  # a report never changes the run's files
            if poet.history:
                section.figure(plot_progress(poet.history, Path(tmp) / "poet.png", solved=poet.settings.solved),
                               "Active pairs, environments created, ANNECS (environments that passed the minimal "
                               "criterion against all agents so far and were later solved) and transfers over "
                               f"iterations; right: best self-evaluation, solved at {poet.settings.solved:g}.")
            tree = report.section("Environment tree")
            tree.figure(plot_environment_tree(poet, Path(tmp) / "environments.png"),
                        "Every environment ever created, as a family tree of terrain thumbnails: rows are "
                        "generations of mutation, each with its best score and difficulty class; solved ones "
                        "framed green, retired ones greyed.")
        rows = [(r.id, terrain_name(r.env), r.parent, r.created, _finite(r.best_score), r.solved_at, r.retired_at)
                for r in sorted(poet.envs.values(), key=lambda r: r.id)]
        tree.table(["id", "terrain", "parent", "created", "best score", "solved at", "retired at"], rows,
                   caption="environments")
        tree.table(["pair", "environment", "self-evaluation", "created"],
                   [(p.id, terrain_name(p.env), _finite(p.score), p.created) for p in poet.pairs],
                   caption="active pairs")
        if media and poet.pairs:
            best = max(poet.pairs, key=lambda p: p.score)
            total, frames = replay_agent(self, poet, best.id, best.id, record=True)
            report.section("Best agent").animation(
                frames, f"Agent #{best.id} on its own environment #{best.id}: return {total:.1f}.", fps=50)


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None


def write_environments(poet: POET, path: Path) -> None:
    """Write every environment ever created to ``path`` as JSON (atomically): terrain, parent, creation, best
    score, solved / retired iteration and difficulty class."""
    rows = []
    for record in poet.envs.values():
        config = TerrainConfig.from_dict(record.env)
        rows.append({"id": record.id, "name": config.name, "env": record.env, "parent": record.parent,
                     "created": record.created, "best_score": record.best_score, "solved_at": record.solved_at,
                     "retired_at": record.retired_at, "difficulty": difficulty(config)})
    write_json(path, rows, indent=1)


# -- the direct-ES control --------------------------------------------------------------------------------------------
def hardest_solved(poet: POET) -> EnvRecord | None:
    """The hardest environment the run solved: highest difficulty class, then farthest from flat in the 5-D
    encoding (the space POET's novelty measures); None if nothing but the start was solved."""
    solved = [r for r in poet.envs.values() if r.solved_at is not None and r.parent is not None]
    if not solved:
        return None

    def hardness(record: EnvRecord) -> tuple[int, float]:
        config = TerrainConfig.from_dict(record.env)
        if config.cppn is not None:  # no classes: the most rugged ground (total variation of its heights)
            return -1, relief(config)
        return DIFFICULTY_CLASSES.index(difficulty(config)), float(np.linalg.norm(config.vector()))

    return max(solved, key=hardness)


def class_counts(poet: POET) -> dict[tuple[str, str], int]:
    """Environments created and solved per difficulty class (the paper's four classes, and "unclassified
    (CPPN)" for CPPN terrains when there are any): ``{(class, "created" | "solved"): count}``."""
    labels = [*DIFFICULTY_CLASSES]
    found = [(difficulty(TerrainConfig.from_dict(r.env)), r.solved_at is not None) for r in poet.envs.values()]
    labels += sorted({label for label, _ in found} - set(labels))
    counts = {}
    for label in labels:
        counts[label, "created"] = sum(1 for found_label, _ in found if found_label == label)
        counts[label, "solved"] = sum(1 for found_label, solved in found if found_label == label and solved)
    return counts


def relief(config: TerrainConfig) -> float:
    """The total variation of a terrain's ground heights (sum of |height change| per step, in metres)."""
    env = POETWalker(config)
    env.reset(seed=config.seed)
    heights = np.asarray(env.terrain_y)
    env.close()
    return float(np.abs(np.diff(heights)).sum())


def es_steps_until(history: list[dict[str, Any]], iteration: int) -> int:
    """ES steps POET took over all its pairs from the start up to and including ``iteration`` (0-based, as
    ``solved_at``): one per active pair per iteration (transfer and admission proposals not counted).
    ``history`` is POET's (or metrics.jsonl's records), whose ``iteration`` counts iterations completed."""
    return int(sum(record["active"] for record in history if record["iteration"] <= iteration + 1))


def direct_es_overrides(poet: POET, record: EnvRecord) -> list[str]:
    """``--set`` overrides that turn a POET config into plain ES on ``record``'s terrain (same agent, same ES
    settings, one pair, no reproduction) for as many ES steps as POET took until it solved that terrain."""
    budget = es_steps_until(poet.history, record.solved_at)
    terrain = json.dumps(jsonable(record.env), separators=(",", ":"))
    return [f"first_env={terrain}", "poet.capacity=1", f"poet.reproduce_every={budget + 1}",
            f"poet.generations={budget}"]


# -- generalisation ---------------------------------------------------------------------------------------------------
GENERALISATION_SEED = 7_000_001  # the fresh terrain seeds are GENERALISATION_SEED + k (no run draws these)


def generalisation(experiment: POETExperiment, poet: POET, episodes: int = 10) -> list[dict[str, Any]]:
    """Each solved environment's solving agent (the genome that set its best score, ``EnvRecord.best_genome``)
    played on its own terrain and on ``episodes`` fresh terrain seeds of the same parameters (encoding or CPPN
    unchanged, ``seed`` = GENERALISATION_SEED + k): does the agent solve the terrain family, or only the one
    realisation POET optimised it on? One row per environment: its own score (equal to the recorded best,
    the episode being deterministic), the fresh scores, their mean and 95 % interval, and the share >= the
    run's solved threshold. Reference: Wang et al. 2019 re-test transferred agents only on their own
    terrains; this is our control, not the paper's."""
    from evoforge.stats import summarise

    threshold = experiment.config.poet.solved
    rows = []
    for record in sorted(poet.envs.values(), key=lambda r: r.id):
        if record.solved_at is None or record.best_genome is None:
            continue
        config = TerrainConfig.from_dict(record.env)
        own, _ = play(experiment.config.agent, record.env, record.best_genome)
        seeds = [GENERALISATION_SEED + k for k in range(episodes)]
        fresh = [play(experiment.config.agent, {**record.env, "seed": seed}, record.best_genome)[0]
                 for seed in seeds]
        summary = summarise(fresh)
        rows.append({"env": record.id, "name": config.name, "difficulty": difficulty(config),
                     "recorded_best": record.best_score, "own_terrain": own, "terrain_seeds": seeds,
                     "fresh": fresh, "fresh_mean": summary.mean, "fresh_ci": [summary.ci_low, summary.ci_high],
                     "fresh_solved_share": sum(score >= threshold for score in fresh) / len(fresh)})
    return rows


# -- replay -----------------------------------------------------------------------------------------------------------
def agent_genome(poet: POET, agent_id: int) -> torch.Tensor:
    """The agent of pair ``agent_id``: the active or retired pair's current center."""
    for pair in poet.pairs + poet.archive:
        if pair.id == agent_id:
            return pair.searcher.center
    raise ValueError(f"no agent {agent_id}; the run has agents {sorted(p.id for p in poet.pairs + poet.archive)}")


def play(settings: AgentSettings, terrain: dict, weights: torch.Tensor, record: bool = False
         ) -> tuple[float, list[np.ndarray]]:
    """One episode of ``weights`` on ``terrain`` (reset with the terrain's seed); the return and, if ``record``,
    the frames."""
    config = TerrainConfig.from_dict(terrain)
    env = POETWalker(config, render_mode="rgb_array" if record else None)
    frames: list[np.ndarray] = []
    try:
        total, _ = WalkerAgent(settings).episode(weights, env, config.seed, frames if record else None)
    finally:
        env.close()
    return total, frames


def replay_agent(experiment: POETExperiment, poet: POET, agent_id: int, env_id: int, record: bool = False
                 ) -> tuple[float, list[np.ndarray]]:
    """One episode of agent ``agent_id`` on environment ``env_id`` (any pair of the run, active or retired);
    returns the return and, if ``record``, the frames."""
    genome = agent_genome(poet, agent_id)
    if env_id not in poet.envs:
        raise ValueError(f"no environment {env_id}; the run has {sorted(poet.envs)}")
    return play(experiment.config.agent, poet.envs[env_id].env, genome, record)


# -- plots -----------------------------------------------------------------------------------------------------------
def plot_environment_tree(poet: POET, path: Path) -> Path:
    """Every environment ever created as a node of its family tree (rows = generations of mutation), each drawn
    as a terrain thumbnail with its best score; solved ones framed green, retired ones greyed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from evoforge.envs.poet_walker import terrain_thumbnail

    records = sorted(poet.envs.values(), key=lambda r: r.id)
    depth: dict[int, int] = {}
    for record in records:
        depth[record.id] = 0 if record.parent is None else depth[record.parent] + 1
    rows: dict[int, list] = {}
    for record in records:
        rows.setdefault(depth[record.id], []).append(record)
    width = max(len(row) for row in rows.values())
    fig = plt.figure(figsize=(3.2 * width, 1.4 * len(rows) + 0.4))
    centers = {}
    for level, row in rows.items():
        for k, record in enumerate(row):
            left = (k + (width - len(row)) / 2) / width
            bottom = 1 - (level + 1) / len(rows)
            ax = fig.add_axes([left + 0.01, bottom + 0.12 / len(rows), 1 / width - 0.02, 0.62 / len(rows)])
            config = TerrainConfig.from_dict(record.env)
            score = "-" if not np.isfinite(record.best_score) else f"{record.best_score:.0f}"
            terrain_thumbnail(config, ax, title=f"#{record.id} {config.name}\nbest {score}, {difficulty(config)}")
            colour = "green" if record.solved_at is not None else ("0.6" if record.retired_at is not None else "black")
            for spine in ax.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(2 if record.solved_at is not None else 0.8)
            centers[record.id] = (left + 0.5 / width, bottom + 0.12 / len(rows))
    overlay = fig.add_axes([0, 0, 1, 1], facecolor="none")
    overlay.set_axis_off()
    for record in records:
        if record.parent is not None:
            x0, y0 = centers[record.parent]
            x1, y1 = centers[record.id]
            overlay.plot([x0, x1], [y0, y1 + 0.7 / len(rows)], color="0.5", linewidth=0.8)
    overlay.set_xlim(0, 1)
    overlay.set_ylim(0, 1)
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_progress(history: list[dict[str, Any]], path: Path, solved: float = SOLVED) -> Path:
    """Active pairs, environments created, ANNECS and accepted transfers over iterations; the best active
    self-evaluation against the ``solved`` threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    iterations = [r["iteration"] for r in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for key, label in (("active", "active pairs"), ("environments", "environments created"), ("annecs", "ANNECS"),
                       ("solved", "environments solved")):
        axes[0].plot(iterations, [r[key] for r in history], label=label)
    axes[0].set_xlabel("iteration")
    axes[0].legend(fontsize=8)
    best = [max([s for s in r["scores"].values() if s is not None], default=np.nan) for r in history]
    axes[1].plot(iterations, best, label="best active self-eval")
    axes[1].plot(iterations, [r["transfers_accepted"] for r in history], label="transfers accepted (total)")
    axes[1].axhline(solved, color="green", linestyle=":", linewidth=1, label=f"solved ({solved:g})")
    axes[1].set_xlabel("iteration")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
