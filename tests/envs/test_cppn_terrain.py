"""Enhanced POET's CPPN terrains: the genome evaluates as neat-python's network would, mutation keeps it valid
and seeded, a terrain is reproducible from its saved genome, the walker on it passes check_env, and PATA-EC
ranks a copy of an admitted terrain as the least novel."""

import json
import pickle
import warnings

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import evoforge.envs  # noqa: F401 - registers the id
from evoforge.envs.cppn import CPPN, CURVE_X, INPUT, OUTPUT, mutate_cppn
from evoforge.envs.poet_walker import TERRAIN_HEIGHT, TERRAIN_STARTPAD, POETWalker, TerrainConfig, difficulty


def _grown(seed=0, mutations=25):
    rng = np.random.default_rng(seed)
    cppn = CPPN.root(rng)
    for _ in range(mutations):
        cppn = mutate_cppn(cppn, rng)
    return cppn


def test_a_cppn_computes_its_formula():
    # x -> h (sin, bias 0.2, weight 1.5) -> output (bias -0.1, response 2), plus x -> output (weight 0.5)
    cppn = CPPN(((OUTPUT, "identity", -0.1), (1, "sin", 0.2)),
                ((INPUT, 1, 1.5), (1, OUTPUT, 1.0), (INPUT, OUTPUT, 0.5)), response=2.0, next_key=2)
    x = np.linspace(-1, 1, 7)
    hidden = np.sin(5 * (0.2 + 1.5 * x))  # neat-python's sin scales by 5
    np.testing.assert_allclose(cppn(x), -0.1 + 2.0 * (hidden + 0.5 * x))
    with pytest.raises(ValueError, match="cycle"):
        CPPN(((OUTPUT, "identity", 0.0), (1, "tanh", 0.0), (2, "tanh", 0.0)),
             ((INPUT, 1, 1.0), (1, 2, 1.0), (2, 1, 1.0), (2, OUTPUT, 1.0)))
    with pytest.raises(ValueError, match="activation"):
        CPPN(((OUTPUT, "relu", 0.0),), ((INPUT, OUTPUT, 1.0),))


def test_mutation_is_seeded_and_keeps_children_valid():
    assert _grown(3) == _grown(3) and _grown(3) != _grown(4)  # all randomness from the caller's generator
    rng = np.random.default_rng(1)
    cppn = CPPN.root(rng)
    grew = False
    for _ in range(60):
        child = mutate_cppn(cppn, rng)
        assert child.reaches_output() and CPPN(child.nodes, child.connections, 1.0, child.next_key) != \
            CPPN(cppn.nodes, cppn.connections, 1.0, cppn.next_key)
        curve = child(CURVE_X)
        top = abs(float(np.max(curve - curve[0])))
        assert 0.25 - 1e-9 <= top <= 16 + 1e-9 or child.response == 1.0  # rescaled into range when needed
        grew |= len(child.nodes) > 1
        cppn = child
    assert grew  # node additions happen


def test_a_cppn_terrain_is_reproducible_from_its_saved_genome():
    config = TerrainConfig(cppn=_grown(2).to_dict(), seed=11)
    stored = json.loads(json.dumps(config.to_dict()))  # as environments.json keeps it
    first, again = POETWalker(config), POETWalker(TerrainConfig.from_dict(stored))
    first.reset(seed=11)
    again.reset(seed=11)
    assert first.terrain_y == again.terrain_y and first.terrain_x == again.terrain_x
    assert pickle.loads(pickle.dumps(first)).config == first.config
    heights = np.asarray(first.terrain_y)
    assert not first.obstacle_polygons() and difficulty(config) == "unclassified (CPPN)"
    # the start pad is flat, then height = TERRAIN_HEIGHT + f(x') - f(x' at the first step after the pad)
    assert np.allclose(heights[:TERRAIN_STARTPAD], TERRAIN_HEIGHT, atol=0.05)
    assert heights[TERRAIN_STARTPAD + 1] == pytest.approx(TERRAIN_HEIGHT)
    assert np.ptp(heights[TERRAIN_STARTPAD + 1:]) > 0.1 and config.name.startswith("cppn.")
    first.close()
    again.close()


def test_the_walker_on_a_cppn_terrain_passes_check_env():
    env = gymnasium.make("evoforge/POETWalker-v0", config=TerrainConfig(cppn=_grown(5).to_dict()).to_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


def test_pata_ec_ranks_a_copy_of_an_admitted_terrain_last():
    """Three admitted CPPN terrains and five agents (two retired); candidates: a copy of terrain 1 (a new seed,
    the same genome) and fresh mutants. The copy's PATA-EC equals terrain 1's, so it is the least novel."""
    from evoforge.experiments.poet import WalkerSpace
    from evoforge.search.es import ESSettings
    from evoforge.search.evaluation import Evaluation
    from evoforge.search.poet import POET, POETSettings

    space = WalkerSpace(cppn=True)
    rng = np.random.default_rng(0)
    start = TerrainConfig(cppn=CPPN.root(rng).to_dict()).to_dict()
    # k = 1: the novelty is the distance to the nearest PATA-EC, 0 for a copy (with k = 5 a copy's other four
    # neighbours count too)
    settings = POETSettings(mc_low=25, mc_high=340, solved=230, novelty="pata_ec", capacity=10, novelty_k=1)
    poet = POET(settings, ESSettings(algorithm="openai_es", popsize=4), space, start, num_params=2, seed=0)
    envs = [start]
    for k in (1, 2):  # distinct agents on each
        envs.append(space.mutate(envs[-1], rng))
        poet._admit(envs[-1], torch.tensor([0.3 * k, -0.2 * k]), parent=0)

    def score(env, genome):  # any deterministic function of the terrain's shape and the agent
        curve = CPPN.from_dict(TerrainConfig.from_dict(env).cppn)(np.linspace(-1, 1, 9))
        g = genome.numpy()
        return float(200 + 50 * np.sin(3 * g[0] + 5 * curve.mean()) + 50 * np.cos(2 * g[1] * (curve[-1] - curve[0])))

    def evaluate(jobs, role="population"):
        return [Evaluation(fitness=score(env, genome)) for env, genome in jobs]

    for center in (torch.tensor([1.0, 1.0]), torch.tensor([-1.0, 0.5])):  # retired agents count in PATA-EC too
        pair = poet._admit(envs[0], center, parent=None)
        del poet.envs[pair.id]  # only its agent, not a second copy of the start
        poet.pairs.remove(pair)
        poet.archive.append(pair)
    copy = {**envs[1], "seed": 999}
    fresh = [TerrainConfig(cppn=_grown(s).to_dict()).to_dict() for s in (7, 8, 9)]  # other shapes
    novelties = poet._novelties([*fresh, copy], evaluate)
    assert novelties[-1] == 0.0 and min(novelties[:-1]) > 0.0  # the copy is ranked last
