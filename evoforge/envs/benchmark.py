"""The physical limit of a core: how fast an environment steps with random actions and nothing else.

Benchmarks measure evoforge's rollouts against this number on the same cores, in the same run.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from typing import Any


def _step_randomly(env_id: str, env_kwargs: dict[str, Any], seconds: float, seed: int, queue: Any) -> None:
    import gymnasium

    import evoforge.envs  # noqa: F401 - registers evoforge's own ids

    env = gymnasium.make(env_id, disable_env_checker=True, **env_kwargs)
    env.action_space.seed(seed)
    env.reset(seed=seed)
    steps, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += 1
        if terminated or truncated:
            env.reset()
    queue.put((steps, time.perf_counter() - began))


def raw_steps_per_second(env_id: str, processes: int, seconds: float, env_kwargs: dict[str, Any] | None = None) -> float:
    """Total env steps/s of ``processes`` processes, each stepping random actions (resets included)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_step_randomly, args=(env_id, env_kwargs or {}, seconds, seed, queue))
        for seed in range(processes)
    ]
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    return sum(steps / wall for steps, wall in results)
