"""Every Hebbian rule against values computed by hand, synapse by synapse."""

import numpy as np
import pytest

from evoforge.plasticity.rules import (
    RULES,
    apply_hebbian_update,
    coefficient_count,
    expand_coefficients,
    fold_rule,
    hebbian_delta,
    normalise,
)


def by_hand(rule, c, oi, oj):
    """The reference formulas, written out for one synapse with coefficient row c."""
    if rule == "A":
        return c[0] * oi * oj
    if rule == "AD":
        return c[0] * oi * oj + c[1]
    if rule == "AD_lr":
        return c[2] * (c[0] * oi * oj + c[1])
    if rule == "ABC":
        return c[0] * oi * oj + c[1] * oi + c[2] * oj
    if rule == "ABC_lr":
        return c[3] * (c[0] * oi * oj + c[1] * oi + c[2] * oj)
    if rule == "ABCD":
        return c[0] * oi * oj + c[1] * oi + c[2] * oj + c[3]
    if rule == "ABCD_lr":
        return c[3] * (c[0] * oi * oj + c[1] * oi + c[2] * oj + c[4])
    if rule == "ABCD_lr_D_out":
        return c[3] * (c[0] * oi * oj + c[1] * oi + c[2] * oj) + c[4]
    if rule == "ABCD_lr_D_in_and_out":
        return c[3] * (c[0] * oi * oj + c[1] * oi + c[2] * oj + c[4]) + c[5]
    raise AssertionError(rule)


def test_abcd_lr_worked_example():
    # Synapse (0,0): A=1, B=2, C=3, eta=0.5, D=4; o_i=0.5, o_j=2 -> 0.5 (1 + 1 + 6 + 4) = 6.
    # Synapse (1,0): A=-1, B=0.5, C=0, eta=2, D=-1; o_i=-1, o_j=2 -> 2 (2 - 0.5 + 0 - 1) = 1.
    coefficients = np.array([[[[1, 2, 3, 0.5, 4]], [[-1, 0.5, 0, 2, -1]]]])  # (G=1, n_in=2, n_out=1, 5)
    pre = np.array([[[0.5, -1.0]]])
    post = np.array([[[2.0]]])
    delta = hebbian_delta(pre, post, fold_rule(coefficients, "ABCD_lr"))
    assert delta.shape == (1, 1, 2, 1)
    assert delta[0, 0, :, 0].tolist() == [6.0, 1.0]


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_rule_matches_its_formula_on_every_synapse(rule):
    rng = np.random.default_rng(0)
    genomes, episodes, n_in, n_out = 3, 2, 4, 5
    k = RULES[rule].columns
    coefficients = rng.normal(size=(genomes, n_in, n_out, k))
    pre = rng.uniform(-1, 1, size=(genomes, episodes, n_in))
    post = rng.uniform(-1, 1, size=(genomes, episodes, n_out))
    delta = hebbian_delta(pre, post, fold_rule(coefficients, rule))
    for g in range(genomes):
        for e in range(episodes):
            for i in range(n_in):
                for j in range(n_out):
                    expected = by_hand(rule, coefficients[g, i, j], pre[g, e, i], post[g, e, j])
                    assert delta[g, e, i, j] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # The in-place form of the hot loop computes the same update.
    weights = rng.normal(size=delta.shape)
    expected_weights = weights + delta
    apply_hebbian_update(weights, pre, post, fold_rule(coefficients, rule), np.empty_like(weights))
    np.testing.assert_allclose(weights, expected_weights, rtol=1e-12, atol=1e-12)


def test_coefficient_order_follows_the_reference_row_index():
    # Reference row of synapse (i, j) in a layer is n_out * i + j.
    n_in, n_out, k = 3, 2, 5
    flat = np.arange(n_in * n_out * k, dtype=float)[None]
    per_synapse = expand_coefficients(flat, "ABCD_lr", n_in, n_out)
    for i in range(n_in):
        for j in range(n_out):
            row = n_out * i + j
            assert per_synapse[0, i, j].tolist() == flat[0, row * k : (row + 1) * k].tolist()


def test_shared_rule_variants_have_fewer_parameters_and_broadcast():
    n_in, n_out = 28, 128
    assert coefficient_count("ABCD_lr", n_in, n_out) == 28 * 128 * 5
    assert coefficient_count("ABCD_lr", n_in, n_out, "post_neuron") == 128 * 5
    assert coefficient_count("ABCD_lr", n_in, n_out, "layer") == 5
    assert coefficient_count("ABCD_lr", n_in, n_out, "layer_modulo", rules=16) == 16 * 5
    flat = np.arange(16 * 5, dtype=float)[None]
    table = expand_coefficients(flat, "ABCD_lr", n_in, n_out, "layer_modulo", rules=16)
    assert table[0, 0, 17].tolist() == flat[0, 5:10].tolist()  # synapse 17 uses rule 17 mod 16 = 1
    per_neuron = expand_coefficients(np.arange(n_out * 5, dtype=float)[None], "ABCD_lr", n_in, n_out, "post_neuron")
    assert (per_neuron[0, 0] == per_neuron[0, 27]).all()


def test_global_modulo_is_one_table_over_all_layers_unlike_layer_modulo():
    """The reference's shared-rules branch numbers synapses over the whole network (layers in order) and gives
    synapse s rule s mod R; layer_modulo restarts the count, and its table, in every layer."""
    from evoforge.policies.hebbian import HebbianMLP

    shared = HebbianMLP(sizes=(3, 4, 2), sharing="global_modulo", shared_rules=5, dtype=np.float64)
    per_layer = HebbianMLP(sizes=(3, 4, 2), sharing="layer_modulo", shared_rules=5, dtype=np.float64)
    assert shared.num_coefficients == 5 * 5 and per_layer.num_coefficients == 2 * 5 * 5
    genome = np.arange(shared.num_params, dtype=float)
    first, second = shared.start(genome[None], [[0]]).rules
    # layer 2's synapse (i, j) has network index 12 + 2 i + j; rule r's A coefficient is genome[5 r]
    for i in range(4):
        for j in range(2):
            assert second.ab[0, i, j] == genome[5 * ((12 + 2 * i + j) % 5)] * genome[5 * ((12 + 2 * i + j) % 5) + 3]
    assert first.ab[0, 0, 0] == genome[0] * genome[3]  # A * eta of rule 0
    with pytest.raises(ValueError, match="global_modulo shares one table"):
        coefficient_count("ABCD_lr", 3, 4, "global_modulo")


def test_normalisation_modes():
    w = np.array([[[[2.0, -4.0], [1.0, 0.5]]], [[[0.0, 0.0], [0.0, 0.0]]]])  # (G=2, E=1, 2, 2)
    normalise(w, "max_abs")
    assert w[0, 0].tolist() == [[0.5, -1.0], [0.25, 0.125]]
    assert (w[1] == 0).all()  # an all-zero layer stays zero instead of dividing by zero
    clipped = normalise(np.array([[[[3.0, -0.2]]]]), "clip", clip=1.0)
    assert clipped.tolist() == [[[[1.0, -0.2]]]]
    with pytest.raises(ValueError):
        normalise(w, "softmax")


def test_wrong_column_count_is_refused():
    with pytest.raises(ValueError, match="ABCD_lr has 5 coefficient columns, got 4"):
        fold_rule(np.zeros((1, 2, 2, 4)), "ABCD_lr")
