"""PCGRL problems: tiles, statistics, reward, success and validity (Khalifa et al. 2020; gym-pcgrl ``probs/``).

``binary``, ``zelda`` and ``sokoban`` (issue 4 in progress). Reward = sum of weight * range reward of each statistic between
the map before and after an edit; success ends an episode; validity is the paper-era evaluation's definition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evoforge.envs.pcgrl.metrics import distance_map, longest_path, num_regions, range_reward
from evoforge.envs.pcgrl.sokoban import solve


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


ZELDA_TILES = ("empty", "solid", "player", "key", "door", "bat", "scorpion", "spider")
EMPTY, SOLID, PLAYER, KEY, DOOR, BAT, SCORPION, SPIDER = range(8)
ENEMIES = (BAT, SCORPION, SPIDER)


@dataclass(frozen=True)
class ZeldaProblem:
    """11 wide x 7 high GVGAI-Zelda rooms: one player, key and door, 2-5 enemies, all connected, a long path.

    Statistics follow the reference's quirks: ``nearest-enemy`` and ``path-length`` are computed only with
    exactly one player and one region (else 0). nearest-enemy starts at W*H and only enemies at a positive
    BFS distance lower it, so unreachable enemies count as far; keys block that BFS. path-length (only with
    one key and one door) = BFS(player -> key) + BFS(key -> door), where the door is passable only in the
    second; an unreachable target adds -1. Success: nearest-enemy >= 4 and path-length >= 16 (enemies are
    only shaped by reward). Valid level (paper evaluation): additionally player = key = door = 1, one region.
    """

    width: int = 11
    height: int = 7
    tiles: tuple[str, ...] = ZELDA_TILES
    passable: tuple[int, ...] = (EMPTY, PLAYER, KEY, BAT, SPIDER, SCORPION)
    target_enemy_distance: int = 4
    target_path: int = 16
    max_enemies: int = 5

    def stats(self, level: np.ndarray) -> dict[str, int]:
        count = {tile: int(np.count_nonzero(level == tile)) for tile in range(len(self.tiles))}
        stats = {
            "player": count[PLAYER], "key": count[KEY], "door": count[DOOR],
            "enemies": sum(count[e] for e in ENEMIES),
            "regions": num_regions(level, self.passable), "nearest-enemy": 0, "path-length": 0,
        }
        if stats["player"] != 1 or stats["regions"] != 1:
            return stats
        player = tuple(np.argwhere(level == PLAYER)[0])
        from_player = distance_map(level, player, (EMPTY, PLAYER, BAT, SPIDER, SCORPION))
        enemy_distances = from_player[np.isin(level, ENEMIES)]
        stats["nearest-enemy"] = int(min([self.width * self.height, *enemy_distances[enemy_distances > 0]]))
        if stats["key"] == 1 and stats["door"] == 1:
            key, door = tuple(np.argwhere(level == KEY)[0]), tuple(np.argwhere(level == DOOR)[0])
            to_key = distance_map(level, player, (EMPTY, KEY, PLAYER, BAT, SPIDER, SCORPION))[key]
            to_door = distance_map(level, key, (EMPTY, PLAYER, KEY, DOOR, BAT, SPIDER, SCORPION))[door]
            stats["path-length"] = int(to_key + to_door)
        return stats

    def reward(self, new: dict[str, int], old: dict[str, int]) -> float:
        terms = {  # statistic: (weight, low, high)
            "player": (3, 1, 1), "key": (3, 1, 1), "door": (3, 1, 1), "enemies": (1, 2, self.max_enemies),
            "regions": (5, 1, 1), "nearest-enemy": (2, self.target_enemy_distance, math.inf),
            "path-length": (1, math.inf, math.inf),
        }
        return sum(w * range_reward(new[k], old[k], low, high) for k, (w, low, high) in terms.items())

    def success(self, stats: dict[str, int], start: dict[str, int]) -> bool:
        return stats["nearest-enemy"] >= self.target_enemy_distance and stats["path-length"] >= self.target_path

    def valid(self, stats: dict[str, int]) -> bool:
        return (stats["player"] == stats["key"] == stats["door"] == 1 and stats["regions"] == 1
                and self.success(stats, stats))


SOKOBAN_TILES = ("empty", "solid", "player", "crate", "target")


@dataclass(frozen=True)
class SokobanProblem:
    """5x5 Sokoban levels: one player, as many crates as targets (1-3), solvable with a long solution.

    The solver (:func:`~evoforge.envs.pcgrl.sokoban.solve`) runs only with one player, crates = targets > 0 and
    one region of {empty, player, crate, target}; it yields ``solution-length`` (0 if unsolved) and
    ``dist-win`` (0 if solved, else the best heuristic reached; W*H*(W+H) = 250 when the solver did not run).
    Reward: player x3 [1, 1], crate x2 [1, 3], target x2 [1, 3], regions x5 [1, 1], |crate - target| x2
    minimised, dist-win x0, solution length x1 maximised. Success and validity: solution length >= 18 (validity
    also needs one player and crates = targets > 0, which a solution implies).
    """

    width: int = 5
    height: int = 5
    tiles: tuple[str, ...] = SOKOBAN_TILES
    passable: tuple[int, ...] = (0, 2, 3, 4)
    min_solution: int = 18
    solver_budget: int = 5000

    def stats(self, level: np.ndarray) -> dict[str, int]:
        count = [int(np.count_nonzero(level == tile)) for tile in range(len(self.tiles))]
        stats = {"player": count[2], "crate": count[3], "target": count[4],
                 "regions": num_regions(level, self.passable),
                 "dist-win": self.width * self.height * (self.width + self.height), "solution-length": 0}
        if stats["player"] == 1 and stats["crate"] == stats["target"] > 0 and stats["regions"] == 1:
            cells = lambda tile: {tuple(int(v) for v in x) for x in np.argwhere(level == tile)}  # noqa: E731
            (player,) = cells(2)
            result = solve(level == 1, player, cells(3), cells(4), self.solver_budget)
            stats["dist-win"] = 0 if result.solved else result.heuristic
            stats["solution-length"] = result.length
        return stats

    def reward(self, new: dict[str, int], old: dict[str, int]) -> float:
        terms = {"player": (3, 1, 1), "crate": (2, 1, 3), "target": (2, 1, 3), "regions": (5, 1, 1),
                 "dist-win": (0, -math.inf, -math.inf), "solution-length": (1, math.inf, math.inf)}
        total = sum(w * range_reward(new[k], old[k], low, high) for k, (w, low, high) in terms.items())
        balance = range_reward(abs(new["crate"] - new["target"]), abs(old["crate"] - old["target"]),
                               -math.inf, -math.inf)
        return total + 2 * balance

    def success(self, stats: dict[str, int], start: dict[str, int]) -> bool:
        return stats["solution-length"] >= self.min_solution

    def valid(self, stats: dict[str, int]) -> bool:
        return stats["player"] == 1 and stats["crate"] == stats["target"] > 0 and self.success(stats, stats)
