"""PCGRL problems: tiles, statistics, reward, success and validity (Khalifa et al. 2020; gym-pcgrl ``probs/``).

Only ``binary`` so far (issue 4 in progress). Reward = sum of weight * range reward of each statistic between
the map before and after an edit; success ends an episode; validity is the paper-era evaluation's definition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evoforge.envs.pcgrl.metrics import longest_path, num_regions, range_reward


@dataclass(frozen=True)
class BinaryProblem:
    """14x14 maps of empty (0) and solid (1) tiles: one connected empty region with a long path.

    Reward: regions x5 toward [1, 1], path length x1 maximised. Success (episode over): one region and a path
    at least ``path_improvement`` (20) longer than the starting map's. Valid level (the paper's evaluation):
    one region and a path of at least 48 tiles.
    """

    width: int = 14
    height: int = 14
    tiles: tuple[str, ...] = ("empty", "solid")
    passable: tuple[int, ...] = (0,)
    path_improvement: int = 20
    valid_path: int = 48

    def stats(self, level: np.ndarray) -> dict[str, int]:
        return {"regions": num_regions(level, self.passable), "path-length": longest_path(level, self.passable)}

    def reward(self, new: dict[str, int], old: dict[str, int]) -> float:
        return (5 * range_reward(new["regions"], old["regions"], 1, 1)
                + range_reward(new["path-length"], old["path-length"], math.inf, math.inf))

    def success(self, stats: dict[str, int], start: dict[str, int]) -> bool:
        return stats["regions"] == 1 and stats["path-length"] - start["path-length"] >= self.path_improvement

    def valid(self, stats: dict[str, int]) -> bool:
        return stats["regions"] == 1 and stats["path-length"] >= self.valid_path
