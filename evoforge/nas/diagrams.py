"""Drawings of the NAS domain: a NAS-Bench-201 cell as its DAG, a search's scores in sampling order, and each
proxy's score against trained accuracy. Each returns a matplotlib figure (the caller saves or inlines it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from evoforge.nas.space import EDGES, Cell

_OP_STYLE = {  # colour and short label per NAS-Bench-201 operation
    "none": ("#bbbbbb", "none"),
    "skip_connect": ("#2b8cbe", "skip"),
    "nor_conv_1x1": ("#e6550d", "conv1x1"),
    "nor_conv_3x3": ("#a63603", "conv3x3"),
    "avg_pool_3x3": ("#31a354", "avgpool"),
}
# Proxies whose values span orders of magnitude: drawn on a log axis when all are positive.
_LOG_SCALE = ("synflow", "snip", "grad_norm", "params", "flops")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display needed: figures are saved or inlined
    import matplotlib.pyplot as plt

    return plt


def draw_cell(cell: Cell, ax: Any, title: str = "") -> None:
    """The cell as Dong & Yang (2020) draw it: nodes 0 (input) .. 3 (output) left to right, one arc per edge
    labelled with its operation; ``none`` edges dashed (they carry nothing)."""
    from matplotlib.patches import FancyArrowPatch

    positions = {node: (node * 1.0, 0.0) for node in range(4)}
    for (source, target), op in zip(EDGES, cell.ops):
        colour, label = _OP_STYLE[op]
        # Longer jumps bend further so that the six arcs do not overlap.
        bend = {1: 0.0, 2: 0.45, 3: -0.55}[target - source]
        arrow = FancyArrowPatch(positions[source], positions[target], connectionstyle=f"arc3,rad={bend}",
                                arrowstyle="-|>", mutation_scale=12, color=colour, lw=2,
                                linestyle="--" if op == "none" else "-", shrinkA=11, shrinkB=11)
        ax.add_patch(arrow)
        mid_x = (source + target) / 2
        mid_y = -bend * (target - source) / 2
        ax.text(mid_x, mid_y, label, ha="center", va="center", fontsize=7, color=colour,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.9})
    for node, (x, y) in positions.items():
        ax.scatter([x], [y], s=420, color="#24303c", zorder=3)
        ax.text(x, y, str(node), color="white", ha="center", va="center", fontsize=9, zorder=4)
    ax.set_xlim(-0.4, 3.4)
    ax.set_ylim(-1.0, 1.0)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8)


def cells_figure(cells: Sequence[tuple[Cell, str]], columns: int = 3) -> Any:
    """A figure with one cell diagram per (cell, caption)."""
    plt = _pyplot()
    rows = -(-len(cells) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, (cell, caption) in zip(axes.ravel(), cells):
        draw_cell(cell, ax, caption)
    fig.tight_layout()
    return fig


def scores_figure(values: Sequence[float], label: str) -> Any:
    """Every scored cell's value in the order the search sampled it, with the best so far."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.scatter(range(len(values)), values, s=8, alpha=0.6, label="scored cell")
    ax.plot(np.maximum.accumulate(np.asarray(values, dtype=np.float64)), color="C1", label="best so far")
    ax.set_xlabel("cells scored, in order")
    ax.set_ylabel(label)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def proxies_figure(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> Any:
    """One scatter per proxy of its score against trained accuracy (rows of the benchmark; missing or
    non-finite scores left out)."""
    plt = _pyplot()
    columns = max(1, min(4, len(names)))
    lines = max(1, -(-len(names) // columns))
    fig, axes = plt.subplots(lines, columns, figsize=(3.2 * columns, 2.8 * lines), squeeze=False)
    accuracy = [row["accuracy"] for row in rows]
    for ax, name in zip(axes.flat, names):
        keep = [(row.get(name), a) for row, a in zip(rows, accuracy)
                if row.get(name) is not None and np.isfinite(row[name])]
        ax.scatter([v for v, _ in keep], [a for _, a in keep], s=6, alpha=0.6)
        if name in _LOG_SCALE and keep and all(v > 0 for v, _ in keep):
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel("trained accuracy (%)")
    for ax in list(axes.flat)[len(names):]:
        ax.set_axis_off()
    fig.tight_layout()
    return fig
