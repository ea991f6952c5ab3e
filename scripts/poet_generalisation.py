"""Do POET's solved agents solve their terrain, or only the one realisation they were optimised on?

Reads a POET run and plays, for every environment it solved, the agent that solved it on the environment's own
terrain and on ``--episodes`` fresh terrain seeds of the same parameters (the 5-D encoding or the CPPN kept,
only the terrain seed changed; :func:`evoforge.experiments.poet.generalisation`). Prints one row per
environment (own score, the fresh seeds' mean with its 95 % interval, the share of them solved) and the mean
over environments; ``--json`` writes every score.

    python scripts/poet_generalisation.py runs/poet_s0
    python scripts/poet_generalisation.py runs/poet_s0 --episodes 20 --json runs/poet_s0/generalisation.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from evoforge.errors import UserError
from evoforge.experiments import load_experiment
from evoforge.experiments.poet import POETExperiment, generalisation
from evoforge.search.rundir import RunDir
from evoforge.search.storage import jsonable


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--episodes", type=int, default=10, help="fresh terrain seeds per environment (>= 2)")
    parser.add_argument("--json", type=Path, help="write every score here")
    args = parser.parse_args()
    try:
        if args.episodes < 2:
            raise UserError(f"--episodes must be at least 2 (for an interval), got {args.episodes}")
        run_dir = RunDir(args.run_dir).require()
        experiment = load_experiment(run_dir.config_path)
        if not isinstance(experiment, POETExperiment):
            raise UserError(f"{args.run_dir} is not a POET run")
        poet = experiment.load_poet(run_dir)
        if poet is None:
            raise UserError(f"{args.run_dir} has no checkpoint yet")
    except UserError as exc:
        print(f"poet_generalisation: {exc}", file=sys.stderr)
        return 2
    rows = generalisation(experiment, poet, args.episodes)
    if not rows:
        print("no solved environment to re-test")
        return 0
    threshold = experiment.config.poet.solved
    print(f"{'env':>4s} {'difficulty':22s} {'own terrain':>11s} {'fresh seeds: mean [95 % CI]':>30s} "
          f"{'solved':>7s}  name")
    for row in rows:
        low, high = row["fresh_ci"]
        print(f"{row['env']:4d} {row['difficulty']:22s} {row['own_terrain']:11.1f} "
              f"{row['fresh_mean']:12.1f} [{low:7.1f}, {high:7.1f}] {row['fresh_solved_share']:7.0%}  {row['name']}")
    print(f"{len(rows)} solved environments, {args.episodes} fresh terrain seeds each: own terrain "
          f"{np.mean([r['own_terrain'] for r in rows]):.1f}, fresh seeds {np.mean([r['fresh_mean'] for r in rows]):.1f}"
          f", share of fresh episodes >= {threshold:g}: {np.mean([r['fresh_solved_share'] for r in rows]):.0%}")
    if args.json:
        args.json.write_text(json.dumps(jsonable({"run": str(args.run_dir), "episodes": args.episodes,
                                                  "solved_threshold": threshold, "environments": rows}),
                                        indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
