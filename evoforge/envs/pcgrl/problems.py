"""PCGRL problems: tiles, statistics, reward, success and validity (Khalifa et al. 2020; gym-pcgrl ``probs/``).

``binary`` (14x14), ``zelda`` (11 wide x 7 high) and ``sokoban`` (5x5). Reward = sum of weight x range reward of
each statistic between the map before and after an edit (the paper's delta reward); success ends an episode;
validity is the paper-era evaluation's definition ("playable"), which for binary differs from success.

Every field of a problem can be overridden, as the reference takes its settings as keyword arguments
(``make_problem("zelda", target_path=24, weights={"regions": 10}, probs=[...])``, the envs' keyword arguments and
a PCGRL config's ``generator.problem_options``): the targets (e.g. ``path_improvement``, ``valid_path``,
``target_path``, ``target_enemy_distance``, ``min_solution``), ``weights`` and ``ranges`` of named reward terms
(:meth:`Problem.reward_term_names`) and the starting tile probabilities ``probs``.

Every problem computes its statistics two ways with the same semantics: :meth:`Problem.stats` on one map with the
plain BFS of :mod:`~evoforge.envs.pcgrl.metrics` (the ground truth, used by the single env), and
:meth:`Problem.batch_stats` on a stack of maps with :mod:`~evoforge.envs.pcgrl.batched_metrics` (used by the
vector env). Success, validity and reward are written once with operators that work on both ints and arrays.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from evoforge.envs.pcgrl import batched_metrics as bm
from evoforge.envs.pcgrl import metrics
from evoforge.envs.pcgrl.sokoban import solve

Stats = dict[str, Any]  # statistic -> int (one map) or int array (a batch)
# A reward term: (statistic name or function of the stats, weight, low, high) -- see metrics.range_reward.
RewardTerm = tuple[str | Callable[[Stats], Any], float, float, float]
# A problem's default reward term under its name (what ``weights`` and ``ranges`` override).
NamedTerm = tuple[str, str | Callable[[Stats], Any], float, float, float]


@dataclass(frozen=True)
class Problem:
    """Shared machinery; subclasses set the class constants and the statistics."""

    name: ClassVar[str]
    tiles: ClassVar[tuple[str, ...]]
    width: int
    height: int
    border_tile: ClassVar[int] = 1  # "solid": the implicit, uneditable border (crop padding, solver walls)
    # Overrides (tuples so that problems stay hashable; make_problem accepts dicts and lists):
    weights: tuple[tuple[str, float], ...] = ()  # reward term -> weight
    ranges: tuple[tuple[str, float, float], ...] = ()  # reward term -> (low, high) of its range reward
    probs: tuple[float, ...] = ()  # starting tile probabilities, one per tile (default: the problem's)

    def __post_init__(self) -> None:
        names = self.reward_term_names()
        for term in [name for name, *_ in self.weights] + [name for name, *_ in self.ranges]:
            if term not in names:
                raise ValueError(f"{self.name} has no reward term {term!r} (terms: {', '.join(names)})")
        for term, low, high in self.ranges:
            if low > high:
                raise ValueError(f"{self.name}: range of {term!r} must have low <= high, got [{low}, {high}]")
        if self.probs:
            probs = np.asarray(self.probs, dtype=np.float64)
            if probs.shape != (self.num_tiles,) or (probs < 0).any() or not math.isclose(probs.sum(), 1.0,
                                                                                         abs_tol=1e-6):
                raise ValueError(f"{self.name}: probs must be {self.num_tiles} non-negative numbers summing to 1 "
                                 f"(tiles {', '.join(self.tiles)}), got {list(self.probs)}")

    @property
    def num_tiles(self) -> int:
        """Number of tile types N (the length of ``tiles``)."""
        return len(self.tiles)

    def default_probs(self) -> np.ndarray:
        """The reference's probabilities of each tile in a fresh random map."""
        raise NotImplementedError

    def initial_probs(self) -> np.ndarray:
        """Probabilities of each tile in a fresh random map: ``probs`` if given, else :meth:`default_probs`."""
        return np.asarray(self.probs, dtype=np.float64) if self.probs else self.default_probs()

    @property
    def redraws_probs(self) -> bool:
        """Whether each reset draws new tile probabilities for the next episode (binary)."""
        return False

    def next_probs(self, uniform: np.ndarray, current: np.ndarray) -> np.ndarray:
        """Tile probabilities (n, N) for the next episodes of n maps, given one U[0, 1) number per map."""
        return current

    def default_reward_terms(self) -> tuple[NamedTerm, ...]:
        """The reference's reward terms, (name, statistic or function of the stats, weight, low, high) each."""
        raise NotImplementedError

    def reward_term_names(self) -> list[str]:
        """The names ``weights`` and ``ranges`` may use."""
        return [name for name, *_ in self.default_reward_terms()]

    def reward_terms(self) -> tuple[RewardTerm, ...]:
        """The reward's terms, (statistic or function of the stats, weight, low, high) each, with ``weights`` and
        ``ranges`` applied; see :meth:`reward`."""
        weights, ranges = dict(self.weights), {name: (low, high) for name, low, high in self.ranges}
        return tuple((key, weights.get(name, w), *ranges.get(name, (lo, hi)))
                     for name, key, w, lo, hi in self.default_reward_terms())

    def stats(self, level: np.ndarray) -> Stats:
        """The problem's statistics of one (height, width) map, computed by plain per-map BFS (the ground truth)."""
        raise NotImplementedError

    def batch_stats(self, levels: np.ndarray) -> Stats:
        """The same statistics as :meth:`stats` for a stack of maps (M, height, width), one int array per statistic."""
        raise NotImplementedError

    def reward(self, new: Stats, old: Stats) -> float:
        """The paper's delta reward of one edit: the sum of weight x range reward of every term, ``old`` to ``new``."""
        return float(sum(w * metrics.range_reward(_value(new, k), _value(old, k), lo, hi)
                         for k, w, lo, hi in self.reward_terms()))

    def batch_reward(self, new: Stats, old: Stats) -> np.ndarray:
        """:meth:`reward` for a batch: ``new`` and ``old`` hold one array per statistic; returns one reward per map."""
        return sum(w * bm.range_reward(_value(new, k), _value(old, k), lo, hi) for k, w, lo, hi in self.reward_terms())

    def success(self, stats: Stats, start: Stats) -> Any:
        """Whether the episode is won (ends it). Works elementwise on batches."""
        raise NotImplementedError

    def valid(self, stats: Stats) -> Any:
        """The paper's validity ("playable level"). Works elementwise on batches."""
        raise NotImplementedError


def _value(stats: Stats, key: str | Callable[[Stats], Any]) -> Any:
    return key(stats) if callable(key) else stats[key]


def _counts(levels: np.ndarray, num_tiles: int) -> np.ndarray:
    """(M, num_tiles) tile counts of a batch of maps."""
    flat = levels.reshape(len(levels), -1).astype(np.int64)
    offsets = np.arange(len(levels))[:, None] * num_tiles
    return np.bincount((flat + offsets).ravel(), minlength=len(levels) * num_tiles).reshape(len(levels), num_tiles)


@dataclass(frozen=True)
class BinaryProblem(Problem):
    """14x14 maps of empty (0) and solid (1) tiles: one connected empty region with a long path.

    Reward: regions x5 toward [1, 1], path length x1 maximised. Success (episode over): one region and a path
    at least ``path_improvement`` (20) longer than the starting map's. Valid level (the paper's evaluation):
    one region and a path of at least 48 tiles. ``random_probs``: each reset draws p(empty) ~ U[0, 1) for the
    *next* episode's map (the reference resets the problem after generating the map); the first uses 0.5.
    """

    name: ClassVar[str] = "binary"
    tiles: ClassVar[tuple[str, ...]] = ("empty", "solid")
    width: int = 14
    height: int = 14
    passable: tuple[int, ...] = (0,)
    path_improvement: int = 20
    valid_path: int = 48
    random_probs: bool = True

    def default_probs(self) -> np.ndarray:
        return np.array([0.5, 0.5])

    @property
    def redraws_probs(self) -> bool:
        return self.random_probs

    def next_probs(self, uniform: np.ndarray, current: np.ndarray) -> np.ndarray:
        return np.stack([uniform, 1.0 - uniform], axis=1) if self.random_probs else current

    def default_reward_terms(self) -> tuple[NamedTerm, ...]:
        return (("regions", "regions", 5, 1, 1), ("path-length", "path-length", 1, math.inf, math.inf))

    def stats(self, level: np.ndarray) -> Stats:
        return {"regions": metrics.num_regions(level, self.passable),
                "path-length": metrics.longest_path(level, self.passable)}

    def batch_stats(self, levels: np.ndarray) -> Stats:
        regions, path = bm.regions_and_longest_path(levels, self.passable)
        return {"regions": regions, "path-length": path}

    def success(self, stats: Stats, start: Stats) -> Any:
        return (stats["regions"] == 1) & (stats["path-length"] - start["path-length"] >= self.path_improvement)

    def valid(self, stats: Stats) -> Any:
        return (stats["regions"] == 1) & (stats["path-length"] >= self.valid_path)


ZELDA_TILES = ("empty", "solid", "player", "key", "door", "bat", "scorpion", "spider")
EMPTY, SOLID, PLAYER, KEY, DOOR, BAT, SCORPION, SPIDER = range(8)
ENEMIES = (BAT, SCORPION, SPIDER)
# BFS tile sets of the reference's zelda statistics
ZELDA_ENEMY_SEARCH = (EMPTY, PLAYER, BAT, SPIDER, SCORPION)  # keys block the nearest-enemy search
ZELDA_TO_KEY = (EMPTY, KEY, PLAYER, BAT, SPIDER, SCORPION)
ZELDA_TO_DOOR = (EMPTY, PLAYER, KEY, DOOR, BAT, SPIDER, SCORPION)


@dataclass(frozen=True)
class ZeldaProblem(Problem):
    """11 wide x 7 high GVGAI-Zelda rooms: one player, key and door, 2-5 enemies, all connected, a long path.

    Statistics follow the reference's quirks: ``nearest-enemy`` and ``path-length`` are computed only with
    exactly one player and one region (else 0). nearest-enemy is computed only when there is an enemy (a room
    without one gets 0, so it neither succeeds nor is valid); it starts at W*H and only enemies at a positive
    BFS distance lower it, so unreachable enemies count as far; keys block that BFS. path-length (only with
    one key and one door) = BFS(player -> key) + BFS(key -> door), where the door is passable only in the
    second; an unreachable target adds -1. Success: nearest-enemy >= 4 and path-length >= 16 (enemies are
    only shaped by reward). Valid level (paper evaluation): additionally player = key = door = 1, one region.
    """

    name: ClassVar[str] = "zelda"
    tiles: ClassVar[tuple[str, ...]] = ZELDA_TILES
    width: int = 11
    height: int = 7
    passable: tuple[int, ...] = (EMPTY, PLAYER, KEY, BAT, SPIDER, SCORPION)
    target_enemy_distance: int = 4
    target_path: int = 16
    max_enemies: int = 5

    def default_probs(self) -> np.ndarray:
        return np.array([0.58, 0.3, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02])

    def default_reward_terms(self) -> tuple[NamedTerm, ...]:
        terms = (("player", 3, 1, 1), ("key", 3, 1, 1), ("door", 3, 1, 1), ("enemies", 1, 2, self.max_enemies),
                 ("regions", 5, 1, 1), ("nearest-enemy", 2, self.target_enemy_distance, math.inf),
                 ("path-length", 1, math.inf, math.inf))
        return tuple((name, name, w, lo, hi) for name, w, lo, hi in terms)

    def stats(self, level: np.ndarray) -> Stats:
        count = {tile: int(np.count_nonzero(level == tile)) for tile in range(len(self.tiles))}
        stats = {
            "player": count[PLAYER], "key": count[KEY], "door": count[DOOR],
            "enemies": sum(count[e] for e in ENEMIES),
            "regions": metrics.num_regions(level, self.passable), "nearest-enemy": 0, "path-length": 0,
        }
        if stats["player"] != 1 or stats["regions"] != 1:
            return stats
        player = tuple(np.argwhere(level == PLAYER)[0])
        from_player = metrics.distance_map(level, player, ZELDA_ENEMY_SEARCH)
        enemy_distances = from_player[np.isin(level, ENEMIES)]
        if len(enemy_distances):  # the reference leaves 0 in a room without enemies
            stats["nearest-enemy"] = int(min([self.width * self.height, *enemy_distances[enemy_distances > 0]]))
        if stats["key"] == 1 and stats["door"] == 1:
            key, door = tuple(np.argwhere(level == KEY)[0]), tuple(np.argwhere(level == DOOR)[0])
            to_key = metrics.distance_map(level, player, ZELDA_TO_KEY)[key]
            to_door = metrics.distance_map(level, key, ZELDA_TO_DOOR)[door]
            stats["path-length"] = int(to_key + to_door)
        return stats

    def batch_stats(self, levels: np.ndarray) -> Stats:
        m, area = len(levels), self.width * self.height
        count = _counts(levels, self.num_tiles)
        stats = {"player": count[:, PLAYER], "key": count[:, KEY], "door": count[:, DOOR],
                 "enemies": count[:, list(ENEMIES)].sum(axis=1), "regions": bm.num_regions(levels, self.passable),
                 "nearest-enemy": np.zeros(m, np.int64), "path-length": np.zeros(m, np.int64)}
        playable = np.flatnonzero((stats["player"] == 1) & (stats["regions"] == 1))
        if len(playable) == 0:
            return stats
        sub = levels[playable]
        flat = sub.ravel()
        player = np.flatnonzero(flat == PLAYER)  # exactly one per map, in map order
        from_player = bm.distances_from(bm.grid_graph(bm.passable_mask(sub, ZELDA_ENEMY_SEARCH)), player)
        enemy_distance = np.where(np.isin(flat, ENEMIES) & (from_player > 0), from_player, area)
        nearest = np.minimum(enemy_distance.reshape(len(sub), area).min(axis=1), area)
        stats["nearest-enemy"][playable] = np.where(stats["enemies"][playable] > 0, nearest, 0)  # none: 0
        with_path = np.flatnonzero((stats["key"][playable] == 1) & (stats["door"][playable] == 1))
        if len(with_path):
            local_player = (player - np.arange(len(sub)) * area)[with_path]
            sub = sub[with_path]
            flat = sub.ravel()
            player = local_player + np.arange(len(sub)) * area
            key, door = np.flatnonzero(flat == KEY), np.flatnonzero(flat == DOOR)
            to_key = bm.distances_from(bm.grid_graph(bm.passable_mask(sub, ZELDA_TO_KEY)), player)[key]
            to_door = bm.distances_from(bm.grid_graph(bm.passable_mask(sub, ZELDA_TO_DOOR)), key)[door]
            stats["path-length"][playable[with_path]] = to_key + to_door
        return stats

    def success(self, stats: Stats, start: Stats) -> Any:
        return (stats["nearest-enemy"] >= self.target_enemy_distance) & (stats["path-length"] >= self.target_path)

    def valid(self, stats: Stats) -> Any:
        return ((stats["player"] == 1) & (stats["key"] == 1) & (stats["door"] == 1) & (stats["regions"] == 1)
                & self.success(stats, stats))


SOKOBAN_TILES = ("empty", "solid", "player", "crate", "target")


@functools.lru_cache(maxsize=200_000)
def _solve_cached(level_bytes: bytes, shape: tuple[int, int], budget: int) -> tuple[bool, int, int]:
    """The solver is deterministic, so a level is solved once per process (episodes revisit levels often)."""
    level = np.frombuffer(level_bytes, dtype=np.uint8).reshape(shape)
    cells = lambda tile: {(int(r), int(c)) for r, c in np.argwhere(level == tile)}  # noqa: E731
    (player,) = cells(2)
    result = solve(level == 1, player, cells(3), cells(4), budget)
    return result.solved, result.length, result.heuristic


def _crate_target_difference(stats: Stats) -> Any:
    return abs(stats["crate"] - stats["target"])


@dataclass(frozen=True)
class SokobanProblem(Problem):
    """5x5 Sokoban levels: one player, as many crates as targets (1-3), solvable with a long solution.

    The solver (:func:`~evoforge.envs.pcgrl.sokoban.solve`) runs only with one player, crates = targets > 0 and
    one region of {empty, player, crate, target}; it yields ``solution-length`` (0 if unsolved) and
    ``dist-win`` (0 if solved, else the best heuristic reached; W*H*(W+H) = 250 when the solver did not run).
    Reward: player x3 [1, 1], crate x2 [1, 3], target x2 [1, 3], regions x5 [1, 1], |crate - target| x2
    minimised, dist-win x0, solution length x1 maximised. Success and validity: solution length >= 18 (validity
    also needs one player and crates = targets > 0, which a solution implies).
    """

    name: ClassVar[str] = "sokoban"
    tiles: ClassVar[tuple[str, ...]] = SOKOBAN_TILES
    width: int = 5
    height: int = 5
    passable: tuple[int, ...] = (0, 2, 3, 4)
    min_solution: int = 18
    solver_budget: int = 5000

    def default_probs(self) -> np.ndarray:
        return np.array([0.45, 0.4, 0.05, 0.05, 0.05])

    def default_reward_terms(self) -> tuple[NamedTerm, ...]:
        return (("player", "player", 3, 1, 1), ("crate", "crate", 2, 1, 3), ("target", "target", 2, 1, 3),
                ("regions", "regions", 5, 1, 1),
                ("crate-target-difference", _crate_target_difference, 2, -math.inf, -math.inf),
                ("dist-win", "dist-win", 0, -math.inf, -math.inf),
                ("solution-length", "solution-length", 1, math.inf, math.inf))

    def _solver_stats(self, level: np.ndarray) -> tuple[int, int]:
        solved, length, heuristic = _solve_cached(level.astype(np.uint8).tobytes(), level.shape, self.solver_budget)
        return (0 if solved else heuristic), length

    def stats(self, level: np.ndarray) -> Stats:
        count = [int(np.count_nonzero(level == tile)) for tile in range(len(self.tiles))]
        stats = {"player": count[2], "crate": count[3], "target": count[4],
                 "regions": metrics.num_regions(level, self.passable),
                 "dist-win": self.width * self.height * (self.width + self.height), "solution-length": 0}
        if stats["player"] == 1 and stats["crate"] == stats["target"] > 0 and stats["regions"] == 1:
            stats["dist-win"], stats["solution-length"] = self._solver_stats(level)
        return stats

    def batch_stats(self, levels: np.ndarray) -> Stats:
        count = _counts(levels, self.num_tiles)
        stats = {"player": count[:, 2], "crate": count[:, 3], "target": count[:, 4],
                 "regions": bm.num_regions(levels, self.passable),
                 "dist-win": np.full(len(levels), self.width * self.height * (self.width + self.height)),
                 "solution-length": np.zeros(len(levels), np.int64)}
        runs = (stats["player"] == 1) & (stats["crate"] == stats["target"]) & (stats["crate"] > 0) & (
            stats["regions"] == 1)
        for i in np.flatnonzero(runs):  # the search itself is per level
            stats["dist-win"][i], stats["solution-length"][i] = self._solver_stats(levels[i])
        return stats

    def success(self, stats: Stats, start: Stats) -> Any:
        return stats["solution-length"] >= self.min_solution

    def valid(self, stats: Stats) -> Any:
        return ((stats["player"] == 1) & (stats["crate"] == stats["target"]) & (stats["crate"] > 0)
                & self.success(stats, stats))


PROBLEMS: dict[str, type[Problem]] = {p.name: p for p in (BinaryProblem, ZeldaProblem, SokobanProblem)}


def make_problem(name: str, **overrides: Any) -> Problem:
    """The problem called ``name`` (binary, zelda, sokoban), its dataclass fields overridden by ``overrides``:
    ``weights`` as {term: weight}, ``ranges`` as {term: [low, high]}, ``probs`` as a list, the others as values.
    Raises ValueError, one line, for an unknown problem, field or term."""
    if name not in PROBLEMS:
        raise ValueError(f"unknown PCGRL problem {name!r}; choose from {sorted(PROBLEMS)}")
    cls = PROBLEMS[name]
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = [key for key in overrides if key not in fields]
    if unknown:
        raise ValueError(f"{name} has no option {unknown[0]!r} (options: {', '.join(fields)})")
    options = dict(overrides)
    if isinstance(options.get("weights"), dict):
        options["weights"] = tuple((str(k), float(v)) for k, v in options["weights"].items())
    if isinstance(options.get("ranges"), dict):
        options["ranges"] = tuple((str(k), float(lo), float(hi)) for k, (lo, hi) in options["ranges"].items())
    if "probs" in options:
        options["probs"] = tuple(float(x) for x in options["probs"])
    if "passable" in options:
        options["passable"] = tuple(int(x) for x in options["passable"])
    return cls(**options)
