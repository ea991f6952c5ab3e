"""How many epochs the layer search's training needs: the four baselines (BN-ReLU, GN-ReLU, EvoNorm-B0, S0) on
the search's anchors at a large and a tiny batch, each trained for several schedule lengths (the same number of
epochs at both batch sizes), reporting the validation accuracy -- the split a schedule is chosen on.

    python scripts/evonorm_schedule.py configs/evonorm_digits.yaml --epochs 5 10 20 --seeds 0 --serial

A schedule is long enough when one more doubling changes no baseline's mean by more than the seeds' spread.
Writes OUT/schedule.md and OUT/schedule.json (default OUT: runs/evonorm_schedule); every finished training is
kept in OUT/schedule_jobs.jsonl, so an interrupted check continues when run again.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from evoforge.errors import UserError
from evoforge.experiments import load_experiment
from evoforge.experiments.evonorm import REFERENCE_LAYERS, compare_layers
from evoforge.nas.evonorm import NAMED_LAYERS
from evoforge.search.storage import write_json


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--epochs", type=float, nargs="+", default=[5, 10, 20])
    parser.add_argument("--batches", type=int, nargs="+", default=[128, 4])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", type=Path, default=Path("runs/evonorm_schedule"))
    parser.add_argument("--serial", action="store_true", help="train in this process instead of Ray actors")
    args = parser.parse_args()
    try:
        experiment = load_experiment(args.config)
    except UserError as exc:
        print(exc, file=sys.stderr)
        return 2
    layers = {name: NAMED_LAYERS[name] for name in REFERENCE_LAYERS}
    args.out.mkdir(parents=True, exist_ok=True)
    results, started = [], time.perf_counter()
    for epochs in args.epochs:
        config = experiment.config.model_copy(
            update={"training": experiment.config.training.model_copy(update={"epochs": epochs, "steps": None})})
        for row in compare_layers(config, layers, args.batches, args.seeds,
                                  backend="serial" if args.serial else None, cache=args.out / "schedule_jobs.jsonl"):
            results.append({"epochs": epochs, **row})
        write_json(args.out / "schedule.json", results)  # after every schedule: a cut-off keeps what was done
    lines = [f"Validation accuracy (%) of the baselines by schedule length, seeds {args.seeds}, "
             f"{experiment.config.grouping.describe()}, width {experiment.config.training.width}, "
             f"{experiment.config.training.describe().split(', ', 1)[1]} "
             f"({time.perf_counter() - started:.0f} s).", "",
             "| layer | anchor | batch | " + " | ".join(f"{e:g} epochs" for e in args.epochs) + " |",
             "|---|---|---|" + "---|" * len(args.epochs)]
    for name in layers:
        for anchor in experiment.config.anchors:
            for batch in args.batches:
                cells = []
                for epochs in args.epochs:
                    row = next(r for r in results if (r["epochs"], r["layer"], r["anchor"], r["batch"]) ==
                               (epochs, name, anchor, batch))
                    cells.append(f"{row['val_mean']:.1f}" if row["n"] else "diverged")
                lines.append(f"| {name} | {anchor} | {batch} | " + " | ".join(cells) + " |")
    (args.out / "schedule.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
