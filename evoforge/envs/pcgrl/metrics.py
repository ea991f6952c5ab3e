"""Map metrics of PCGRL with the reference's semantics (amidos2006/gym-pcgrl ``envs/helper.py``).

Maps are (H, W) integer arrays of tile indices; positions are (row, col). Neighbourhoods are 4-connected and the
map edge is a wall. These single-map versions are the ground truth the batched simulator is tested against.

* regions: flood-fill components of the passable tiles;
* distance map: unit-cost BFS from one tile over passable tiles (the reference calls it ``run_dikjstra``),
  -1 where unreachable;
* longest path: the reference's *approximate* diameter -- per component (visited in the reference's order:
  passable tile values in their listed order, each row-major), BFS from its first tile, then BFS again from the
  farthest tile (first in row-major order among ties), and the largest distance over components;
* range reward: the reward for moving a statistic toward the range [low, high] (0 when it stays inside).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

NEIGHBOURS = ((0, -1), (0, 1), (-1, 0), (1, 0))


def passable_mask(level: np.ndarray, passable: Sequence[int]) -> np.ndarray:
    """Boolean mask of the tiles of ``level`` that are one of the ``passable`` tile indices."""
    lookup = np.zeros(max(int(level.max(initial=0)), *passable) + 1, dtype=bool)
    lookup[list(passable)] = True
    return lookup[level]


def _bfs(mask: list[list[bool]], start: tuple[int, int], distances: list[list[int]]) -> None:
    """Fill ``distances`` (-1 = unseen) from ``start`` over True cells; plain lists: this runs every env step."""
    height, width = len(mask), len(mask[0])
    distances[start[0]][start[1]] = 0
    queue = deque([start])
    while queue:
        r, c = queue.popleft()
        here = distances[r][c] + 1
        for dr, dc in NEIGHBOURS:
            nr, nc = r + dr, c + dc
            if 0 <= nr < height and 0 <= nc < width and mask[nr][nc] and distances[nr][nc] < 0:
                distances[nr][nc] = here
                queue.append((nr, nc))


def num_regions(level: np.ndarray, passable: Sequence[int]) -> int:
    """Number of 4-connected components of passable tiles."""
    mask = passable_mask(level, passable).tolist()
    seen = [[-1] * len(mask[0]) for _ in mask]
    regions = 0
    for r, row in enumerate(mask):
        for c, open_tile in enumerate(row):
            if open_tile and seen[r][c] < 0:
                regions += 1
                _bfs(mask, (r, c), seen)
    return regions


def distance_map(level: np.ndarray, start: tuple[int, int], passable: Sequence[int]) -> np.ndarray:
    """BFS distances (in steps) from ``start`` over passable tiles; -1 where unreachable or when ``start`` is
    itself not passable."""
    mask = passable_mask(level, passable).tolist()
    distances = [[-1] * len(mask[0]) for _ in mask]
    if mask[start[0]][start[1]]:
        _bfs(mask, (int(start[0]), int(start[1])), distances)
    return np.array(distances, dtype=np.int64)


def longest_path(level: np.ndarray, passable: Sequence[int]) -> int:
    """The reference's approximate longest shortest path (double BFS per component), 0 without passable tiles."""
    mask = passable_mask(level, passable).tolist()
    unseen = lambda: [[-1] * len(mask[0]) for _ in mask]  # noqa: E731
    visited = np.zeros(level.shape, dtype=bool)
    best = 0
    starts = [pos for value in passable for pos in zip(*np.nonzero(level == value))]
    for start in starts:
        if visited[start]:
            continue
        first = unseen()
        _bfs(mask, (int(start[0]), int(start[1])), first)
        first = np.array(first)
        visited |= first >= 0
        far = np.unravel_index(np.argmax(first), first.shape)
        second = unseen()
        _bfs(mask, (int(far[0]), int(far[1])), second)
        best = max(best, max(map(max, second)))
    return best


def range_reward(new: float, old: float, low: float, high: float) -> float:
    """Reward for moving a statistic from ``old`` to ``new`` relative to the target range [low, high].

    0 while both stay inside; otherwise the movement toward the range counted up to its boundary (positive)
    and away from it (negative); jumping over the whole range scores minus both distances from it (the
    reference's formula). ``low = high = inf`` rewards any increase (new - old), ``-inf`` any decrease.
    """
    if low <= new <= high and low <= old <= high:
        return 0.0
    if old <= high and new <= high:  # below (or entering from below)
        return float(min(new, low) - min(old, low))
    if old >= low and new >= low:  # above (or entering from above)
        return float(max(old, high) - max(new, high))
    if new > high and old < low:  # jumped over the range upwards: -(new - high) - (low - old)
        return float(high - new + old - low)
    return float(high - old + new - low)  # jumped over it downwards: -(old - high) - (low - new)
