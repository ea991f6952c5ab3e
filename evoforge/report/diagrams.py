"""Small drawings for reports: a NAS-Bench-201 cell as its DAG, metric curves as small multiples."""

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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = -(-len(cells) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, (cell, caption) in zip(axes.ravel(), cells):
        draw_cell(cell, ax, caption)
    fig.tight_layout()
    return fig


def metric_curves(records: Sequence[dict[str, Any]], keys: Sequence[str], x_key: str = "generation") -> Any:
    """One small panel per metric key over ``x_key`` (non-finite values left out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(4, len(keys))
    rows = -(-len(keys) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.3 * columns, 2.3 * rows), squeeze=False)
    for ax in axes.ravel()[len(keys):]:
        ax.set_axis_off()
    for ax, key in zip(axes.ravel(), keys):
        points = [(r[x_key], r[key]) for r in records if isinstance(r.get(key), (int, float))
                  and np.isfinite(r[key])]
        if points:
            ax.plot(*zip(*points), lw=1.2)
        ax.set_title(key, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
