"""Env steps per second of the batched PCGRL simulator vs the plain per-env loop, on one core, side by side.

For each problem x representation: M maps (default 512) stepped with uniformly random actions by
``PCGRLVectorEnv`` (one batch, statistics by the batched graph kernels) and by ``gymnasium.vector.SyncVectorEnv``
over M ``PCGRLEnv`` (a Python loop over single envs, statistics by per-map BFS: the reference's way). Both see the
same seeds and actions, so their maps and episode boundaries are identical. They take turns for ``--rounds``
rounds (the Sokoban solver's level cache is cleared before each timed segment) and the script prints the
steps/s of each (median over rounds) and the ratio batched / loop (median of
the per-round ratios; goal >= 50x). Run it with one thread: ``OMP_NUM_THREADS=1``, pinned to a core with
``taskset -c 0`` where available.

    python scripts/bench_pcgrl.py                          # all 9 envs, 512 maps, 3 rounds
    python scripts/bench_pcgrl.py --problems binary --representations narrow --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np
from gymnasium.vector import SyncVectorEnv
from rich.console import Console
from rich.table import Table

from evoforge.envs.pcgrl.env import PCGRLEnv, PCGRLVectorEnv
from evoforge.envs.pcgrl.problems import _solve_cached
from evoforge.envs.registration import PCGRL_PROBLEMS, PCGRL_REPRESENTATIONS


def steps_per_second(env, actions: np.ndarray) -> float:
    began = time.perf_counter()
    for batch in actions:
        env.step(batch)
    return actions.size / (time.perf_counter() - began)


def bench(problem: str, representation: str, maps: int, batched_steps: int, loop_steps: int, rounds: int,
          seed: int) -> dict:
    batched = PCGRLVectorEnv(problem, representation, maps)
    loop = SyncVectorEnv([lambda: PCGRLEnv(problem, representation) for _ in range(maps)])
    batched.reset(seed=seed)
    loop.reset(seed=seed)
    rng = np.random.default_rng(seed)
    per_round = []
    for _ in range(rounds):
        # the loop runs the first loop_steps of the same action stream the batch runs, then catches up silently,
        # so both stay in the same states
        actions = rng.integers(batched.single_action_space.n, size=(batched_steps, maps))
        _solve_cached.cache_clear()  # each side pays for its own Sokoban searches
        fast = steps_per_second(batched, actions)
        _solve_cached.cache_clear()
        slow = steps_per_second(loop, actions[:loop_steps])
        for batch in actions[loop_steps:]:
            loop.step(batch)
        per_round.append((fast, slow))
    assert np.array_equal(batched.levels, np.stack(loop.get_attr("level"))), "batched and loop maps diverged"
    return {
        "problem": problem, "representation": representation, "maps": maps,
        "batched_steps_per_s": statistics.median(f for f, _ in per_round),
        "loop_steps_per_s": statistics.median(s for _, s in per_round),
        "ratio": statistics.median(f / s for f, s in per_round),
        "rounds": [{"batched": f, "loop": s} for f, s in per_round],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", nargs="+", default=list(PCGRL_PROBLEMS), choices=PCGRL_PROBLEMS)
    parser.add_argument("--representations", nargs="+", default=list(PCGRL_REPRESENTATIONS),
                        choices=PCGRL_REPRESENTATIONS)
    parser.add_argument("--maps", type=int, default=512)
    parser.add_argument("--batched-steps", type=int, default=100, help="batched steps per round (x maps env steps)")
    parser.add_argument("--loop-steps", type=int, default=6, help="timed loop steps per round (x maps env steps)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if not 0 < args.loop_steps <= args.batched_steps:
        parser.error("--loop-steps must be in [1, --batched-steps]")

    console = Console()
    table = Table(title=f"PCGRL env steps/s on one core, {args.maps} maps, random actions")
    for column in ("problem", "rep", "batched steps/s", "per-env loop steps/s", "batched / loop", "goal 50x"):
        table.add_column(column, justify="right")
    results = []
    for problem in args.problems:
        for representation in args.representations:
            with console.status(f"{problem}-{representation}"):
                result = bench(problem, representation, args.maps, args.batched_steps, args.loop_steps, args.rounds,
                               args.seed)
            results.append(result)
            table.add_row(problem, representation, f"{result['batched_steps_per_s']:,.0f}",
                          f"{result['loop_steps_per_s']:,.0f}", f"{result['ratio']:.1f}x",
                          "yes" if result["ratio"] >= 50 else "no")
    console.print(table)
    console.print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
                  f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"args": vars(args), "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
