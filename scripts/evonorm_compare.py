"""Re-rank a layer search's best layers on architectures it never saw, against BN-ReLU, GN-ReLU, EvoNorm-B0 and
EvoNorm-S0, at a large and a tiny batch, over several training seeds (Liu et al. 2020 re-rank their top 10 on
held-out settings; here: a wider, deeper pre-activation ResNet and a VGG-style network).

    python scripts/evonorm_compare.py runs/evonorm                        # top 10, held out, batches 128 4, 5 seeds
    python scripts/evonorm_compare.py runs/evonorm --top 3 --seeds 0 1 --architectures resnet --serial
    python scripts/evonorm_compare.py runs/evonorm --address auto         # on a running Ray cluster
    python scripts/evonorm_compare.py runs/ablations/evonorm_searches/*/seed-* --out runs/evonorm_heldout

The layers are the search's best by validation accuracy, the four baselines it may have started from left out
(they are in the table under their own names); everything here reports the test split. Every training
uses the run's schedule (``training.epochs``: the same number of epochs at every batch size) and grouping.
The jobs run on the pool of the run's ``pool:`` section (``--serial``: in this process). Writes OUT/compare.md
(test accuracy mean and 95 % interval over seeds, validation mean, diverged runs, Welch p against each
baseline) and OUT/compare.json, OUT being the run or ``--out``. Every finished training is appended to
OUT/compare_jobs.jsonl (or ``--cache``), so an interrupted comparison continues where it stopped when the
command is run again.

Several searches of one training protocol go into one table against one set of baseline trainings: their
layers are named LABEL/evolved_k and queued rank by rank (every search's best, then every second best...), after the
baselines, so a comparison stopped early has its most informative rows finished; ``--out`` is then required.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

from evoforge.errors import UserError
from evoforge.experiments import load_experiment
from evoforge.experiments.evonorm import COMPARISON, REFERENCE_LAYERS, compare_layers, comparison_protocol
from evoforge.nas.anchors import ANCHORS, HELD_OUT
from evoforge.nas.evonorm import NAMED_LAYERS, LayerGraph
from evoforge.search.rundir import RunDir
from evoforge.search.storage import write_json


def _p(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2g}"


def table(rows: list[dict], header: str) -> list[str]:
    """compare.json rows as a markdown table, one line per (layer, architecture, batch)."""
    refs = [ref for ref in REFERENCE_LAYERS if any(ref == r["layer"] for r in rows)]
    lines = [header, "", "| layer | formula | architecture | batch | test % mean [95 % CI] | validation % | n | "
             "diverged | " + " | ".join(f"p vs {ref}" for ref in refs) + " |",
             "|---|---|---|---|---|---|---|---|" + "---|" * len(refs)]
    for r in rows:
        if r["n"]:
            interval = f" [{r['ci_low']:.1f}, {r['ci_high']:.1f}]" if r["n"] > 1 else ""
            cell, val = f"{r['mean']:.1f}{interval}", f"{r['val_mean']:.1f}"
        else:
            cell, val = "diverged", "-"
        ps = [_p(r["welch_p"].get(ref, math.nan)) if ref != r["layer"] else "" for ref in refs]
        lines.append(f"| {r['layer']} | `{r['formula']}` | {r['anchor']} | {r['batch']} | {cell} | {val} | "
                     f"{r['n']} | {r['diverged']} | " + " | ".join(ps) + " |")
    return lines


def layer_names(found: list[tuple[Path, list]], top: int) -> dict[str, LayerGraph]:
    """The searches' layers named evolved_k (one search) or LABEL/evolved_k (several; LABEL: the run's path
    below the searches' common folder), queued rank by rank: every search's best, then every second best..."""
    paths = [path.resolve() for path, _ in found]
    common = Path(os.path.commonpath(paths)) if len(paths) > 1 else None
    layers = {}
    for k in range(top):
        for path, (_, ranked) in zip(paths, found):
            if k < len(ranked):
                prefix = "" if common is None else f"{path.relative_to(common).as_posix() or path.name}/"
                layers[f"{prefix}evolved_{k + 1}"] = ranked[k][0]
    return layers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN", help="one or more layer searches")
    parser.add_argument("--top", type=int, default=10,
                        help="each search's best distinct evolved layers (by validation; the baselines left out)")
    parser.add_argument("--architectures", nargs="+", default=list(HELD_OUT), choices=sorted(ANCHORS))
    parser.add_argument("--batches", type=int, nargs="+", default=[128, 4])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path, help="folder for compare.md and compare.json (default: the only RUN)")
    parser.add_argument("--cache", type=Path, help="finished trainings (default: OUT/compare_jobs.jsonl)")
    parser.add_argument("--serial", action="store_true", help="train in this process instead of Ray actors")
    parser.add_argument("--cached-only", action="store_true",
                        help="train nothing: tabulate the cells whose every seed is in the cache (a partial table)")
    parser.add_argument("--address", help="join a Ray cluster: 'auto' or HOST:PORT (default: the pool section's)")
    args = parser.parse_args()
    if args.out is None and len(args.run_dirs) > 1:
        print("several searches: name a folder for the table with --out", file=sys.stderr)
        return 2
    try:
        searches = [(path, load_experiment(RunDir(path).require().config_path)) for path in args.run_dirs]
        experiment = searches[0][1]
        for path, other in searches[1:]:
            if comparison_protocol(other.config) != comparison_protocol(experiment.config):
                raise UserError(f"{path}: its training, data or grouping differs from {args.run_dirs[0]}'s; "
                                "compare searches of one protocol")
        # the evolved layers only: the baselines a search started from are in the table anyway
        found = [(path, other.best_layers(RunDir(path), args.top, baselines=False)) for path, other in searches]
    except UserError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.top and not any(ranked for _, ranked in found):  # --top 0: the baselines alone
        print(f"{', '.join(map(str, args.run_dirs))}: no search accepted a layer yet", file=sys.stderr)
        return 2
    # the baselines first: every evolved row's p values need them, and they head the table
    layers = {name: NAMED_LAYERS[name] for name in REFERENCE_LAYERS} | layer_names(found, args.top)
    out = args.run_dirs[0] if args.out is None else args.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"{done} of {total} trainings done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)

    try:  # every finished training is kept in the cache: rerun the command to continue
        rows = compare_layers(experiment.config, layers, args.batches, args.seeds, args.architectures,
                              address=args.address, backend="serial" if args.serial else None,
                              cache=args.cache or out / "compare_jobs.jsonl", progress=progress,
                              train=not args.cached_only)
    except ValueError as exc:  # a grouping the architectures cannot take
        print(exc, file=sys.stderr)
        return 2
    config = experiment.config
    searched = ", ".join(map(str, args.run_dirs))
    header = (f"Test accuracy (%) after {config.training.describe()} at each batch size B, "
              f"{config.grouping.describe()}, architectures {args.architectures} (not seen by the search), "
              f"training seeds {args.seeds}; evolved_k = the k-th best distinct layer by validation accuracy of "
              f"{searched}. Welch p over seeds against each baseline. {time.perf_counter() - started:.0f} s."
              + (" Partial: only the cells every seed of which has finished." if args.cached_only else ""))
    lines = table(rows, header)
    (out / "compare.md").write_text("\n".join(lines) + "\n")
    write_json(out / COMPARISON, rows)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
