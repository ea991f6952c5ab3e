"""Train a layer search's best layers against BN-ReLU, GN-ReLU, EvoNorm-B0 and EvoNorm-S0 on every anchor, at a
large and a tiny batch, over several seeds (Liu et al. 2020's comparison, on the search's proxy task).

    python scripts/evonorm_compare.py runs/evonorm                  # top 3, batches 128 and 4, seeds 0 1 2
    python scripts/evonorm_compare.py runs/evonorm --top 2 --seeds 0 1 --serial
    python scripts/evonorm_compare.py runs/evonorm --address auto   # on a running Ray cluster

The training jobs run on the pool of the run's ``pool:`` section (``--serial``: in this process). Writes
RUN/compare.md (mean +- std test accuracy, n, diverged runs) and RUN/compare.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evoforge.errors import UserError
from evoforge.experiments import load_experiment
from evoforge.experiments.evonorm import COMPARISON, compare_layers
from evoforge.nas.evonorm import BASELINES
from evoforge.search.rundir import RunDir
from evoforge.search.storage import write_json


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument("--batches", type=int, nargs="+", default=[128, 4])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--serial", action="store_true", help="train in this process instead of Ray actors")
    parser.add_argument("--address", help="join a Ray cluster: 'auto' or HOST:PORT (default: the pool section's)")
    args = parser.parse_args()
    run_dir = RunDir(args.run_dir)
    try:
        experiment = load_experiment(run_dir.require().config_path)
        found = experiment.best_layers(run_dir, args.top)
    except UserError as exc:
        sys.exit(str(exc))
    if not found:
        sys.exit(f"{args.run_dir}: the search accepted no layer yet")
    layers = {f"evolved_{k + 1}": graph for k, (graph, _) in enumerate(found)}
    layers.update(BASELINES)
    rows = compare_layers(experiment.config, layers, args.batches, args.seeds, address=args.address,
                          backend="serial" if args.serial else None)
    lines = [f"Test accuracy (%) after {experiment.config.training.steps} steps, seeds {args.seeds}; "
             "mean +- std over the runs that did not diverge.", "",
             "| layer | formula | anchor | " + " | ".join(f"batch {b}" for b in args.batches) + " |",
             "|---|---|---|" + "---|" * len(args.batches)]
    for name in layers:
        for anchor in experiment.config.anchors:
            cells = []
            for batch in args.batches:
                row = next(r for r in rows if (r["layer"], r["anchor"], r["batch"]) == (name, anchor, batch))
                text = f"{row['mean']:.1f} +- {row['std']:.1f}" if row["n"] else "diverged"
                cells.append(text + (f" ({row['diverged']} diverged)" if row["n"] and row["diverged"] else ""))
            lines.append(f"| {name} | `{layers[name]}` | {anchor} | " + " | ".join(cells) + " |")
    run_dir.artifact("compare.md").write_text("\n".join(lines) + "\n")
    write_json(run_dir.artifact(COMPARISON), rows)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
