"""Step many environments together while one batched policy acts for all of them.

This is the hot loop of every gym-based evaluation: per step, one policy call for every live episode, then
one ``env.step`` per live episode. Episodes that ended drop out of the step loop; the policy still sees a
fixed-shape observation array (stale rows for finished episodes), which keeps the batched forward pass
shape-stable and cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gymnasium
import numpy as np

# Maps observations (n, *obs_shape) to actions (n, *act_shape) for all n episodes at once.
BatchPolicy = Callable[[np.ndarray], np.ndarray]


@dataclass
class RolloutResult:
    returns: np.ndarray  # (n,) float64 undiscounted episode returns
    lengths: np.ndarray  # (n,) int64 steps taken


def rollout_batch(
    envs: Sequence[gymnasium.Env],
    policy: BatchPolicy,
    seeds: Sequence[int],
    frames: list[np.ndarray] | None = None,
) -> RolloutResult:
    """Run one episode in each of ``envs[:len(seeds)]`` (env i reset with ``seeds[i]``) until all end.

    Episode length limits come from the environments (gymnasium's TimeLimit). If ``frames`` is given,
    ``envs[0].render()`` is appended after the reset and after each of its steps (for replay videos).
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
    while alive:
        actions = policy(obs)
        still_alive = []
        for i in alive:
            observation, reward, terminated, truncated, _ = envs[i].step(actions[i])
            returns[i] += reward
            lengths[i] += 1
            if frames is not None and i == 0:
                frames.append(envs[0].render())
            if not (terminated or truncated):
                obs[i] = observation
                still_alive.append(i)
        alive = still_alive
    return RolloutResult(returns=returns, lengths=lengths)
