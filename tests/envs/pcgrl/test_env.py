"""The PCGRL gymnasium envs: registration and check_env, representation semantics, episode budget, rendering."""

import itertools
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import evoforge.envs  # noqa: F401 - registers the ids
from evoforge.envs.pcgrl.env import PCGRLEnv
from evoforge.envs.pcgrl.render import PALETTES, palette, render_level
from evoforge.envs.registration import PCGRL_PROBLEMS, PCGRL_REPRESENTATIONS, pcgrl_id


@pytest.mark.parametrize("problem, representation", list(itertools.product(PCGRL_PROBLEMS, PCGRL_REPRESENTATIONS)))
def test_every_registered_env_passes_check_env(problem, representation):
    env = gymnasium.make(pcgrl_id(problem, representation), render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even a warning
        check_env(env.unwrapped)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (env.unwrapped.problem.height * 16, env.unwrapped.problem.width * 16, 3)


def test_spaces_match_the_reference_training_wrappers():
    envs = {(p, r): gymnasium.make(pcgrl_id(p, r)) for p, r in itertools.product(PCGRL_PROBLEMS, PCGRL_REPRESENTATIONS)}
    shapes = {key: (env.observation_space.shape, env.action_space.n) for key, env in envs.items()}
    assert shapes[("binary", "narrow")] == ((1, 28, 28), 3)
    assert shapes[("binary", "turtle")] == ((1, 28, 28), 6)
    assert shapes[("binary", "wide")] == ((1, 14, 14), 392)
    assert shapes[("zelda", "narrow")] == ((8, 22, 22), 9)
    assert shapes[("zelda", "turtle")] == ((8, 22, 22), 12)
    assert shapes[("zelda", "wide")] == ((8, 7, 11), 616)
    assert shapes[("sokoban", "narrow")] == ((5, 10, 10), 6)
    assert shapes[("sokoban", "turtle")] == ((5, 10, 10), 9)
    assert shapes[("sokoban", "wide")] == ((5, 5, 5), 125)


def test_narrow_writes_at_the_position_then_jumps_and_counts_only_real_changes():
    env = PCGRLEnv("zelda", "narrow")
    env.reset(seed=3)
    for _ in range(30):
        before, (r, c) = env.level, tuple(env.sim.positions[0])
        tile = int(before[r, c])
        _, reward, terminated, truncated, info = env.step(tile + 1)  # rewrite the tile it already has
        assert np.array_equal(env.level, before) and reward == 0.0 and info["changes"] == 0
        _, _, _, _, info = env.step(0)  # no-op
        assert np.array_equal(env.level, before)
    (r, c) = tuple(env.sim.positions[0])
    new_tile = (int(env.level[r, c]) + 1) % 8
    _, _, _, _, info = env.step(new_tile + 1)
    assert env.level[r, c] == new_tile and info["changes"] == 1 and info["iterations"] == 61


def test_the_narrow_crop_is_centred_on_the_agent_and_padded_with_solid():
    env = PCGRLEnv("sokoban", "narrow")
    obs, _ = env.reset(seed=0)
    r, c = env.sim.positions[0]
    centre = obs[:, 5, 5]  # crop 10: the agent at index 5
    assert centre.argmax() == env.level[r, c] and centre.sum() == 1
    outside = obs[:, 5 - r - 1, 5]  # one row above the map's top edge
    assert outside.argmax() == 1  # solid border


def test_turtle_moves_clamp_at_the_edges_and_write_under_the_turtle():
    env = PCGRLEnv("binary", "turtle")
    env.reset(seed=1)
    for _ in range(20):
        env.step(0)  # left
        env.step(2)  # up
    assert tuple(env.sim.positions[0]) == (0, 0)
    before = env.level
    env.step(4 + (1 - int(before[0, 0])))  # write the other tile at (0, 0)
    assert env.level[0, 0] != before[0, 0] and (env.level != before).sum() == 1
    env.step(1)  # right
    assert tuple(env.sim.positions[0]) == (0, 1)


def test_wide_actions_unravel_as_row_col_tile():
    env = PCGRLEnv("zelda", "wide")
    env.reset(seed=2)
    row, col, tile = 3, 9, 4 if env.level[3, 9] != 4 else 5
    env.step(np.ravel_multi_index((row, col, tile), (7, 11, 8)))
    assert env.level[row, col] == tile


def test_episode_ends_after_the_change_budget():
    env = PCGRLEnv("sokoban", "wide")  # max_changes = int(0.2 * 25) = 5
    env.reset(seed=4)
    rng = np.random.default_rng(0)
    changes, done = 0, False
    while not done:
        _, _, terminated, truncated, info = env.step(rng.integers(125))
        done = terminated or truncated
        changes = info["changes"]
    assert terminated and (changes == 5 or info["success"])


def test_binary_draws_the_next_episodes_empty_share_and_a_seed_restarts_it():
    env = PCGRLEnv("binary", "narrow")
    env.reset(seed=7)
    first = env.level
    np.testing.assert_allclose(env.sim.probs[0].sum(), 1.0)
    carried = env.sim.probs[0].copy()  # drawn at this reset, used by the next one
    env.reset()
    assert not np.allclose(carried, [0.5, 0.5])
    env.reset(seed=7)
    np.testing.assert_array_equal(env.level, first)  # same seed: same first map (probs back to 0.5 / 0.5)


def test_tiles_render_in_distinct_colours():
    for name, colours in PALETTES.items():
        values = list(colours.values())
        assert len(set(values)) == len(values), name
    tiles = ("empty", "solid", "player", "crate", "target")
    level = np.arange(5).reshape(1, 5)
    image = render_level(level, palette("sokoban", tiles), tile_px=8, agent=(0, 2))
    assert image.shape == (8, 40, 3)
    centres = [tuple(image[4, 8 * k + 4]) for k in range(5)]
    assert len(set(centres)) == 5
    assert tuple(image[0, 8 * 2 + 3]) == (255, 0, 0)  # the agent's outline
