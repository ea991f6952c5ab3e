"""The batched Hebbian network: fresh random weights per episode, rule updates every step, batch-invariant."""

import numpy as np
import pytest

from evoforge.plasticity.rules import fold_rule, hebbian_delta
from evoforge.policies.hebbian import HebbianMLP, draw_initial_weights


def _genomes(net, count, seed=0):
    return np.random.default_rng(seed).normal(0, 0.5, size=(count, net.num_params))


def test_parameter_counts_match_the_paper():
    # Quadruped 28-128-64-8, ABCD_lr: 5 * 12,288 = 61,440 coefficients (Najarro & Risi 2020).
    assert HebbianMLP((28, 128, 64, 8)).num_params == 61_440
    assert HebbianMLP((28, 128, 64, 8), init="coevolve").num_params == 61_440 + 12_288
    assert HebbianMLP((28, 128, 64, 8), sharing="layer").num_params == 15


def test_one_step_applies_the_rule_to_that_steps_activities():
    net = HebbianMLP((3, 4, 2), rule="ABCD_lr", output_activation="tanh")
    genomes = _genomes(net, 1)
    state = net.start(genomes, [[11]])
    w1, w2 = (w.copy() for w in state.weights)
    obs = np.array([[[0.3, -0.7, 1.0]]])
    out = net.step(state, obs)
    hidden = np.tanh(obs @ w1[0])
    assert np.allclose(out, np.tanh(hidden @ w2[0]))
    expected_w1 = w1 + hebbian_delta(obs, hidden, state.rules[0])
    expected_w2 = w2 + hebbian_delta(hidden, out, state.rules[1])
    assert np.allclose(state.weights[0], expected_w1) and np.allclose(state.weights[1], expected_w2)


def test_batched_networks_equal_networks_run_one_by_one():
    net = HebbianMLP((5, 6, 3), rule="ABC_lr", normalisation="max_abs")
    genomes = _genomes(net, 4)
    seeds = [[10 * g + e for e in range(2)] for g in range(4)]
    rng = np.random.default_rng(1)
    observations = rng.uniform(-1, 1, size=(20, 4, 2, 5))
    together = net.start(genomes, seeds)
    alone = [net.start(genomes[g : g + 1], seeds[g : g + 1]) for g in range(4)]
    for obs in observations:
        out = net.step(together, obs)
        for g in range(4):
            assert np.array_equal(net.step(alone[g], obs[g : g + 1]), out[g : g + 1])
    assert np.abs(together.weights[0]).max() == pytest.approx(1.0)  # max-abs normalisation held


def test_weights_are_redrawn_from_the_episode_seed():
    net = HebbianMLP((4, 3, 2))
    genomes = _genomes(net, 1)
    a = net.start(genomes, [[1, 2]]).weights[0]
    b = net.start(genomes, [[1, 2]]).weights[0]
    assert np.array_equal(a, b) and not np.array_equal(a[0, 0], a[0, 1])
    assert np.abs(a).max() <= 0.1  # uniform +-0.1, the reference default
    co = HebbianMLP((4, 3, 2), init="coevolve")
    g = _genomes(co, 1)
    initial = g[0, co.num_coefficients : co.num_coefficients + 12].astype(np.float32)
    assert np.array_equal(co.start(g, [[7]]).weights[0][0, 0].ravel(), initial)


@pytest.mark.parametrize("init, bound", [("xavier", 0.3 * np.sqrt(6 / 300)), ("kaiming", np.sqrt(2 / 10) * np.sqrt(3 / 100))])
def test_initialisations_respect_their_bounds(init, bound):
    w = draw_initial_weights(init, 100, 200, np.random.default_rng(0))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert abs(draw_initial_weights("normal", 100, 200, np.random.default_rng(0)).std() - 0.024) < 0.001


def test_folded_rule_shapes_cover_every_synapse():
    net = HebbianMLP((2, 3), sharing="post_neuron")
    state = net.start(_genomes(net, 2), [[0], [1]])
    assert state.rules[0].ab.shape == (2, 2, 3)
    assert fold_rule(np.zeros((1, 2, 3, 5)), "ABCD_lr").db.shape == (1, 2, 3)
