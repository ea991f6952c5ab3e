"""POET on BipedalWalker terrains (Wang et al. 2019): the walker environment space, the agent evaluator and the
run driver (issue 5, in progress: the loop, env, evaluator, checkpoint/resume and metrics are in place; the
tree-of-environments picture, replays of any agent on any environment and the measured run come next).

An evaluation job is (terrain config as a dict, agent weights); the evaluator runs one episode of the 24-40-40-4
all-tanh MLP (the reference's policy, 2,804 parameters) on that terrain, reset with the terrain's own seed so
that every rollout of an environment is the same episode, as in the reference with ``stochastic`` off (its 5
self-evaluation rollouts are identical, so one is run). All jobs of an iteration go through the shared pool.

The driver writes ``metrics.jsonl`` (one record per iteration), ``environments.json`` (every environment ever
created: encoding, parent, creation, best score, when solved / retired, difficulty class) and a checkpoint of
the whole POET state after every iteration; ``evoforge resume`` continues to the same result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from evoforge.envs.poet_walker import CATEGORIES, POETWalker, TerrainConfig, difficulty, mutate_terrain
from evoforge.experiments.config import BaseRunConfig
from evoforge.policies.mlp import BatchedMLP
from evoforge.search.checkpoint import atomic_write_bytes, decode, encode
from evoforge.search.es import ESSettings
from evoforge.search.evaluation import Evaluation, Evaluator
from evoforge.search.poet import POET, POETSettings

STATE_FILE = "poet_state.ckpt"


class AgentSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hidden: list[int] = Field(default_factory=lambda: [40, 40])
    max_episode_steps: int = Field(2000, ge=1, description="the reference's cap, in training and evaluation")


class POETConfig(BaseRunConfig):
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
        return mutate_terrain(TerrainConfig.from_dict(env), rng, self.categories).to_dict()

    def encoding(self, env: dict) -> np.ndarray:
        return TerrainConfig.from_dict(env).vector()

    def name(self, env: dict) -> str:
        return TerrainConfig.from_dict(env).name  # the reference rejects a child named like an active env


def walker_mlp(settings: AgentSettings) -> BatchedMLP:
    return BatchedMLP((24, *settings.hidden, 4), activation="tanh", output_activation="tanh")


class WalkerEvaluator(Evaluator):
    """Scores (terrain, weights) jobs: one deterministic episode each."""

    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings

    def setup(self) -> None:
        self.mlp = walker_mlp(self.settings)
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
            layers = self.mlp.numpy_layers(torch.as_tensor(weights, dtype=torch.float32).reshape(1, -1))
            obs, _ = env.reset(seed=seed)
            total, steps = 0.0, 0
            for steps in range(1, self.settings.max_episode_steps + 1):
                action = self.mlp.forward_numpy(layers, obs.reshape(1, 1, -1).astype(np.float32))[0, 0]
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                if terminated or truncated:
                    break
            results.append(Evaluation(fitness=total, metrics={"steps": float(steps)}))
        return results


class POETExperiment:
    config_class = POETConfig

    def __init__(self, config: POETConfig) -> None:
        self.config = config
        self.settings = config.run_settings(config.poet.iterations, None)

    def evaluator_factory(self) -> partial[WalkerEvaluator]:
        return partial(WalkerEvaluator, self.config.agent)

    def make_poet(self) -> POET:
        first = TerrainConfig.from_dict(self.config.first_env).to_dict()
        return POET(self.config.poet, self.config.search, WalkerSpace(self.config.categories), first,
                    walker_mlp(self.config.agent).num_params, seed=self.config.seed)

    def load_poet(self, run_dir: Path) -> POET | None:
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
