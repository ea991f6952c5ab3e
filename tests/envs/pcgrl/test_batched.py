"""The batched simulator against the per-map reference: statistics, range reward, and whole episodes."""

import itertools
import math

import numpy as np
import pytest
from gymnasium.vector import SyncVectorEnv

from evoforge.envs.pcgrl import batched_metrics
from evoforge.envs.pcgrl.env import PCGRLEnv, PCGRLVectorEnv
from evoforge.envs.pcgrl.metrics import range_reward
from evoforge.envs.pcgrl.problems import make_problem


def random_levels(problem, count, seed):
    """Random maps from the problem's own tile table, plus emptier and denser ones for long paths and
    single regions."""
    rng = np.random.default_rng(seed)
    levels = []
    for k in range(count):
        probs = problem.initial_probs()
        if k % 3 == 1:  # mostly empty: one region, solver and path metrics run
            probs = np.where(np.arange(len(probs)) == 1, probs[1] * 0.3, probs)
        levels.append(rng.choice(problem.num_tiles, size=(problem.height, problem.width), p=probs / probs.sum()))
    levels = np.stack(levels).astype(np.uint8)
    if problem.name == "zelda":  # exactly one player, key and door in half the rooms, so path-length runs
        for level in levels[::2]:
            level[np.isin(level, (2, 3, 4))] = 0
            cells = rng.choice(level.size, 3, replace=False)
            level.flat[cells] = (2, 3, 4)
    if problem.name == "sokoban":  # one player and as many crates as targets in half the levels: the solver runs
        for level in levels[::2]:
            level[level >= 2] = 0
            crates = rng.integers(1, 3)
            cells = rng.choice(level.size, 1 + 2 * crates, replace=False)
            level.flat[cells] = [2] + [3] * crates + [4] * crates
    return levels


@pytest.mark.parametrize("name", ["binary", "zelda", "sokoban"])
def test_batched_statistics_equal_the_per_map_reference(name):
    problem = make_problem(name)
    levels = random_levels(problem, 240, seed=3)
    batch = problem.batch_stats(levels)
    for i, level in enumerate(levels):
        single = problem.stats(level)
        assert single == {key: int(values[i]) for key, values in batch.items()}, (name, i)
    # the samples exercise the conditional statistics, not only their defaults
    exercised = {"binary": "path-length", "zelda": "path-length", "sokoban": "solution-length"}[name]
    assert (batch[exercised] > 0).sum() >= 3


def test_batched_range_reward_equals_the_reference():
    values = [-2, 0, 1, 2, 3, 5, 6, 9]
    for low, high in [(1, 1), (2, 5), (0, 3), (math.inf, math.inf), (-math.inf, -math.inf), (4, math.inf)]:
        pairs = list(itertools.product(values, values))
        new, old = np.array(pairs).T
        expected = [range_reward(n, o, low, high) for n, o in pairs]
        np.testing.assert_array_equal(batched_metrics.range_reward(new, old, low, high), expected)


def test_distances_of_several_maps_in_one_search():
    mask = np.array([[[1, 1, 0], [0, 1, 1]], [[1, 0, 1], [1, 1, 1]]], dtype=bool)  # two 2x3 maps
    graph = batched_metrics.grid_graph(mask)
    distances = batched_metrics.distances_from(graph, np.array([0, 6 + 2])).reshape(2, 2, 3)
    np.testing.assert_array_equal(distances[0], [[0, 1, -1], [-1, 2, 3]])
    np.testing.assert_array_equal(distances[1], [[4, -1, 0], [3, 2, 1]])  # no edge leaks from map 0 to map 1


@pytest.mark.parametrize("problem, representation",
                         list(itertools.product(["binary", "zelda", "sokoban"], ["narrow", "turtle", "wide"])))
def test_vector_env_equals_a_loop_of_single_envs(problem, representation):
    """Same seeds and actions: same observations, rewards, terminations, truncations and infos every step,
    across several auto-resets (next-step auto-reset, as gymnasium's SyncVectorEnv)."""
    maps = 6
    loop = SyncVectorEnv([lambda: PCGRLEnv(problem, representation) for _ in range(maps)])
    batched = PCGRLVectorEnv(problem, representation, maps)
    expected, got = loop.reset(seed=11), batched.reset(seed=11)
    np.testing.assert_array_equal(expected[0], got[0])
    rng = np.random.default_rng(0)
    steps = {"binary": 250, "zelda": 120, "sokoban": 60}[problem]
    episodes = 0
    for _ in range(steps):
        actions = rng.integers(batched.single_action_space.n, size=maps)
        expected, got = loop.step(actions), batched.step(actions)
        for a, b in zip(expected[:4], got[:4]):
            np.testing.assert_array_equal(a, b)
        for key in ("changes", "iterations", "success", "valid"):
            np.testing.assert_array_equal(expected[4][key], got[4][key])
        for key, values in expected[4]["stats"].items():
            np.testing.assert_array_equal(values, got[4]["stats"][key])
        episodes += int((expected[2] | expected[3]).sum())
    np.testing.assert_array_equal(np.stack(loop.get_attr("level")), batched.levels)
    assert episodes >= 2
