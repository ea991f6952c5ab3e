"""Rollout efficiency: env steps/s of evoforge's evaluations against the raw environment (and evotorch).

Two suites, each measured side by side in one run on the same cores (``--suite walker|hebbian|all``).

**walker** (static MLP, BipedalWalker):

* **raw limit** -- one process per worker stepping BipedalWalker-v3 with random actions (resets included):
  the most env steps/s these cores can do.
* **evoforge** -- OpenAI-ES generations (population 64, 24-40-40-4 tanh MLP) evaluated by the Ray pool with
  2 actors; each actor steps its half of the population together with one batched forward pass per step.
* **evotorch** -- evotorch's GymNE with the same network, population, ES and 2 actors.

Both searches start from a zero centre with sigma 0.1, so their populations do statistically the same work.
The three take turns in rounds (raw stepping, one evoforge generation, one evotorch generation) after a
warm-up generation, so drift in the machine's speed hits all alike; the ratios are medians over rounds of the
per-round ratios. Prints evoforge / raw (goal >= 0.95) and evoforge / evotorch (goal >= 1.0).

**hebbian** (Najarro & Risi's quadruped agent): a population of Hebbian networks (28-128-64-8, one ABCD_lr
rule per synapse, fresh random weights per episode, act + update every step) evaluated by the Ray pool, against
the raw quadruped stepping random actions in one process per worker. Both run 1000-step episodes (falls do not
end them, ``early_stop_after=1000``), so resets weigh the same in both. Prints Hebbian / raw, the rollout
efficiency (goal >= 0.95).

    python scripts/bench_rollouts.py                       # both suites, 4 rounds each
    python scripts/bench_rollouts.py --suite hebbian --generations 6 --json out.json
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
QUADRUPED_ID = "evoforge/Quadruped-v0"
QUADRUPED_KWARGS = {"early_stop_after": 1000}  # every episode runs its full 1000 steps


class HebbianQuadruped:
    """Hebbian quadruped evaluation through the Ray pool: random rule sets, one episode each."""

    def __init__(self, workers: int, popsize: int, chunk_size: int | None) -> None:
        from functools import partial

        from evoforge.experiments.gym_control import EnvSettings
        from evoforge.experiments.hebbian import HebbianEvaluator, HebbianNetworkSettings
        from evoforge.search.pool import EvaluatorPool

        env = EnvSettings(id=QUADRUPED_ID, kwargs=QUADRUPED_KWARGS)
        network = HebbianNetworkSettings(hidden=[128, 64], rule="ABCD_lr", normalisation="none")
        factory = partial(HebbianEvaluator, env, network)
        probe = factory()
        probe.setup()
        self.num_params = probe.net.num_params
        self.popsize = popsize
        self.pool = EvaluatorPool(factory, backend="ray", num_workers=workers, chunk_size=chunk_size).start()
        self.generation = 0

    def run_generation(self) -> tuple[int, float]:
        from evoforge.search.seeds import genome_seeds

        generator = torch.Generator().manual_seed(self.generation)
        genomes = torch.randn(self.popsize, self.num_params, generator=generator)
        began = time.perf_counter()
        evaluations = self.pool.evaluate(genomes, genome_seeds(0, self.generation, self.popsize))
        wall = time.perf_counter() - began
        self.generation += 1
        return int(sum(e.metrics["steps"] for e in evaluations)), wall

    def close(self) -> None:
        self.pool.shutdown()


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
        self.searcher = ESSearcher(settings, torch.zeros(probe.network.num_params), seed=0)
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


def run_hebbian_suite(args: argparse.Namespace) -> dict:
    import ray

    ray.init(num_cpus=args.workers, include_dashboard=False, logging_level="WARNING")
    chunk = args.hebbian_chunk or None
    system = HebbianQuadruped(args.workers, args.hebbian_popsize, chunk)
    system.run_generation()  # warm-up: actors up, envs built
    rates: dict[str, list[float]] = {"raw": [], "hebbian": []}
    steps_done = 0
    for _ in range(args.generations):
        rates["raw"].append(raw_steps_per_second(QUADRUPED_ID, args.workers, args.raw_seconds, QUADRUPED_KWARGS))
        steps, wall = system.run_generation()
        rates["hebbian"].append(steps / wall)
        steps_done += steps
    system.close()
    ray.shutdown()
    efficiency = statistics.median(h / r for h, r in zip(rates["hebbian"], rates["raw"]))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; {QUADRUPED_ID} "
          f"(1000-step episodes), Hebbian 28-128-64-8 ABCD_lr per synapse, population {args.hebbian_popsize}, "
          f"{args.workers} workers, chunks of {chunk or 'default size'}, {args.generations} rounds "
          f"(raw {args.raw_seconds:.0f} s, one population)")
    print(f"raw env, random actions      : {statistics.median(rates['raw']):9.0f} steps/s (median)")
    print(f"Hebbian evaluation (Ray pool): {statistics.median(rates['hebbian']):9.0f} steps/s "
          f"(median; {steps_done} steps)")
    print(f"rollout efficiency           : {efficiency:.3f} (Hebbian / raw; goal >= 0.95; median of per-round ratios)")
    return {"hebbian_rates": rates, "hebbian_over_raw": efficiency}


def run_walker_suite(args: argparse.Namespace) -> dict:
    import logging

    import ray

    logging.getLogger("evotorch").setLevel(logging.WARNING)
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
    return {"rates": rates, "evoforge_over_raw": vs_raw, "evoforge_over_evotorch": vs_evotorch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=["walker", "hebbian", "all"], default="all")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--popsize", type=int, default=64, help="walker suite population")
    parser.add_argument("--hebbian-popsize", type=int, default=32, help="hebbian suite population")
    parser.add_argument("--hebbian-chunk", type=int, default=16,
                        help="genomes per actor call in the hebbian suite (0: the pool's default); a step of the "
                        "chunk's networks costs a fixed ~70 us of numpy calls plus ~25 us per network")
    parser.add_argument("--generations", type=int, default=4, help="rounds: one timed generation of each search")
    parser.add_argument("--raw-seconds", type=float, default=8.0, help="raw stepping per round")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    torch.set_num_threads(1)
    results: dict = {}
    if args.suite in ("walker", "all"):
        results.update(run_walker_suite(args))
    if args.suite in ("hebbian", "all"):
        results.update(run_hebbian_suite(args))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({**results, **vars(args)}, handle, indent=2)


if __name__ == "__main__":
    main()
