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
    return np.isin(level, np.asarray(passable))


def num_regions(level: np.ndarray, passable: Sequence[int]) -> int:
    """Number of 4-connected components of passable tiles."""
    mask = passable_mask(level, passable)
    seen = np.zeros_like(mask)
    regions = 0
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        regions += 1
        seen[start] = True
        queue = deque([start])
        while queue:
            r, c = queue.popleft()
            for dr, dc in NEIGHBOURS:
                nr, nc = r + dr, c + dc
                if 0 <= nr < mask.shape[0] and 0 <= nc < mask.shape[1] and mask[nr, nc] and not seen[nr, nc]:
                    seen[nr, nc] = True
                    queue.append((nr, nc))
    return regions


def distance_map(level: np.ndarray, start: tuple[int, int], passable: Sequence[int]) -> np.ndarray:
    """BFS distances (in steps) from ``start`` over passable tiles; -1 where unreachable or when ``start`` is
    itself not passable."""
    mask = passable_mask(level, passable)
    distances = np.full(level.shape, -1, dtype=np.int64)
    if not mask[start]:
        return distances
    distances[start] = 0
    queue = deque([start])
    while queue:
        r, c = queue.popleft()
        for dr, dc in NEIGHBOURS:
            nr, nc = r + dr, c + dc
            if 0 <= nr < mask.shape[0] and 0 <= nc < mask.shape[1] and mask[nr, nc] and distances[nr, nc] < 0:
                distances[nr, nc] = distances[r, c] + 1
                queue.append((nr, nc))
    return distances


def longest_path(level: np.ndarray, passable: Sequence[int]) -> int:
    """The reference's approximate longest shortest path (double BFS per component), 0 without passable tiles."""
    visited = np.zeros(level.shape, dtype=bool)
    best = 0
    starts = [pos for value in passable for pos in zip(*np.nonzero(level == value))]
    for start in starts:
        if visited[start]:
            continue
        first = distance_map(level, start, passable)
        visited |= first >= 0
        far = np.unravel_index(np.argmax(first), first.shape)
        best = max(best, int(distance_map(level, far, passable).max()))
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
