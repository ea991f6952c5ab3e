"""The POET paper's control: the same ES, from scratch, directly on the hardest environment a POET run solved.

Reads a POET run, picks the hardest environment it solved (difficulty class, then distance from flat in the
5-D encoding; or ``--env ID``), counts the ES steps POET took over all its pairs until it solved it, and
prints (or, with ``--run``, starts) an ordinary evoforge run with the run's own config reduced to one pair on
that terrain for that many ES steps. The control is checkpointed and resumable like any run; compare its
best score with POET's (the paper: direct ES reached 13.6-39.6 where POET scored >= 230).

    python scripts/poet_direct_es.py runs/poet_s0              # prints the command
    python scripts/poet_direct_es.py runs/poet_s0 --run --out runs/poet_s0_direct
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from evoforge.cli import main as evoforge
from evoforge.experiments import load_experiment
from evoforge.experiments.poet import direct_es_overrides, es_steps_until, hardest_solved
from evoforge.search.rundir import RunDir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--env", type=int, help="environment id (default: the hardest solved)")
    parser.add_argument("--run", action="store_true", help="start the control run instead of printing it")
    parser.add_argument("--out", type=Path, help="the control's run directory")
    parser.add_argument("--serial", action="store_true")
    args = parser.parse_args()
    run_dir = RunDir(args.run_dir).require()
    poet = load_experiment(run_dir.config_path).load_poet(run_dir)
    if poet is None:
        sys.exit(f"{args.run_dir} holds no POET checkpoint yet")
    record = poet.envs.get(args.env) if args.env is not None else hardest_solved(poet)
    if record is None or record.solved_at is None:
        sys.exit(f"{args.run_dir}: no solved environment {'#' + str(args.env) if args.env is not None else ''}"
                 f" to compare on (solved: {sorted(r.id for r in poet.envs.values() if r.solved_at is not None)})")
    print(f"environment #{record.id} {record.env}: POET best {record.best_score:.1f}, solved at iteration "
          f"{record.solved_at} after {es_steps_until(poet.history, record.solved_at)} ES steps over all pairs")
    out = args.out or Path(f"{args.run_dir}_direct_env{record.id}")
    command = ["run", str(run_dir.config_path), "--out", str(out), "--quiet"]
    command += [part for override in direct_es_overrides(poet, record) for part in ("--set", override)]
    command += ["--serial"] if args.serial else []
    print("evoforge " + shlex.join(command))
    return evoforge(command) if args.run else 0


if __name__ == "__main__":
    sys.exit(main())
