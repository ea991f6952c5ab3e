"""Search statistics of EvoNorm layer searches, one row per search, and zero-cost screening replayed on each
(issue 19): what a search judged, rejected and why, whether anything it evolved beat the baselines it started
from on validation accuracy, and what rejecting candidates below a NASWOT-style score would have cost it.

    python scripts/evonorm_searches.py runs/ablations/evonorm_searches/*/seed-*
    python scripts/evonorm_searches.py runs/evonorm --out runs/evonorm/search_stats.md

Everything here is the search's own selection data (validation accuracy on the search anchors after the
shortened schedule); test accuracy on held-out architectures is scripts/evonorm_compare.py's.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from evoforge.errors import UserError
from evoforge.experiments import load_experiment
from evoforge.experiments.evonorm import screening_tradeoff
from evoforge.nas.evonorm import BASELINES
from evoforge.search.evolution import best_distinct
from evoforge.search.rundir import RunDir


def search_row(run_dir: Path) -> dict:
    """One search's statistics: generations, candidates judged / accepted / rejected by reason, the best
    baseline's and the best evolved layer's mean validation accuracy, and how many distinct evolved layers beat
    the best baseline."""
    run = RunDir(run_dir).require()
    searcher = load_experiment(run.config_path).load_searcher(run)
    summary = run.read_summary() or {}
    judged = searcher.judged
    baselines = {graph: name for name, graph in BASELINES.items()}
    ranked = best_distinct(searcher.history, len(searcher.history))
    seeded = [(baselines[graph], accuracy) for graph, accuracy in ranked if graph in baselines]
    evolved = [(graph, accuracy) for graph, accuracy in ranked if graph not in baselines]
    best_baseline = max((accuracy for _, accuracy in seeded), default=math.nan)
    return {
        "run": str(run_dir), "status": summary.get("status", "?"),
        "generations": summary.get("generations_completed", 0), "wall_s": summary.get("wall_time_s", math.nan),
        "judged": len(judged), "accepted": len(judged) - searcher.rejected, "rejected": searcher.rejected,
        **{reason: int(sum(r.get(f"rejected_{reason}", 0) > 0 for r in judged))
           for reason in ("quality", "stability", "screen")},
        "best_baseline": max(seeded, key=lambda item: item[1], default=("-", math.nan)),
        "best_evolved": (str(evolved[0][0]), evolved[0][1]) if evolved else ("-", math.nan),
        "distinct_evolved": len(evolved),
        "beat_baselines": sum(accuracy > best_baseline for _, accuracy in evolved),
        "tradeoff": screening_tradeoff(judged),
    }


def markdown(rows: list[dict]) -> list[str]:
    """The per-search table, then the screening trade-off of every search and summed over them."""
    header = ("| search | status | generations | wall s | judged | accepted | rejected: quality / stability / screen | "
              "best baseline (val %) | best evolved layer | its val % | distinct evolved | beat the best baseline |")
    lines = [header, "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name, base = r["best_baseline"]
        formula, best = r["best_evolved"]
        lines.append(f"| {r['run']} | {r['status']} | {r['generations']} | {r['wall_s']:.0f} | {r['judged']} | "
                     f"{r['accepted']} | {r['quality']} / {r['stability']} / {r['screen']} | {name} ({base:.1f}) | "
                     f"`{formula}` | {best:.1f} | {r['distinct_evolved']} | {r['beat_baselines']} |")
    caption = ("Zero-cost screening replayed (a candidate is not trained when its score of the untrained anchors is "
               "below the threshold; quantiles of each search's own scores; top 10: its best accepted layers by "
               "validation):")
    lines += ["", caption, "", "| search | threshold | not trained | accepted lost | top 10 lost |", "|---|---|---|---|---|"]
    totals: dict[str, np.ndarray] = {}
    for r in rows:
        for t in r["tradeoff"]:
            finite = np.isfinite(t["threshold"])
            label = f"q {t['quantile']:g}" if finite else "singular only (-inf)"
            shown = f"{label} ({t['threshold']:.1f})" if finite else label
            lines.append(f"| {r['run']} | {shown} | "
                         f"{t['not_trained']:.0f} of {t['candidates']:.0f} | {t['accepted_lost']:.0f} of "
                         f"{t['accepted']:.0f} | {t['top_lost']:.0f} of {t['top']:.0f} |")
            counts = np.array([t[k] for k in ("not_trained", "candidates", "accepted_lost", "accepted", "top_lost",
                                               "top")])
            totals[label] = totals.get(label, 0) + counts
    if len(rows) > 1:
        for label, c in totals.items():
            lines.append(f"| all {len(rows)} searches | {label} | {c[0]:.0f} of {c[1]:.0f} ({100 * c[0] / c[1]:.0f} %)"
                         f" | {c[2]:.0f} of {c[3]:.0f} ({100 * c[2] / max(c[3], 1):.0f} %) | {c[4]:.0f} of {c[5]:.0f} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN")
    parser.add_argument("--out", type=Path, help="also write the tables to this markdown file")
    args = parser.parse_args()
    rows = []
    for path in args.run_dirs:
        try:
            rows.append(search_row(path))
        except UserError as exc:  # no run there, or no checkpoint yet: left out, said on stderr
            print(f"left out: {exc}", file=sys.stderr)
    if not rows:
        return 2
    text = "\n".join(markdown(rows)) + "\n"
    if args.out is not None:
        args.out.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
