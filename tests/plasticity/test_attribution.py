"""The pieces of the plasticity attribution controls are what they say they are."""

import numpy as np
import pytest

from evoforge.plasticity.attribution import DeltaShare, constant_drift, term_columns, zero_terms
from evoforge.plasticity.rules import fold_rule, hebbian_delta, normalise, split_delta
from evoforge.policies.hebbian import HebbianMLP


def _network(rule="ABCD_lr", sharing="synapse", normalisation="max_abs"):
    return HebbianMLP(sizes=(4, 6, 2), rule=rule, sharing=sharing, normalisation=normalisation, dtype=np.float64)


def _rules(net, genome):
    return net.start(genome[None], [[0]]).rules


@pytest.mark.parametrize("sharing", ["synapse", "post_neuron", "layer", "layer_modulo"])
def test_zeroing_a_b_c_leaves_dw_equal_to_eta_d_and_zeroing_d_leaves_only_activity_terms(sharing):
    net = _network(sharing=sharing)
    rng = np.random.default_rng(0)
    genome = rng.normal(size=net.num_params)
    pre, post = rng.normal(size=(1, 3, 4)), rng.normal(size=(1, 3, 6))
    full = _rules(net, genome)[0]
    constant = _rules(net, zero_terms(genome, net.coefficient_columns(), net.rule, ("a", "b", "c")))[0]
    dw = hebbian_delta(pre, post, constant)
    # ABCD_lr's columns are [A, B, C, eta, D]: the constant rule's update is eta * D for every synapse
    np.testing.assert_allclose(dw, np.broadcast_to(full.db[:, None], dw.shape))
    activity = _rules(net, zero_terms(genome, net.coefficient_columns(), net.rule, ("d",)))[0]
    expected, _ = split_delta(pre, post, full)
    np.testing.assert_allclose(hebbian_delta(pre, post, activity), expected)
    assert activity.db is not None and not activity.db.any()
    assert np.count_nonzero(genome - zero_terms(genome, net.coefficient_columns(), net.rule, ("d",))) == \
        net.num_coefficients // 5  # exactly one column of five changed


def test_split_delta_sums_to_the_update_for_every_rule():
    rng = np.random.default_rng(1)
    for rule in ("A", "AD", "ABC_lr", "ABCD", "ABCD_lr", "ABCD_lr_D_out", "ABCD_lr_D_in_and_out"):
        net = _network(rule=rule)
        folded = _rules(net, rng.normal(size=net.num_params))[1]
        pre, post = rng.normal(size=(1, 2, 6)), rng.normal(size=(1, 2, 2))
        activity, constant = split_delta(pre, post, folded)
        np.testing.assert_allclose(activity + constant, hebbian_delta(pre, post, folded), atol=1e-12)


def test_term_columns_follow_the_reference_layout_and_reject_unknown_terms():
    assert term_columns("ABCD_lr", ("a", "b", "c")) == [0, 1, 2]  # [A, B, C, eta, D]
    assert term_columns("ABCD_lr", ("d",)) == [4]
    assert term_columns("ABCD_lr_D_in_and_out", ("d",)) == [4, 5]
    assert term_columns("A", ("b", "d")) == []
    with pytest.raises(ValueError, match="unknown rule term 'eta'"):
        term_columns("ABCD_lr", ("eta",))


def test_normalised_constant_drift_converges_to_eta_d_over_its_max_from_any_start():
    net = _network()
    rng = np.random.default_rng(2)
    rules = _rules(net, rng.normal(size=net.num_params))
    for start in range(3):
        weights = [rng.uniform(-0.1, 0.1, size=(1, 1, i, o)) for i, o in net.layer_shapes]
        drifted = constant_drift(weights, rules, "max_abs", 1000)
        for w, rule in zip(drifted, rules):
            np.testing.assert_allclose(w[0, 0], rule.db[0] / np.abs(rule.db[0]).max(), atol=1e-9)
        fixed = [d.copy() for d in drifted]  # and it is a fixed point of one more update
        for w, rule in zip(fixed, rules):
            w += rule.db[:, None]
            normalise(w, "max_abs")
        for a, b in zip(fixed, drifted):
            np.testing.assert_allclose(a, b, atol=1e-12)
    unnormalised = constant_drift([np.zeros((1, 1, 4, 6))], rules[:1], "none", 7)[0]
    np.testing.assert_allclose(unnormalised[0, 0], 7 * rules[0].db[0])


def test_activity_share_is_1_without_d_and_0_without_activity_terms():
    rng = np.random.default_rng(3)
    coefficients = rng.normal(size=(1, 4, 6, 5))
    pre, post = rng.normal(size=(1, 2, 4)), rng.normal(size=(1, 2, 6))
    for zeroed, expected in (([4], 1.0), ([0, 1, 2], 0.0)):
        c = coefficients.copy()
        c[..., zeroed] = 0.0
        share = DeltaShare(2)
        share.add(pre, post, fold_rule(c, "ABCD_lr"), [0, 1])
        np.testing.assert_allclose(share.share(), expected)
    mixed = DeltaShare(2)
    mixed.add(pre, post, fold_rule(coefficients, "ABCD_lr"), [1])  # row 0 never updated: nan
    assert np.isnan(mixed.share()[0]) and 0 < mixed.share()[1] < 1
