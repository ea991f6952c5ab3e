"""What people would rather look at than read: videos of episodes and plots of a run's metrics.

Used by experiments (replays), ``evoforge inspect`` and the HTML report; matplotlib runs headless.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def write_video(frames: Sequence[np.ndarray], path: Path, fps: int = 30) -> Path:
    """Write RGB frames as .mp4 (ffmpeg, shipped by imageio-ffmpeg) or .gif, chosen by the suffix."""
    import imageio.v2 as imageio

    path = Path(path)
    if not frames:
        raise ValueError("no frames to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        imageio.mimsave(path, list(frames), duration=1000 / fps, loop=0)
    elif path.suffix.lower() in (".mp4", ".mov", ".mkv", ".webm"):
        # macro_block_size=1 keeps odd frame sizes (e.g. 600x400 is fine, 84x84 too) without resizing.
        imageio.mimsave(path, list(frames), fps=fps, macro_block_size=1)
    else:
        raise ValueError(f"unsupported video format {path.suffix!r}: use .mp4 or .gif")
    return path



def plot_fitness(records: list[dict[str, Any]], path: Path, title: str = "", threshold: float | None = None) -> Path:
    """Best, mean +- std of the population and the center's evaluation per generation, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    generations = np.array([r["generation"] for r in records])
    mean = np.array([r["fitness_mean"] for r in records])
    std = np.array([r["fitness_std"] for r in records])
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    ax.fill_between(generations, mean - std, mean + std, alpha=0.2, label="population mean ± std")
    ax.plot(generations, mean, lw=1.5)
    ax.plot(generations, [r["fitness_best"] for r in records], lw=1.2, label="population best")
    center = [(r["generation"], r["center_eval"]) for r in records if r.get("center_eval") is not None]
    if center:
        ax.plot(*zip(*center), "o-", ms=3, lw=1.5, label="center (fresh seeds)")
    if threshold is not None:
        ax.axhline(threshold, color="k", ls="--", lw=1, label=f"stop fitness {threshold:g}")
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


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
