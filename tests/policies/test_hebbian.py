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


def test_conv_features_batched_equal_single_torch_modules():
    import torch

    from evoforge.policies.conv import ConvFeatures

    conv = ConvFeatures()
    assert (conv.num_params, conv.num_features) == (1362, 648)  # the paper's CNN_heb on 84x84 frames
    rng = np.random.default_rng(0)
    genomes = rng.normal(size=(3, conv.num_params)).astype(np.float32)
    images = rng.uniform(size=(3, 2, 3, 84, 84)).astype(np.float32)
    features = conv.features(conv.split(genomes), images)
    for g in range(3):
        first = torch.nn.Conv2d(3, 6, 3, bias=False)
        second = torch.nn.Conv2d(6, 8, 5, stride=2, bias=False)
        first.weight.data = torch.tensor(genomes[g, :162]).reshape(6, 3, 3, 3)
        second.weight.data = torch.tensor(genomes[g, 162:]).reshape(8, 6, 5, 5)
        model = torch.nn.Sequential(first, torch.nn.Tanh(), torch.nn.MaxPool2d(2), second, torch.nn.Tanh(),
                                    torch.nn.MaxPool2d(2), torch.nn.Flatten())
        with torch.no_grad():
            expected = model(torch.tensor(images[g])).numpy()
        np.testing.assert_allclose(features[g], expected, atol=1e-5)


def test_conv_weights_sit_after_the_coefficients_and_stay_fixed():
    from evoforge.policies.conv import ConvFeatures

    conv = ConvFeatures(image_size=20)  # 20 -> 18 -> 9 -> 3 -> 1: 8 features
    net = HebbianMLP((conv.num_features, 4, 2), conv=conv)
    assert net.num_params == net.num_coefficients + 1362
    genomes = np.random.default_rng(0).normal(size=(2, net.num_params)).astype(np.float32)
    state = net.start(genomes, [[1], [2]])
    np.testing.assert_array_equal(state.conv_weights[0][:6].numpy().ravel(), genomes[0, net.num_coefficients : net.num_coefficients + 162])
    before = [w.clone() for w in state.conv_weights]
    images = np.random.default_rng(1).uniform(size=(2, 1, 3, 20, 20)).astype(np.float32)
    for _ in range(3):
        net.step(state, images)
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(before, state.conv_weights))
    with pytest.raises(ValueError, match="conv features"):
        HebbianMLP((100, 4, 2), conv=conv)
