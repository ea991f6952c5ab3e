"""ES populations shipped as noise seeds vs as parameter vectors, side by side in one run on a loopback cluster.

Starts a Ray cluster of ``--nodes`` one-CPU nodes on 127.0.0.1 (:class:`evoforge.search.loopback.LocalCluster`)
and runs the same OpenAI-ES search through ``evoforge run --address`` once per transfer mode, alternating
(seeds, vectors, seeds, vectors, ... for ``--repeats``) so that drift in the machine's load hits both alike.
Per generation it reads ``bytes_to_actors`` (genome payload serialised for the actors: vectors by their size,
a seeded chunk pickled, the center once per batch) and ``wall_s`` (the whole generation: sampling, shipping,
evaluation, update) from each run's metrics.jsonl, and prints the medians and the vectors / seeds ratios.

    python scripts/bench_population_transfer.py                       # the 458,002-parameter CarRacing agent
    python scripts/bench_population_transfer.py --popsize 200 --steps 20 --generations 3 --repeats 2

Default genome: the Hebbian CarRacing agent of ``configs/hebbian_carracing.yaml`` (CNN + ABCD_lr rules,
458,002 parameters) at its population of 200, episodes capped at ``--steps`` so that the generation time shows
the transfer rather than an hour of driving. The two modes evaluate the same genomes (tested in
tests/test_run.py); the script checks that the runs' fitness records agree too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from evoforge.search.loopback import LocalCluster
from evoforge.search.metrics import read_metrics

REPO = Path(__file__).resolve().parents[1]
MODES = ("seeds", "vectors")
SAME = ("generation", "evaluations", "fitness_best", "fitness_mean", "fitness_min")  # equal in both modes


def run_once(cluster: LocalCluster, args: argparse.Namespace, mode: str, out: Path) -> list[dict]:
    """One ``evoforge run`` on the cluster with ``pool.population_transfer=mode``; its metrics records."""
    command = [sys.executable, "-m", "evoforge.cli", "run", str(args.config), "--address", cluster.address,
               "--out", str(out), "--quiet", "--workers", str(args.nodes),
               "--set", f"search.popsize={args.popsize}", "--set", f"search.generations={args.generations}",
               "--set", f"env.max_episode_steps={args.steps}", "--set", "center_eval.every=0",
               "--set", "stop_fitness=null", "--set", f"pool.population_transfer={mode}"]
    done = subprocess.run(command, capture_output=True, text=True, env=cluster.env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"run ({mode}) failed:\n{done.stderr[-3000:]}")
    return read_metrics(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "hebbian_carracing.yaml")
    parser.add_argument("--popsize", type=int, default=200)
    parser.add_argument("--steps", type=int, default=20, help="episode cap (env.max_episode_steps)")
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2, help="runs per mode, alternating")
    parser.add_argument("--nodes", type=int, default=2, help="one-CPU nodes of the loopback cluster")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args()

    cluster = LocalCluster()
    records: dict[str, list[list[dict]]] = {mode: [] for mode in MODES}
    try:
        cluster.start(workers=args.nodes - 1)
        nodes = cluster.wait_for_nodes(args.nodes)
        print(f"loopback cluster: {len(nodes)} nodes x 1 CPU at {cluster.address}", file=sys.stderr)
        with tempfile.TemporaryDirectory() as scratch:
            for repeat in range(args.repeats):
                for mode in MODES:
                    out = Path(scratch) / f"{mode}-{repeat}"
                    records[mode].append(run_once(cluster, args, mode, out))
                    print(f"  {mode} run {repeat + 1}: generation wall s "
                          f"{[round(r['wall_s'], 2) for r in records[mode][-1]]}", file=sys.stderr)
    finally:
        cluster.stop()

    first = [[{k: r.get(k) for k in SAME} for r in run] for run in records["seeds"][:1]]
    agree = all([{k: r.get(k) for k in SAME} for r in run] == first[0] for mode in MODES for run in records[mode])
    # Generation 0 of every run also starts the actors' episodes cold; it is left out of the medians.
    summary = {}
    for mode in MODES:
        later = [r for run in records[mode] for r in run[1:]] or [r for run in records[mode] for r in run]
        summary[mode] = {"bytes_to_actors": statistics.median(r["bytes_to_actors"] for r in later),
                         "wall_s": statistics.median(r["wall_s"] for r in later),
                         "generations": len(later)}
    genome = records["seeds"][0][0]
    print(f"\npopulation {args.popsize}, {args.nodes} nodes, episodes <= {args.steps} steps, "
          f"{args.repeats} runs per mode x {args.generations} generations (medians over generations >= 1)")
    print(f"{'transfer':10s} {'bytes to actors / generation':>30s} {'generation wall s':>18s}")
    for mode in MODES:
        print(f"{mode:10s} {summary[mode]['bytes_to_actors']:30,.0f} {summary[mode]['wall_s']:18.2f}")
    print(f"vectors / seeds: bytes x{summary['vectors']['bytes_to_actors'] / summary['seeds']['bytes_to_actors']:.0f}"
          f", wall time x{summary['vectors']['wall_s'] / summary['seeds']['wall_s']:.2f}")
    print(f"fitness records equal in every run of both modes: {agree}")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "summary": summary,
                                         "records_agree": agree, "evaluations": genome["evaluations"]},
                                        indent=1) + "\n")
    if not agree:
        raise SystemExit("the two transfer modes gave different fitness records")


if __name__ == "__main__":
    main()
