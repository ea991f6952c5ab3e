"""Rollout efficiency: env steps/s of evoforge's ES loop against the raw environment and evotorch's GymNE.

Measured side by side in one run on the same cores:

* **raw limit** -- one process per worker stepping BipedalWalker-v3 with random actions (resets included):
  the most env steps/s these cores can do.
* **evoforge** -- OpenAI-ES generations (population 64, 24-40-40-4 tanh MLP) evaluated by the Ray pool with
  2 actors; each actor steps its half of the population together with one batched forward pass per step.
* **evotorch** -- evotorch's GymNE with the same network, population, ES and 2 actors.

Both searches start from a zero centre with sigma 0.1, so their populations do statistically the same work.
The three take turns in rounds (raw stepping, one evoforge generation, one evotorch generation) after a
warm-up generation, so drift in the machine's speed hits all alike; the ratios are medians over rounds of the
per-round ratios. Prints evoforge / raw (goal >= 0.95) and evoforge / evotorch (goal >= 1.0).

    python scripts/bench_rollouts.py                       # 4 rounds
    python scripts/bench_rollouts.py --generations 6 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch

from evoforge.envs.benchmark import raw_steps_per_second

ENV_ID = "BipedalWalker-v3"
HIDDEN = 40


class EvoforgeES:
    """evoforge's loop: OpenAI-ES through evotorch, evaluations on the Ray pool (2 actors)."""

    def __init__(self, workers: int, popsize: int) -> None:
        from functools import partial

        from evoforge.experiments.gym_control import EnvSettings, GymPolicyEvaluator, PolicySettings
        from evoforge.search.es import ESSearcher, ESSettings
        from evoforge.search.pool import EvaluatorPool

        factory = partial(GymPolicyEvaluator, EnvSettings(id=ENV_ID), PolicySettings(hidden=[HIDDEN, HIDDEN]))
        probe = factory()
        probe.setup()
        settings = ESSettings(popsize=popsize, sigma=0.1, learning_rate=0.01)
        self.searcher = ESSearcher(settings, torch.zeros(probe.mlp.num_params), seed=0)
        self.pool = EvaluatorPool(factory, backend="ray", num_workers=workers).start()
        self.generation = 0

    def run_generation(self) -> tuple[int, float]:
        from evoforge.search.seeds import genome_seeds

        steps = 0

        def evaluate(genomes):
            nonlocal steps
            evaluations = self.pool.evaluate(genomes, genome_seeds(0, self.generation, len(genomes)))
            steps += int(sum(e.metrics["steps"] for e in evaluations))
            return evaluations

        began = time.perf_counter()
        self.searcher.step(evaluate)
        self.generation += 1
        return steps, time.perf_counter() - began

    def close(self) -> None:
        self.pool.shutdown()


class EvotorchGymNE:
    """evotorch's loop: GymNE with the same network and its own Ray actors, the same ES (PGPE as OpenAI-ES)."""

    def __init__(self, workers: int, popsize: int) -> None:
        from evotorch.algorithms import PGPE
        from evotorch.neuroevolution import GymNE

        network = (f"Linear(obs_length, {HIDDEN}) >> Tanh() >> Linear({HIDDEN}, {HIDDEN}) >> Tanh()"
                   f" >> Linear({HIDDEN}, act_length) >> Tanh()")
        self.problem = GymNE(env=ENV_ID, network=network, num_actors=workers, observation_normalization=False)
        self.searcher = PGPE(
            self.problem, popsize=popsize, center_learning_rate=0.01, stdev_learning_rate=0.0, stdev_init=0.1,
            optimizer="adam", ranking_method="centered", center_init=torch.zeros(self.problem.solution_length),
            stdev_max_change=None,
        )

    def run_generation(self) -> tuple[int, float]:
        before = self.problem.status.get("total_interaction_count", 0)
        began = time.perf_counter()
        self.searcher.step()
        wall = time.perf_counter() - began
        return int(self.problem.status["total_interaction_count"] - before), wall

    def close(self) -> None:
        self.problem.kill_actors()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--popsize", type=int, default=64)
    parser.add_argument("--generations", type=int, default=4, help="rounds: one timed generation of each search")
    parser.add_argument("--raw-seconds", type=float, default=8.0, help="raw stepping per round")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    import logging

    import ray

    logging.getLogger("evotorch").setLevel(logging.WARNING)
    torch.set_num_threads(1)
    # Logical CPUs for both systems' actors at once; only one system computes at any moment.
    ray.init(num_cpus=2 * args.workers, include_dashboard=False, logging_level="WARNING")
    systems = {"evoforge": EvoforgeES(args.workers, args.popsize), "evotorch": EvotorchGymNE(args.workers, args.popsize)}
    for system in systems.values():
        system.run_generation()  # warm-up generation: actors up, envs built
    rates: dict[str, list[float]] = {"raw": [], "evoforge": [], "evotorch": []}
    steps_done = {"evoforge": 0, "evotorch": 0}
    for _ in range(args.generations):
        rates["raw"].append(raw_steps_per_second(ENV_ID, args.workers, args.raw_seconds))
        for name, system in systems.items():
            steps, wall = system.run_generation()
            rates[name].append(steps / wall)
            steps_done[name] += steps
    for system in systems.values():
        system.close()
    ray.shutdown()

    median = {name: statistics.median(values) for name, values in rates.items()}
    vs_raw = statistics.median(o / r for o, r in zip(rates["evoforge"], rates["raw"]))
    vs_evotorch = statistics.median(o / t for o, t in zip(rates["evoforge"], rates["evotorch"]))
    evotorch_vs_raw = statistics.median(t / r for t, r in zip(rates["evotorch"], rates["raw"]))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; {ENV_ID}, "
          f"24-{HIDDEN}-{HIDDEN}-4 tanh MLP, population {args.popsize}, {args.workers} workers, "
          f"{args.generations} rounds (raw {args.raw_seconds:.0f} s, one generation of each search)")
    print(f"raw env, random actions: {median['raw']:9.0f} steps/s (median)")
    print(f"evoforge (Ray pool)    : {median['evoforge']:9.0f} steps/s (median; {steps_done['evoforge']} steps)")
    print(f"evotorch GymNE         : {median['evotorch']:9.0f} steps/s (median; {steps_done['evotorch']} steps)")
    print(f"evoforge / raw limit   : {vs_raw:.3f} (goal >= 0.95; median of per-round ratios)")
    print(f"evoforge / evotorch    : {vs_evotorch:.3f} (goal >= 1.0)")
    print(f"evotorch / raw limit   : {evotorch_vs_raw:.3f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"rates": rates, "evoforge_over_raw": vs_raw, "evoforge_over_evotorch": vs_evotorch,
                       **vars(args)}, handle, indent=2)

if __name__ == "__main__":
    main()
