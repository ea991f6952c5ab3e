"""The PCGRL episode mechanics for M maps at once (gym-pcgrl ``pcgrl_env.py``, Khalifa et al. 2020 sec. III).

One class serves the single gymnasium env (M = 1, statistics by plain BFS per map: the reference loop) and the
vector env (M maps, statistics by the batched graph kernels), so the two can only differ in how statistics are
computed -- and those are tested equal. Per map and step:

* the representation turns the action into at most one tile edit; a *change* is an edit to a different tile;
* statistics are recomputed only for maps that changed; reward = problem.reward(new stats, old stats);
* the episode ends (terminated) on the problem's success test or when changes reach
  max_changes = max(int(p * W * H), 1) (p = change percentage, 0.2 in the paper's training); it is truncated at
  max_iterations = max_changes * W * H steps;
* a reset draws the map i.i.d. from the problem's tile probabilities and, for position-based representations,
  a uniformly random start. Every map has its own random generator (seeded like a gymnasium env); its numbers
  are drawn in blocks (:class:`BlockStream`: maps, binary's probabilities, positions), so that a batch resetting
  or moving hundreds of maps does not call hundreds of generators every step. The single env draws the same
  blocks in the same order, so both see the same maps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from gymnasium.utils import seeding

from evoforge.envs.pcgrl.problems import Problem, Stats
from evoforge.envs.pcgrl.representations import Representation

POSITION_BLOCK = 256  # random positions (narrow moves every step) per draw
MAP_BLOCK = 8  # starting maps per draw


class BlockStream:
    """Per-map random values, drawn ``block`` at a time from each map's own generator."""

    def __init__(self, num_maps: int, block: int, item_shape: tuple[int, ...], draw):
        self.block, self.draw = block, draw  # draw(rng, count) -> (count, *item_shape)
        self.buffer = np.zeros((num_maps, block, *item_shape), dtype=np.result_type(draw(np.random.default_rng(0), 1)))
        self.cursor = np.full(num_maps, block)  # empty: the first take draws

    def restart(self, i: int) -> None:
        """Forget map i's undrawn values (its generator was reseeded)."""
        self.cursor[i] = self.block

    def take(self, indices: np.ndarray, rngs: list[np.random.Generator]) -> np.ndarray:
        """The next value of each map in ``indices``; a used-up block is refilled from that map's generator."""
        for i in indices[self.cursor[indices] >= self.block]:
            self.buffer[i] = self.draw(rngs[i], self.block)
            self.cursor[i] = 0
        values = self.buffer[indices, self.cursor[indices]]
        self.cursor[indices] += 1
        return values


def episode_budget(problem: Problem, change_percentage: float) -> tuple[int, int]:
    """(max_changes, max_iterations) of the reference."""
    area = problem.width * problem.height
    max_changes = max(int(change_percentage * area), 1)
    return max_changes, max_changes * area


class PCGRLSimulator:
    """M PCGRL maps stepped together (no auto-reset: callers reset finished maps themselves)."""

    def __init__(self, problem: Problem, representation: Representation, num_maps: int,
                 change_percentage: float = 0.2, batched_stats: bool = True):
        if not 0.0 <= change_percentage <= 1.0:
            raise ValueError(f"change_percentage must be in [0, 1], got {change_percentage}")
        self.problem, self.representation, self.num_maps = problem, representation, num_maps
        self.change_percentage = change_percentage
        self.batched_stats = batched_stats
        self.max_changes, self.max_iterations = episode_budget(problem, change_percentage)
        # False: the success test never ends an episode (the reference's evaluation protocol), only the budgets do
        self.early_stop = True
        # the maps live inside a canvas padded with the border tile, so observations are windows of it
        pad = representation.padding(problem)
        self.canvas = np.full((num_maps, problem.height + 2 * pad, problem.width + 2 * pad), problem.border_tile,
                              dtype=np.uint8)
        self.levels = self.canvas[:, pad:pad + problem.height, pad:pad + problem.width]  # a view: writes go through
        self.positions = np.zeros((num_maps, 2), dtype=np.int64)
        self.changes = np.zeros(num_maps, dtype=np.int64)
        self.iterations = np.zeros(num_maps, dtype=np.int64)
        self.rngs = [seeding.np_random(None)[0] for _ in range(num_maps)]
        self.probs = np.tile(problem.initial_probs(), (num_maps, 1))
        shape, area = (problem.height, problem.width), problem.height * problem.width
        self._map_uniforms = BlockStream(num_maps, MAP_BLOCK, shape, lambda rng, n: rng.random((n, *shape)))
        self._prob_uniforms = BlockStream(num_maps, MAP_BLOCK, (), lambda rng, n: rng.random(n))
        self._positions = BlockStream(num_maps, POSITION_BLOCK, (), lambda rng, n: rng.integers(area, size=n))
        self.stats: Stats = {}
        self.start_stats: Stats = {}
        self._deferred = np.zeros(0, dtype=np.int64)  # reset maps whose statistics wait for the next step

    # -- statistics -------------------------------------------------------------------------------------------
    def compute_stats(self, levels: np.ndarray) -> Stats:
        """Statistics of a stack of maps: batched (one graph for all) or map by map, as the simulator was built."""
        if self.batched_stats:
            return self.problem.batch_stats(levels)
        per_map = [self.problem.stats(level) for level in levels]
        return {key: np.array([s[key] for s in per_map], dtype=np.int64) for key in per_map[0]} if per_map else {}

    def _store_stats(self, indices: np.ndarray, new: Stats, into: Stats) -> None:
        for key, values in new.items():
            if key not in into:
                into[key] = np.zeros(self.num_maps, dtype=np.int64)
            into[key][indices] = values

    def stats_of(self, indices: np.ndarray | slice) -> Stats:
        """The current statistics of the maps at ``indices``."""
        return {key: values[indices] for key, values in self.stats.items()}

    # -- episode ----------------------------------------------------------------------------------------------
    def reset(self, indices: Sequence[int] | np.ndarray, seeds: Sequence[int | None] | None = None,
              defer_stats: bool = False, probs: np.ndarray | None = None) -> None:
        """New random maps for ``indices``. ``defer_stats``: compute their statistics with the next
        :meth:`step`'s, in one batch (the vector env resets a few maps at nearly every step). ``probs``: one row
        of tile probabilities per map, drawn from instead of the carried-over ones (e.g. binary's U[0, 1)
        densities at evaluation)."""
        indices = np.asarray(indices, dtype=np.int64)
        seeds = [None] * len(indices) if seeds is None else list(seeds)
        problem = self.problem
        for i, seed in zip(indices, seeds):
            if seed is not None:  # a seed restarts the whole sequence, including binary's carried-over probs
                self.rngs[i] = seeding.np_random(int(seed))[0]
                self.probs[i] = problem.initial_probs()
                for stream in (self._map_uniforms, self._prob_uniforms, self._positions):
                    stream.restart(i)
        if probs is not None:
            probs = np.asarray(probs, dtype=np.float64)
            if probs.shape != (len(indices), problem.num_tiles):
                raise ValueError(f"probs must have shape ({len(indices)}, {problem.num_tiles}), got {probs.shape}")
            self.probs[indices] = probs
        # i.i.d. tiles by inverse CDF: tile = number of cumulative probabilities <= u
        uniform = self._map_uniforms.take(indices, self.rngs)
        cumulative = np.cumsum(self.probs[indices], axis=1)[:, :-1]
        self.levels[indices] = (uniform[..., None] >= cumulative[:, None, None, :]).sum(axis=-1)
        if problem.redraws_probs:
            self.probs[indices] = problem.next_probs(self._prob_uniforms.take(indices, self.rngs), self.probs[indices])
        if self.representation.uses_position:
            self.positions[indices] = np.stack(np.divmod(self._positions.take(indices, self.rngs), problem.width), 1)
        self.changes[indices] = 0
        self.iterations[indices] = 0
        self._deferred = np.concatenate([self._deferred, indices])
        if not defer_stats:
            self._update_stats(np.zeros(0, dtype=np.int64))

    def _update_stats(self, changed: np.ndarray) -> None:
        """Recompute the statistics of the ``changed`` maps and of the freshly reset ones, in one batch."""
        fresh, self._deferred = self._deferred, np.zeros(0, dtype=np.int64)
        maps = np.concatenate([changed, fresh])
        if len(maps) == 0:
            return
        stats = self.compute_stats(self.levels[maps])
        self._store_stats(maps, stats, self.stats)
        if len(fresh):
            self._store_stats(fresh, {key: values[len(changed):] for key, values in stats.items()}, self.start_stats)

    def step(self, indices: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Apply one action to each map in ``indices``; returns (reward, terminated, truncated) for them."""
        problem = self.problem
        self.iterations[indices] += 1
        edit, moved = self.representation.decode(actions, self.positions[indices], problem)
        rows, cols = edit.positions[:, 0], edit.positions[:, 1]
        current = self.levels[indices, rows, cols]
        changed = (edit.tiles >= 0) & (current != edit.tiles)
        hit = indices[changed]
        self.levels[hit, rows[changed], cols[changed]] = edit.tiles[changed]
        self.changes[indices] += changed
        self.positions[indices] = moved
        if self.representation.random_positions:
            flat = self._positions.take(indices, self.rngs)
            self.positions[indices, 0], self.positions[indices, 1] = np.divmod(flat, problem.width)

        old = self.stats_of(indices)
        self._update_stats(hit)
        new = self.stats_of(indices)
        start = {key: values[indices] for key, values in self.start_stats.items()}
        if self.batched_stats:
            reward = np.asarray(problem.batch_reward(new, old), dtype=np.float64)
            success = np.asarray(problem.success(new, start), dtype=bool)
        else:  # the reference's per-map arithmetic on Python ints
            as_dicts = lambda stats, j: {k: int(v[j]) for k, v in stats.items()}  # noqa: E731
            pairs = [(as_dicts(new, j), as_dicts(old, j), as_dicts(start, j)) for j in range(len(indices))]
            reward = np.array([problem.reward(n, o) for n, o, _ in pairs], dtype=np.float64)
            success = np.array([bool(problem.success(n, s)) for n, _, s in pairs], dtype=bool)
        terminated = (success & self.early_stop) | (self.changes[indices] >= self.max_changes)
        truncated = (self.iterations[indices] >= self.max_iterations) & ~terminated
        return reward, terminated, truncated

    def observe(self, indices: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Observations of the maps at ``indices``, as the representation encodes them (crops or whole maps)."""
        return self.representation.observe(self.canvas[indices], self.positions[indices], self.problem)

    def info(self, i: int) -> dict:
        """One map's info dict (the single env's)."""
        stats = {key: int(values[i]) for key, values in self.stats.items()}
        start = {key: int(values[i]) for key, values in self.start_stats.items()}
        return {"stats": stats, "changes": int(self.changes[i]), "iterations": int(self.iterations[i]),
                "success": bool(self.problem.success(stats, start)), "valid": bool(self.problem.valid(stats))}

    def infos(self) -> dict:
        """All maps' infos in gymnasium's vector layout (every key with its ``_key`` mask)."""
        everyone = np.ones(self.num_maps, dtype=bool)
        fields = {"stats": {}, "changes": self.changes.copy(), "iterations": self.iterations.copy(),
                  "success": np.asarray(self.problem.success(self.stats, self.start_stats), dtype=bool),
                  "valid": np.asarray(self.problem.valid(self.stats), dtype=bool)}
        for key, values in self.stats.items():
            fields["stats"][key] = values.copy()
            fields["stats"][f"_{key}"] = everyone.copy()
        infos: dict = {}
        for key, value in fields.items():
            infos[key], infos[f"_{key}"] = value, everyone.copy()
        return infos
