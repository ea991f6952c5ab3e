"""Hebbian rules vs static weights on the three quadruped morphologies (Najarro & Risi 2020, Table 1).

For every seed, trains a Hebbian network (configs/hebbian_quadruped_quick.yaml) and a static-weight network of
the same architecture (configs/static_quadruped_quick.yaml) on the standard ant + the ant with a damaged
front-right leg, then evaluates each run's best centre on all three morphologies, the front-left damage held
out. The un-evolved starting genomes (random Hebbian rules; random static weights) are evaluated too, as the
baseline that says how far evolution got. Every genome meets the same evaluation seeds.

Each training run is a normal ``evoforge`` run in OUT/METHOD-seedN (inspect or replay it as any other); a run
that was interrupted is resumed and a finished one is reused, so the script can simply be started again.

Writes OUT/ablation.csv (one row per method, seed and morphology), OUT/ablation.md (mean +- std over seeds)
and OUT/ablation.png (bars with the std as error bars).

    python scripts/ablation_hebbian_static.py --seeds 0 1 2 --out runs/ablation
    python scripts/ablation_hebbian_static.py --seeds 0 1 2 --set search.generations=100   # longer runs
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from evoforge.experiments.runs import replay_returns

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {
    "hebbian": ROOT / "configs" / "hebbian_quadruped_quick.yaml",
    "static": ROOT / "configs" / "static_quadruped_quick.yaml",
}
MORPHOLOGIES = {  # env id -> column label
    "evoforge/Quadruped-v0": "standard (trained)",
    "evoforge/QuadrupedDamagedRightFront-v0": "damaged front-right (trained)",
    "evoforge/QuadrupedDamagedLeftFront-v0": "damaged front-left (held out)",
}
LABELS = {
    ("hebbian", "best"): "Hebbian ABCD_lr, evolved",
    ("static", "best"): "static weights, evolved",
    ("hebbian", "initial"): "Hebbian, random rules (generation 0)",
    ("static", "initial"): "static, random weights (generation 0)",
}


def train(method: str, seed: int, out: Path, overrides: list[str], quiet: bool) -> Path:
    """Run (or resume, or reuse) the training run of ``method`` with ``seed``; returns its directory."""
    run_dir = out / f"{method}-seed{seed}"
    summary = run_dir / "summary.json"
    if summary.is_file() and json.loads(summary.read_text())["status"] in ("completed", "solved"):
        print(f"[{method} seed {seed}] finished run found in {run_dir}, reused", flush=True)
        return run_dir
    if (run_dir / "config.yaml").is_file():
        command = ["resume", str(run_dir)]
    else:
        sets = [arg for o in [f"seed={seed}", *overrides] for arg in ("--set", o)]
        command = ["run", str(CONFIGS[method]), "--out", str(run_dir), *sets]
    print(f"[{method} seed {seed}] evoforge {' '.join(command)}", flush=True)
    started = time.time()
    subprocess.run([sys.executable, "-m", "evoforge.cli", *command, *(["--quiet"] if quiet else [])], check=True)
    print(f"[{method} seed {seed}] trained in {time.time() - started:.0f} s", flush=True)
    return run_dir


def summarise(rows: list[dict], out: Path, title: str) -> str:
    """Mean +- std over seeds per (method, morphology): markdown table, bar plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[tuple[str, str], dict[str, list[float]]] = {}
    for row in rows:
        groups.setdefault((row["method"], row["genome"]), {}).setdefault(row["env_id"], []).append(row["mean_return"])
    header = "| agent | seeds | " + " | ".join(MORPHOLOGIES.values()) + " |"
    lines = [header, "|" + "---|" * (2 + len(MORPHOLOGIES))]
    stats: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for key in [k for k in LABELS if k in groups]:
        per_env = groups[key]
        stats[key] = [
            (statistics.fmean(per_env[e]), statistics.stdev(per_env[e]) if len(per_env[e]) > 1 else 0.0)
            for e in MORPHOLOGIES
        ]
        cells = [f"{m:.1f} ± {s:.1f}" for m, s in stats[key]]
        lines.append(f"| {LABELS[key]} | {len(per_env[next(iter(MORPHOLOGIES))])} | " + " | ".join(cells) + " |")
    table = "\n".join(lines) + "\n"
    (out / "ablation.md").write_text(f"# {title}\n\n{table}")

    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(stats)
    for k, (key, values) in enumerate(stats.items()):
        xs = [i + (k - (len(stats) - 1) / 2) * width for i in range(len(MORPHOLOGIES))]
        ax.bar(xs, [m for m, _ in values], width, yerr=[s for _, s in values], capsize=3, label=LABELS[key])
    ax.set_xticks(range(len(MORPHOLOGIES)), list(MORPHOLOGIES.values()))
    ax.set_ylabel("episode return (progress; ~60 per metre)")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "ablation.png", dpi=120)
    plt.close(fig)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override both training configs (e.g. search.generations=100)")
    parser.add_argument("--episodes", type=int, default=5, help="evaluation episodes per genome and morphology")
    parser.add_argument("--eval-seed", type=int, default=2020, help="seed of the evaluation episodes")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="processes for the evaluation")
    parser.add_argument("--quiet", action="store_true", help="no progress bars while training")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()

    runs = {(method, seed): train(method, seed, args.out, args.overrides, args.quiet)
            for seed in args.seeds for method in CONFIGS}
    jobs = [(method, kind, seed, run_dir, env_id)
            for (method, seed), run_dir in runs.items() for kind in ("best", "initial") for env_id in MORPHOLOGIES]
    print(f"evaluating {len(jobs)} genome x morphology pairs, {args.episodes} episodes each", flush=True)
    rows = []
    with ProcessPoolExecutor(max_workers=args.workers) as executor:
        results = executor.map(
            replay_returns,
            [str(run_dir) for *_, run_dir, _ in jobs], [kind for _, kind, *_ in jobs], [env for *_, env in jobs],
            [args.episodes] * len(jobs), [args.eval_seed] * len(jobs),
        )
        for (method, kind, seed, _, env_id), returns in zip(jobs, results):
            rows.append({"method": method, "genome": kind, "seed": seed, "env_id": env_id,
                         "morphology": MORPHOLOGIES[env_id], "episodes": len(returns),
                         "mean_return": statistics.fmean(returns), "returns": " ".join(f"{r:.2f}" for r in returns)})
    with open(args.out / "ablation.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    title = (f"Hebbian vs static, quadruped: mean ± std over seeds {args.seeds} of the mean return of "
             f"{args.episodes} episodes")
    print(summarise(rows, args.out, title))
    print(f"wall time {time.time() - started:.0f} s; -> {args.out}/ablation.md, ablation.csv, ablation.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
