"""Step many environments together while one batched policy acts for all of them.

This is the hot loop of every gym-based evaluation: per step, one policy call for the live episodes, then
one ``env.step`` per live episode. Episodes that ended drop out; the policy is told which rows are still
alive, so its batched forward pass shrinks with them (the last long episode of a chunk does not pay for the
finished ones).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gymnasium
import numpy as np

# Maps the observations of the live episodes (a, *obs_shape) and their row indices among all n episodes
# (a list, ascending) to their actions (a, *act_shape).
BatchPolicy = Callable[[np.ndarray, list[int]], np.ndarray]


@dataclass
class RolloutResult:
    returns: np.ndarray  # (n,) float64 undiscounted episode returns
    lengths: np.ndarray  # (n,) int64 steps taken
    step_rewards: np.ndarray | None = None  # (n, longest) every step's reward, zero after an episode ended



def rollout_batch(
    envs: Sequence[gymnasium.Env],
    policy: BatchPolicy,
    seeds: Sequence[int],
    frames: list[np.ndarray] | None = None,
    keep_step_rewards: bool = False,
) -> RolloutResult:
    """Run one episode in each of ``envs[:len(seeds)]`` (env i reset with ``seeds[i]``) until all end.

    Episode length limits come from the environments (gymnasium's TimeLimit). If ``frames`` is given,
    ``envs[0].render()`` is appended after the reset and after each of its steps (for replay videos).
    ``keep_step_rewards``: also return every step's reward (recovery curves after a change mid-episode).
    """
    n = len(seeds)
    if n > len(envs):
        raise ValueError(f"{n} episodes but only {len(envs)} environments")
    first, _ = envs[0].reset(seed=int(seeds[0]))
    obs = np.zeros((n, *np.shape(first)), dtype=np.float32)
    obs[0] = first
    for i in range(1, n):
        obs[i] = envs[i].reset(seed=int(seeds[i]))[0]
    if frames is not None:
        frames.append(envs[0].render())
    returns = np.zeros(n, dtype=np.float64)
    lengths = np.zeros(n, dtype=np.int64)
    alive = list(range(n))
    per_step: list[list[float]] = [[] for _ in range(n)]
    while alive:
        actions = policy(obs[alive], alive)
        still_alive = []
        for row, i in enumerate(alive):
            observation, reward, terminated, truncated, _ = envs[i].step(actions[row])
            returns[i] += reward
            if keep_step_rewards:
                per_step[i].append(float(reward))
            lengths[i] += 1
            if frames is not None and i == 0:
                frames.append(envs[0].render())
            if not (terminated or truncated):
                obs[i] = observation
                still_alive.append(i)
        alive = still_alive
    step_rewards = None
    if keep_step_rewards:
        step_rewards = np.zeros((n, int(lengths.max(initial=0))))
        for i, rewards in enumerate(per_step):
            step_rewards[i, :len(rewards)] = rewards
    return RolloutResult(returns=returns, lengths=lengths, step_rewards=step_rewards)
