"""Evaluations per second of the EvaluatorPool: serial, Ray with 1 actor, Ray with 2 actors, on the same work.

The work is a fixed population of BipedalWalker-v3 policies (24-40-40-4 tanh MLP) with fixed seeds and an
episode cap. The three backends stay up side by side and take turns, one evaluation of the whole population
each per round, so drift in the machine's speed hits all of them alike; the script reports the median
evaluations/s of each and the median over rounds of the ratio 2-actor / 1-actor, the pool's parallel scaling
on 2 cores (goal >= 1.8).

    python scripts/bench_pool.py                 # defaults: population 64, 300-step episodes, 5 rounds
    python scripts/bench_pool.py --json out.json
"""

from __future__ import annotations

import argparse
from functools import partial
import json
import os
import platform
import statistics
import time

import torch

from evoforge.envs.benchmark import raw_steps_per_second
from evoforge.experiments.gym_control import EnvSettings, GymPolicyEvaluator, PolicySettings
from evoforge.search.pool import EvaluatorPool
from evoforge.search.seeds import genome_seeds


def measure(pool: EvaluatorPool, genomes: torch.Tensor, seeds: list[int]) -> tuple[float, list[float]]:
    began = time.perf_counter()
    fitness = [e.fitness for e in pool.evaluate(genomes, seeds)]
    return len(seeds) / (time.perf_counter() - began), fitness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--population", type=int, default=64)
    parser.add_argument("--episode-steps", type=int, default=300)
    parser.add_argument("--chunk-size", type=int, default=8, help="genomes per task on the Ray backends")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--raw-seconds", type=float, default=3.0, help="raw env stepping per round and process count")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    import ray

    factory = partial(
        GymPolicyEvaluator,
        EnvSettings(id="BipedalWalker-v3", max_episode_steps=args.episode_steps), PolicySettings(hidden=[40, 40])
    )
    probe = factory()
    probe.setup()
    # Small weights: the walker mostly stands or shuffles, so episodes run to the cap and chunks cost alike.
    genomes = torch.randn(args.population, probe.network.num_params, generator=torch.Generator().manual_seed(0)) * 0.1
    seeds = genome_seeds(0, 0, args.population)

    torch.set_num_threads(1)
    # Logical CPUs for all three actors at once; only one backend computes at any moment.
    ray.init(num_cpus=3, include_dashboard=False, logging_level="WARNING")
    pools = {
        "serial": EvaluatorPool(factory, backend="serial", chunk_size=args.chunk_size),
        "ray_1_actor": EvaluatorPool(factory, backend="ray", num_workers=1, chunk_size=args.chunk_size),
        "ray_2_actor": EvaluatorPool(factory, backend="ray", num_workers=2, chunk_size=args.chunk_size),
    }
    rates: dict[str, list[float]] = {name: [] for name in pools}
    ceilings = []  # the machine's own scaling: raw env stepping, 2 processes / 1 process
    reference = None
    for pool in pools.values():
        pool.start().evaluate(genomes[:4], seeds[:4])  # warm up: envs built, code paths hot
    for _ in range(args.rounds):
        one = raw_steps_per_second("BipedalWalker-v3", 1, args.raw_seconds)
        ceilings.append(raw_steps_per_second("BipedalWalker-v3", 2, args.raw_seconds) / one)
        for name, pool in pools.items():
            rate, fitness = measure(pool, genomes, seeds)
            rates[name].append(rate)
            reference = reference or fitness
            assert fitness == reference, f"{name} disagrees with serial on the same genomes and seeds"
    for pool in pools.values():
        pool.shutdown()
    ray.shutdown()
    results = {name: statistics.median(values) for name, values in rates.items()}
    ratios = [two / one for two, one in zip(rates["ray_2_actor"], rates["ray_1_actor"])]

    ratio = statistics.median(ratios)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"population {args.population}, {args.episode_steps}-step BipedalWalker episodes, chunk {args.chunk_size}")
    for name, value in results.items():
        print(f"{name:>12}: {value:8.1f} evaluations/s")
    print(f"ratio 2-actor / 1-actor: {ratio:.2f} (goal >= 1.8; median of {args.rounds} rounds: "
          f"{', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"ratio 1-actor / serial:  {results['ray_1_actor'] / results['serial']:.2f}")
    print(f"machine ceiling (raw env, 2 processes / 1 process): {statistics.median(ceilings):.2f} "
          f"(rounds: {', '.join(f'{c:.2f}' for c in ceilings)})")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({**results, "ratio_2_over_1": ratio, "rounds_data": rates, "ceilings": ceilings, **vars(args)},
                      handle, indent=2)


if __name__ == "__main__":
    main()
