"""POET on BipedalWalker terrains (Wang et al. 2019): the walker environment space, the agents, the evaluator,
the run driver, and the inspection / replay helpers behind ``evoforge inspect`` and ``evoforge replay``.

An evaluation job is (terrain config as a dict, genome); the evaluator runs one episode of the pair's agent on
that terrain, reset with the terrain's own seed so that every rollout of an environment is the same episode, as
in the reference with ``stochastic`` off (its 5 self-evaluation rollouts are identical, so one is run). Agents:
the reference's 24-40-40-4 all-tanh MLP (2,804 weights), or a Hebbian network of the same shape whose genome is
its plasticity rules (``agent.kind: hebbian``). All jobs of an iteration go through the shared pool.

The driver writes ``metrics.jsonl`` (one record per iteration), ``environments.json`` (every environment ever
created: encoding, parent, creation, best score, when solved / retired, difficulty class) and a checkpoint of
the whole POET state after every iteration; ``evoforge resume`` continues to the same result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from evoforge.envs.poet_walker import (
    CATEGORIES,
    DIFFICULTY_CLASSES,
    POETWalker,
    TerrainConfig,
    difficulty,
    mutate_terrain,
)
from evoforge.experiments.config import BaseRunConfig
from evoforge.plasticity.rules import RuleName, Sharing
from evoforge.policies.hebbian import HebbianMLP, WeightInit
from evoforge.policies.mlp import BatchedMLP
from evoforge.search.checkpoint import atomic_write_bytes, decode, encode
from evoforge.search.es import ESSettings
from evoforge.search.evaluation import Evaluation, Evaluator
from evoforge.search.poet import POET, EnvRecord, POETSettings

STATE_FILE = "poet_state.ckpt"


class AgentSettings(BaseModel):
    """The ``agent:`` section: a static MLP or a Hebbian network of the reference's shape, and the episode cap."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["mlp", "hebbian"] = Field(
        "mlp", description="mlp: the reference's static 24-40-40-4 tanh MLP; hebbian: a bias-free network whose "
                           "random weights are rewritten every step by evolved Hebbian rules (Najarro & Risi 2020)")
    hidden: list[int] = Field(default_factory=lambda: [40, 40])
    max_episode_steps: int = Field(2000, ge=1, description="the reference's cap, in training and evaluation")
    rule: RuleName = Field("ABCD_lr", description="hebbian: the rule family")
    sharing: Sharing = Field("synapse", description="hebbian: one rule per synapse, post_neuron, layer or modulo")
    init: WeightInit = Field("uniform", description="hebbian: initial weights, drawn from the terrain seed")


class POETConfig(BaseRunConfig):
    """Config of ``experiment: poet``: the POET loop, the agents' ES, the agent and the terrain categories."""

    experiment: Literal["poet"]
    poet: POETSettings = POETSettings()
    # the reference's ES: sigma 0.1 x 0.999 per step (floor 0.01), lr 0.01 (Adam), L2 0.01; 512 rollouts there
    search: ESSettings = ESSettings(algorithm="openai_es", popsize=64, sigma=0.1, sigma_decay=0.999,
                                    sigma_min=0.01, learning_rate=0.01, weight_decay=0.01)
    agent: AgentSettings = AgentSettings()
    categories: list[Literal["roughness", "pit", "stump"]] = Field(default_factory=lambda: list(CATEGORIES))
    first_env: dict[str, Any] = Field(default_factory=dict, description="TerrainConfig fields; default flat")


class WalkerSpace:
    """Terrain configs (as dicts) for :class:`~evoforge.search.poet.POET`."""

    def __init__(self, categories: Sequence[str] = CATEGORIES):
        self.categories = tuple(categories)

    def mutate(self, env: dict, rng: np.random.Generator) -> dict:
        """A child terrain of ``env``: the original POET's mutation of every enabled category, a new terrain seed."""
        return mutate_terrain(TerrainConfig.from_dict(env), rng, self.categories).to_dict()

    def encoding(self, env: dict) -> np.ndarray:
        """The terrain's encoding vector (novelty distances are computed between these)."""
        return TerrainConfig.from_dict(env).vector()

    def name(self, env: dict) -> str:
        """The terrain's name; POET rejects a child named like an active environment."""
        return TerrainConfig.from_dict(env).name  # the reference rejects a child named like an active env


def walker_mlp(settings: AgentSettings) -> BatchedMLP:
    """The reference's all-tanh MLP for BipedalWalker: 24 inputs, ``settings.hidden``, 4 outputs."""
    return BatchedMLP((24, *settings.hidden, 4), activation="tanh", output_activation="tanh")


class WalkerAgent:
    """A POET pair's policy: a genome (the ES centre or a perturbation of it) turned into a controller for one
    episode. ``mlp``: the genome is the weights; ``hebbian``: it is the rule coefficients, and the weights start
    random (from the episode seed) and change at every step."""

    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        if settings.kind == "mlp":
            self.mlp = walker_mlp(settings)
            self.num_params = self.mlp.num_params
        else:
            self.hebbian = HebbianMLP(sizes=(24, *settings.hidden, 4), rule=settings.rule, sharing=settings.sharing,
                                      init=settings.init, output_activation="tanh")
            self.num_params = self.hebbian.num_params

    def controller(self, genome: torch.Tensor, seed: int) -> Callable[[np.ndarray], np.ndarray]:
        """A function from one observation to one action for ``genome``; Hebbian agents start from weights drawn
        from ``seed``.
        """
        genome = torch.as_tensor(genome, dtype=torch.float32).reshape(1, -1)
        if self.settings.kind == "mlp":
            layers = self.mlp.numpy_layers(genome)
            return lambda obs: self.mlp.forward_numpy(layers, obs.reshape(1, 1, -1).astype(np.float32))[0, 0]
        state = self.hebbian.start(genome.numpy(), [[seed]])
        return lambda obs: self.hebbian.step(state, obs.reshape(1, 1, -1))[0, 0]

    def episode(self, genome: torch.Tensor, env: POETWalker, seed: int, frames: list | None = None
                ) -> tuple[float, int]:
        """One episode reset with ``seed`` (the terrain's own: every rollout of an environment is the same
        episode); returns the return and the number of steps, and appends rendered frames to ``frames``."""
        act = self.controller(genome, seed)
        obs, _ = env.reset(seed=seed)
        total, steps = 0.0, 0
        for steps in range(1, self.settings.max_episode_steps + 1):
            if frames is not None:
                frames.append(env.render())
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += float(reward)
            if terminated or truncated:
                break
        return total, steps


class WalkerEvaluator(Evaluator):
    """Scores (terrain, weights) jobs: one deterministic episode each."""

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
        results = []
        for env_dict, weights in genomes:
            env, seed = self._env(env_dict)
            total, steps = self.agent.episode(weights, env, seed)
            results.append(Evaluation(fitness=total, metrics={"steps": float(steps)}))
        return results


class POETExperiment:
    """``experiment: poet``: runs its own outer loop (:meth:`run`) on the shared evaluator pool, with
    ``poet.iterations`` as the budget that ``evoforge resume --generations`` extends.
    """

    config_class = POETConfig
    budget_key = "poet.iterations"  # what `evoforge resume --generations N` extends

    def __init__(self, config: POETConfig) -> None:
        self.config = config
        self.settings = config.run_settings(config.poet.iterations, None)

    @staticmethod
    def describe(summary: dict[str, Any]) -> str:
        """One line on a finished run: iterations, environments, ANNECS."""
        return (f"{summary['iterations']} iterations, {summary['environments']} environments, "
                f"ANNECS {summary['annecs']}")

    def evaluator_factory(self) -> partial[WalkerEvaluator]:
        """A picklable factory of the walker evaluator with this config's ``agent:`` section."""
        return partial(WalkerEvaluator, self.config.agent)

    def make_poet(self) -> POET:
        """A fresh POET loop whose first environment is ``first_env`` (flat by default)."""
        first = TerrainConfig.from_dict(self.config.first_env).to_dict()
        return POET(self.config.poet, self.config.search, WalkerSpace(self.config.categories), first,
                    WalkerAgent(self.config.agent).num_params, seed=self.config.seed)

    def load_poet(self, run_dir: Path) -> POET | None:
        """The POET state saved in ``run_dir`` (after the last completed iteration), or None when there is none."""
        path = Path(run_dir) / STATE_FILE
        if not path.is_file():
            return None
        return POET.from_state(decode(path.read_bytes(), str(path)), WalkerSpace(self.config.categories))

    def run(self, run_dir: Path, address: str | None = None, progress: bool = True) -> dict[str, Any]:
        """Run (or continue) POET in ``run_dir`` with the shared evaluator pool; returns the summary."""
        from rich.progress import Progress

        from evoforge.search.pool import EvaluatorPool

        run_dir = Path(run_dir)
        poet = self.load_poet(run_dir) or self.make_poet()
        pool_settings = self.config.pool
        pool = EvaluatorPool(self.evaluator_factory(), backend=pool_settings.backend,
                             num_workers=pool_settings.workers, chunk_size=pool_settings.chunk_size,
                             address=address, max_restarts=pool_settings.max_restarts)
        steps = {"count": 0}

        def evaluate(jobs: list[tuple[Any, torch.Tensor]]) -> list[float]:
            evaluations = pool.evaluate(list(jobs), [0] * len(jobs))  # the terrain seeds the episode
            failed = [e for e in evaluations if e.failed]
            if failed:
                raise RuntimeError(f"{len(failed)} POET evaluations failed, first: {failed[0].error}")
            steps["count"] += int(sum(e.metrics.get("steps", 0) for e in evaluations))
            return [e.fitness for e in evaluations]

        began = time.perf_counter()
        total = self.config.poet.iterations
        pool.start()
        try:
            with Progress(disable=not progress) as bar:
                task = bar.add_task(self.config.name, total=total, completed=poet.iteration)
                while poet.iteration < total:
                    record = poet.run_iteration(evaluate)
                    record.update({"env_steps": steps["count"], "wall_s": time.perf_counter() - began})
                    steps["count"] = 0
                    with open(run_dir / "metrics.jsonl", "a") as handle:
                        handle.write(json.dumps(_jsonable(record)) + "\n")
                    atomic_write_bytes(run_dir / STATE_FILE, encode(poet.state()))
                    write_environments(poet, run_dir / "environments.json")
                    bar.update(task, completed=poet.iteration,
                               description=f"{self.config.name} envs {record['environments']} "
                                           f"ANNECS {record['annecs']}")
        finally:
            pool.shutdown()
        summary = {"name": self.config.name, "status": "completed", "iterations": poet.iteration,
                   **{k: v for k, v in poet.metrics().items() if k != "scores"},
                   "wall_time_s": time.perf_counter() - began}
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary


def write_environments(poet: POET, path: Path) -> None:
    """Write every environment ever created to ``path`` as JSON: terrain, parent, creation, best score,
    solved / retired iteration and difficulty class.
    """
    rows = []
    for record in poet.envs.values():
        config = TerrainConfig.from_dict(record.env)
        rows.append({"id": record.id, "name": config.name, "env": record.env, "parent": record.parent,
                     "created": record.created, "best_score": record.best_score, "solved_at": record.solved_at,
                     "retired_at": record.retired_at, "difficulty": difficulty(config)})
    path.write_text(json.dumps(_jsonable(rows), indent=1))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


# -- the direct-ES control --------------------------------------------------------------------------------------------
def hardest_solved(poet: POET) -> EnvRecord | None:
    """The hardest environment the run solved: highest difficulty class, then farthest from flat in the 5-D
    encoding (the space POET's novelty measures); None if nothing but the start was solved."""
    solved = [r for r in poet.envs.values() if r.solved_at is not None and r.parent is not None]
    if not solved:
        return None

    def hardness(record: EnvRecord) -> tuple[int, float]:
        config = TerrainConfig.from_dict(record.env)
        return DIFFICULTY_CLASSES.index(difficulty(config)), float(np.linalg.norm(config.vector()))

    return max(solved, key=hardness)


def es_steps_until(history: list[dict[str, Any]], iteration: int) -> int:
    """ES steps POET took over all its pairs from the start up to and including ``iteration`` (0-based, as
    ``solved_at``): one per active pair per iteration (transfer and admission proposals not counted)."""
    return int(sum(record["active"] for record in history if record["iteration"] <= iteration + 1))


def direct_es_overrides(poet: POET, record: EnvRecord) -> list[str]:
    """``--set`` overrides that turn a POET config into plain ES on ``record``'s terrain (same agent, same ES
    settings, one pair, no reproduction) for as many ES steps as POET took until it solved that terrain."""
    budget = es_steps_until(poet.history, record.solved_at)
    terrain = json.dumps(_jsonable(record.env), separators=(",", ":"))
    return [f"first_env={terrain}", "poet.capacity=1", f"poet.reproduce_every={budget + 1}",
            f"poet.iterations={budget}"]


# -- inspection and replay -----------------------------------------------------------------------------------------
def agent_genome(poet: POET, agent_id: int) -> torch.Tensor:
    """The agent of pair ``agent_id``: the active or retired pair's current centre."""
    for pair in poet.pairs + poet.archive:
        if pair.id == agent_id:
            return pair.searcher.center
    raise ValueError(f"no agent {agent_id}; the run has agents {sorted(p.id for p in poet.pairs + poet.archive)}")


def replay_agent(experiment: POETExperiment, poet: POET, agent_id: int, env_id: int, record: bool = False
                 ) -> tuple[float, list[np.ndarray]]:
    """One episode of agent ``agent_id`` on environment ``env_id`` (any pair of the run, active or retired);
    returns the return and, if ``record``, the frames."""
    if env_id not in poet.envs:
        raise ValueError(f"no environment {env_id}; the run has {sorted(poet.envs)}")
    config = TerrainConfig.from_dict(poet.envs[env_id].env)
    env = POETWalker(config, render_mode="rgb_array" if record else None)
    frames: list[np.ndarray] = []
    total, _ = WalkerAgent(experiment.config.agent).episode(agent_genome(poet, agent_id), env, config.seed,
                                                           frames if record else None)
    env.close()
    return total, frames


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
    centres = {}
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
            centres[record.id] = (left + 0.5 / width, bottom + 0.12 / len(rows))
    overlay = fig.add_axes([0, 0, 1, 1], facecolor="none")
    overlay.set_axis_off()
    for record in records:
        if record.parent is not None:
            x0, y0 = centres[record.parent]
            x1, y1 = centres[record.id]
            overlay.plot([x0, x1], [y0, y1 + 0.7 / len(rows)], color="0.5", linewidth=0.8)
    overlay.set_xlim(0, 1)
    overlay.set_ylim(0, 1)
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_progress(history: list[dict[str, Any]], path: Path) -> Path:
    """Active pairs, environments created, ANNECS and accepted transfers over iterations."""
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
    axes[1].axhline(230, color="green", linestyle=":", linewidth=1, label="solved (230)")
    axes[1].set_xlabel("iteration")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
