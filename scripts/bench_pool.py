"""Evaluations per second of the EvaluatorPool: serial, Ray with 1 actor, Ray with 2 actors, on the same work.

The work is a fixed population of BipedalWalker-v3 policies (24-40-40-4 tanh MLP) with fixed seeds and an
episode cap, evaluated several times by each backend in turn, in one process, so the three numbers are
measured side by side. The ratio 2-actor / 1-actor is the pool's parallel scaling on 2 cores (goal >= 1.8).

    python scripts/bench_pool.py                 # defaults: population 64, 300-step episodes, 3 repeats
    python scripts/bench_pool.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

from evoforge.experiments.gym_control import EnvSettings, PolicySettings, _EvaluatorFactory
from evoforge.search.pool import EvaluatorPool
from evoforge.search.seeds import genome_seeds


def measure(pool: EvaluatorPool, genomes: torch.Tensor, seeds: list[int], repeats: int) -> tuple[float, list[float]]:
    pool.evaluate(genomes[:4], seeds[:4])  # warm up: envs built, code paths hot
    began = time.perf_counter()
    fitness = []
    for _ in range(repeats):
        fitness = [e.fitness for e in pool.evaluate(genomes, seeds)]
    return repeats * len(seeds) / (time.perf_counter() - began), fitness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--population", type=int, default=64)
    parser.add_argument("--episode-steps", type=int, default=300)
    parser.add_argument("--chunk-size", type=int, default=8, help="genomes per task on the Ray backends")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    import ray

    factory = _EvaluatorFactory(
        EnvSettings(id="BipedalWalker-v3", max_episode_steps=args.episode_steps), PolicySettings(hidden=[40, 40])
    )
    probe = factory()
    probe.setup()
    # Small weights: the walker mostly stands or shuffles, so episodes run to the cap and chunks cost alike.
    genomes = torch.randn(args.population, probe.mlp.num_params, generator=torch.Generator().manual_seed(0)) * 0.1
    seeds = genome_seeds(0, 0, args.population)

    torch.set_num_threads(1)
    results = {}
    with EvaluatorPool(factory, backend="serial", chunk_size=args.chunk_size) as pool:
        results["serial"], reference = measure(pool, genomes, seeds, args.repeats)
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="WARNING")
    for actors in (1, 2):
        with EvaluatorPool(factory, backend="ray", num_workers=actors, chunk_size=args.chunk_size) as pool:
            results[f"ray_{actors}_actor"], fitness = measure(pool, genomes, seeds, args.repeats)
            assert fitness == reference, "Ray and serial disagree on the same genomes and seeds"
    ray.shutdown()

    ratio = results["ray_2_actor"] / results["ray_1_actor"]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"population {args.population}, {args.episode_steps}-step BipedalWalker episodes, chunk {args.chunk_size}")
    for name, value in results.items():
        print(f"{name:>12}: {value:8.1f} evaluations/s")
    print(f"ratio 2-actor / 1-actor: {ratio:.2f} (goal >= 1.8)")
    print(f"ratio 1-actor / serial:  {results['ray_1_actor'] / results['serial']:.2f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({**results, "ratio_2_over_1": ratio, **vars(args)}, handle, indent=2)


if __name__ == "__main__":
    main()
