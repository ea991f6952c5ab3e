"""Rollout efficiency: env steps/s of evoforge's ES loop against the raw environment and evotorch's GymNE.

Measured side by side in one run on the same cores:

* **raw limit** -- one process per worker stepping BipedalWalker-v3 with random actions (resets included):
  the most env steps/s these cores can do.
* **evoforge** -- OpenAI-ES generations (population 64, 24-40-40-4 tanh MLP) evaluated by the Ray pool with
  2 actors; each actor steps its half of the population together with one batched forward pass per step.
* **evotorch** -- evotorch's GymNE with the same network, population, ES and 2 actors.

Both searches start from a zero centre with sigma 0.1, so their populations do statistically the same work.
Prints evoforge / raw (goal >= 0.95) and evoforge / evotorch (goal >= 1.0).

    python scripts/bench_rollouts.py                       # 3 timed generations each after a warm-up
    python scripts/bench_rollouts.py --generations 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import time

import torch

ENV_ID = "BipedalWalker-v3"
HIDDEN = 40


def _raw_worker(seconds: float, seed: int, queue: mp.Queue) -> None:
    import gymnasium

    env = gymnasium.make(ENV_ID, disable_env_checker=True)
    env.action_space.seed(seed)
    env.reset(seed=seed)
    steps, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += 1
        if terminated or truncated:
            env.reset()
    queue.put((steps, time.perf_counter() - began))


def raw_limit(workers: int, seconds: float) -> float:
    """Total env steps/s of ``workers`` processes stepping random actions for ``seconds`` each."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_raw_worker, args=(seconds, i, queue)) for i in range(workers)]
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    return sum(steps / wall for steps, wall in results)


def evoforge_rate(workers: int, popsize: int, generations: int) -> tuple[float, int]:
    from evoforge.experiments.gym_control import EnvSettings, PolicySettings, _EvaluatorFactory
    from evoforge.search.es import ESSearcher, ESSettings
    from evoforge.search.pool import EvaluatorPool
    from evoforge.search.seeds import genome_seeds

    factory = _EvaluatorFactory(EnvSettings(id=ENV_ID), PolicySettings(hidden=[HIDDEN, HIDDEN]))
    probe = factory()
    probe.setup()
    searcher = ESSearcher(ESSettings(popsize=popsize, sigma=0.1, learning_rate=0.01), torch.zeros(probe.mlp.num_params), seed=0)
    steps = 0
    generation = 0

    def evaluate(genomes):
        nonlocal steps
        evaluations = pool.evaluate(genomes, genome_seeds(0, generation, len(genomes)))
        steps += int(sum(e.metrics["steps"] for e in evaluations))
        return evaluations

    with EvaluatorPool(factory, backend="ray", num_workers=workers) as pool:
        searcher.step(evaluate)  # warm-up generation
        steps, began = 0, time.perf_counter()
        for generation in range(1, generations + 1):
            searcher.step(evaluate)
        wall = time.perf_counter() - began
    return steps / wall, steps


def evotorch_rate(workers: int, popsize: int, generations: int) -> tuple[float, int]:
    from evotorch.algorithms import PGPE
    from evotorch.neuroevolution import GymNE

    network = f"Linear(obs_length, {HIDDEN}) >> Tanh() >> Linear({HIDDEN}, {HIDDEN}) >> Tanh() >> Linear({HIDDEN}, act_length) >> Tanh()"
    problem = GymNE(env=ENV_ID, network=network, num_actors=workers, observation_normalization=False)
    searcher = PGPE(
        problem, popsize=popsize, center_learning_rate=0.01, stdev_learning_rate=0.0, stdev_init=0.1,
        optimizer="adam", ranking_method="centered", center_init=torch.zeros(problem.solution_length),
        stdev_max_change=None,
    )
    searcher.step()  # warm-up generation (creates the actors)
    before = problem.status["total_interaction_count"]
    began = time.perf_counter()
    for _ in range(generations):
        searcher.step()
    wall = time.perf_counter() - began
    steps = int(problem.status["total_interaction_count"] - before)
    problem.kill_actors()
    return steps / wall, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--popsize", type=int, default=64)
    parser.add_argument("--generations", type=int, default=3, help="timed generations per system")
    parser.add_argument("--raw-seconds", type=float, default=30.0)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    import logging

    import ray

    logging.getLogger("evotorch").setLevel(logging.WARNING)
    torch.set_num_threads(1)
    raw = raw_limit(args.workers, args.raw_seconds)
    ray.init(num_cpus=args.workers, include_dashboard=False, logging_level="WARNING")
    ours, our_steps = evoforge_rate(args.workers, args.popsize, args.generations)
    theirs, their_steps = evotorch_rate(args.workers, args.popsize, args.generations)
    ray.shutdown()

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; {ENV_ID}, "
          f"24-{HIDDEN}-{HIDDEN}-4 tanh MLP, population {args.popsize}, {args.workers} workers")
    print(f"raw env, random actions: {raw:9.0f} steps/s")
    print(f"evoforge (Ray pool)    : {ours:9.0f} steps/s  ({our_steps} steps in {args.generations} generations)")
    print(f"evotorch GymNE         : {theirs:9.0f} steps/s  ({their_steps} steps in {args.generations} generations)")
    print(f"evoforge / raw limit   : {ours / raw:.3f} (goal >= 0.95)")
    print(f"evoforge / evotorch    : {ours / theirs:.3f} (goal >= 1.0)")
    print(f"evotorch / raw limit   : {theirs / raw:.3f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"raw": raw, "evoforge": ours, "evotorch": theirs, **vars(args)}, handle, indent=2)


if __name__ == "__main__":
    main()
