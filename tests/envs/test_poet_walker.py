"""POET's parameterised BipedalWalker: encoding, fixed terrains, obstacles, gymnasium compliance, pickling."""

import pickle
import warnings

import gymnasium
import numpy as np
from gymnasium.utils.env_checker import check_env

import evoforge.envs  # noqa: F401 - registers the id
from evoforge.envs.poet_walker import FLAT, TERRAIN_HEIGHT, POETWalker, TerrainConfig

ROUGH = TerrainConfig(roughness=2.0, pit_gap=(0.8, 2.0), stump_height=(0.4, 1.2), seed=7)


def test_registered_env_passes_check_env_and_caps_episodes_at_2000_steps():
    env = gymnasium.make("evoforge/POETWalker-v0", config=ROUGH.to_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    assert env.spec.max_episode_steps == 2000


def test_encoding_name_vector_and_round_trip():
    assert ROUGH.name == "r2.p0.8_2.b0.4_1.2"
    np.testing.assert_array_equal(ROUGH.vector(), [2.0, 0.8, 2.0, 0.4, 1.2])
    np.testing.assert_array_equal(FLAT.vector(), np.zeros(5))
    assert TerrainConfig.from_dict(ROUGH.to_dict()) == ROUGH
    assert ROUGH.obstacles == ("stump", "pit")


def test_flat_terrain_is_flat_and_has_no_obstacles():
    env = POETWalker(FLAT)
    env.reset(seed=0)
    assert np.allclose(env.terrain_y, TERRAIN_HEIGHT) and env.obstacle_polygons() == []


def test_the_terrain_is_fixed_by_its_seed_and_changes_with_it():
    a, b, c = POETWalker(ROUGH), POETWalker(ROUGH), POETWalker(TerrainConfig(**{**ROUGH.to_dict(), "seed": 8}))
    a.reset(seed=1)
    b.reset(seed=2)  # another episode seed: same terrain
    c.reset(seed=1)
    assert a.terrain_y == b.terrain_y and a.obstacle_polygons() == b.obstacle_polygons()
    assert a.terrain_y != c.terrain_y
    assert len(a.obstacle_polygons()) > 5  # stumps (1 polygon) and pits (2 walls each)


def test_stumps_and_pits_respect_their_ranges():
    stumps = POETWalker(TerrainConfig(stump_height=(1.0, 1.5), seed=3))
    stumps.reset(seed=0)
    heights = [max(p[1] for p in poly) - min(p[1] for p in poly) for poly in stumps.obstacle_polygons()]
    step = 14 / 30
    assert heights and all(1.0 * step - 1e-6 <= h <= 1.5 * step + 1e-6 for h in heights)
    pits = POETWalker(TerrainConfig(pit_gap=(2.0, 2.0), seed=3))
    pits.reset(seed=0)
    walls = sorted(min(p[0] for p in poly) for poly in pits.obstacle_polygons())
    gaps = [(right - left) / step for left, right in zip(walls[::2], walls[1::2])]
    # gap = 1 + U(2, 2) terrain steps between the two walls; Box2D stores float32 vertices
    assert gaps and np.allclose(gaps, 3.0, atol=1e-4)


def test_same_episode_seed_same_return_and_pickles_as_its_config():
    env = POETWalker(ROUGH)

    def episode(seed):
        env.reset(seed=seed)
        rng, total = np.random.default_rng(0), 0.0
        for _ in range(200):
            _, reward, terminated, truncated, _ = env.step(rng.uniform(-1, 1, 4))
            total += reward
            if terminated or truncated:
                break
        return total

    assert episode(5) == episode(5)
    clone = pickle.loads(pickle.dumps(env))
    assert isinstance(clone, POETWalker) and clone.config == ROUGH


def test_mutation_follows_the_reference_steps_and_limits():
    from evoforge.envs.poet_walker import mutate_terrain

    rng = np.random.default_rng(0)
    child = mutate_terrain(FLAT, rng)
    assert child.pit_gap == (0.0, 0.8) and child.stump_height == (0.0, 0.4)  # first mutation enables them
    assert 0.0 <= child.roughness <= 0.6 and child.seed != FLAT.seed
    config = child
    for _ in range(300):
        nxt = mutate_terrain(config, rng)
        for before, after, step, top, start in ((config.pit_gap, nxt.pit_gap, 0.4, 8.0, (0.0, 0.8)),
                                                (config.stump_height, nxt.stump_height, 0.2, 5.0, (0.0, 0.4))):
            moves = [round(a - b, 1) for a, b in zip(after, before)]
            assert set(moves) <= {-step, 0.0, step} and moves != [0.0, 0.0] or after == before
            assert start[0] <= after[0] <= after[1] <= top and after[1] >= start[1]
        assert abs(nxt.roughness - config.roughness) <= 0.6 + 1e-9 and 0.0 <= nxt.roughness <= 10.0
        assert not nxt.name.startswith("r-")
        config = nxt


def test_difficulty_classes_count_the_reference_thresholds():
    from evoforge.envs.poet_walker import difficulty

    assert difficulty(FLAT) == "not challenging"
    assert difficulty(TerrainConfig(stump_height=(1.0, 2.4))) == "challenging"
    assert difficulty(TerrainConfig(roughness=4.5, pit_gap=(2.0, 6.0))) == "very challenging"
    hardest = TerrainConfig(roughness=5.0, pit_gap=(2.0, 6.4), stump_height=(2.0, 3.0))
    assert difficulty(hardest) == "extremely challenging"
