"""PCGRL as plain gymnasium environments: :class:`PCGRLEnv` (one map) and :class:`PCGRLVectorEnv` (M maps).

Registered ids ``evoforge/pcgrl-{problem}-{representation}-v0`` (binary, zelda, sokoban x narrow, turtle,
wide) make :class:`PCGRLEnv`; any stable-baselines3 or gymnasium tooling can train on them. The vector env is
the batched simulator behind gymnasium's ``VectorEnv`` interface with next-step auto-reset, and produces the same
observations, rewards, terminations and infos as ``gymnasium.vector.SyncVectorEnv`` over :class:`PCGRLEnv` with
the same seeds and actions (tested) -- only much faster.

Info of a step: ``stats`` (the problem's statistics), ``changes``, ``iterations``, ``success`` (the episode's
win test) and ``valid`` (the paper's playable-level test).
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from evoforge.envs.pcgrl.problems import make_problem
from evoforge.envs.pcgrl.render import palette, render_level
from evoforge.envs.pcgrl.representations import make_representation
from evoforge.envs.pcgrl.simulator import PCGRLSimulator


def _render(sim: PCGRLSimulator, i: int) -> np.ndarray:
    colours = palette(sim.problem.name, sim.problem.tiles)
    agent = tuple(sim.positions[i]) if sim.representation.uses_position else None
    return render_level(sim.levels[i], colours, agent=agent)


class PCGRLEnv(gymnasium.Env):
    """One PCGRL map: statistics by the reference's per-map BFS (the plain loop the batched env is compared to)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, problem: str = "binary", representation: str = "narrow", change_percentage: float = 0.2,
                 render_mode: str | None = None, **problem_options: Any):
        self.problem = make_problem(problem, **problem_options)
        self.representation = make_representation(representation)
        self.sim = PCGRLSimulator(self.problem, self.representation, 1, change_percentage, batched_stats=False)
        self.observation_space = self.representation.observation_space(self.problem)
        self.action_space = self.representation.action_space(self.problem)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self._only = np.zeros(1, dtype=np.int64)

    @property
    def level(self) -> np.ndarray:
        """The current map (H, W) of tile indices (a copy)."""
        return self.sim.levels[0].copy()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        # the simulator owns the map's generator; seed it like gymnasium seeds self.np_random
        self.sim.reset(self._only, [seed])
        self.np_random = self.sim.rngs[0]
        return self.sim.observe()[0], self.sim.info(0)

    def step(self, action):
        reward, terminated, truncated = self.sim.step(self._only, np.asarray([action], dtype=np.int64))
        return (self.sim.observe()[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), self.sim.info(0))

    def render(self):
        if self.render_mode == "rgb_array":
            return _render(self.sim, 0)
        return None


class PCGRLVectorEnv(VectorEnv):
    """M PCGRL maps stepped as one batch (next-step auto-reset, like gymnasium's vector envs)."""

    metadata = {"render_modes": ["rgb_array"], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, problem: str = "binary", representation: str = "narrow", num_envs: int = 512,
                 change_percentage: float = 0.2, render_mode: str | None = None, **problem_options: Any):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.problem = make_problem(problem, **problem_options)
        self.representation = make_representation(representation)
        self.sim = PCGRLSimulator(self.problem, self.representation, num_envs, change_percentage, batched_stats=True)
        self.num_envs = num_envs
        self.single_observation_space = self.representation.observation_space(self.problem)
        self.single_action_space = self.representation.action_space(self.problem)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.render_mode = render_mode
        self._all = np.arange(num_envs)
        self._autoreset = np.zeros(num_envs, dtype=bool)

    @property
    def levels(self) -> np.ndarray:
        """A copy of the current maps, (num_envs, height, width) tile indices."""
        return self.sim.levels.copy()

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None):
        if isinstance(seed, int):
            seeds = [seed + i for i in range(self.num_envs)]
        elif seed is None:
            seeds = [None] * self.num_envs
        else:
            if len(seed) != self.num_envs:
                raise ValueError(f"expected {self.num_envs} seeds, got {len(seed)}")
            seeds = list(seed)
        self.sim.reset(self._all, seeds)
        self._autoreset[:] = False
        return self.sim.observe(), self.sim.infos()

    def step(self, actions):
        actions = np.asarray(actions, dtype=np.int64)
        rewards = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        stepping = self._all[~self._autoreset]
        if self._autoreset.any():  # their statistics are computed with the stepping maps' below
            self.sim.reset(self._all[self._autoreset], defer_stats=len(stepping) > 0)
        if len(stepping):
            rewards[stepping], terminated[stepping], truncated[stepping] = self.sim.step(stepping, actions[stepping])
        self._autoreset = terminated | truncated
        return self.sim.observe(), rewards, terminated, truncated, self.sim.infos()

    def render(self):
        if self.render_mode == "rgb_array":
            return np.stack([_render(self.sim, i) for i in range(self.num_envs)])
        return None
