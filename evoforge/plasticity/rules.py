"""Synapse-specific Hebbian rules of the ABCD family (Najarro & Risi 2020, arXiv 2007.02686, Sec. 3).

A synapse from presynaptic neuron i (activity o_i) to postsynaptic neuron j (activity o_j) changes by

    A       dw = A o_i o_j
    AD      dw = A o_i o_j + D
    AD_lr   dw = eta (A o_i o_j + D)
    ABC     dw = A o_i o_j + B o_i + C o_j
    ABC_lr  dw = eta (A o_i o_j + B o_i + C o_j)
    ABCD    dw = A o_i o_j + B o_i + C o_j + D
    ABCD_lr dw = eta (A o_i o_j + B o_i + C o_j + D)                     (the paper's rule)
    ABCD_lr_D_out         dw = eta (A o_i o_j + B o_i + C o_j) + D
    ABCD_lr_D_in_and_out  dw = eta (A o_i o_j + B o_i + C o_j + D_in) + D_out

with the coefficient columns in the reference implementation's order (enajx/HebbianMetaLearning): e.g.
ABCD_lr is [A, B, C, eta, D] -- eta is column 3 and D column 4.

Layouts. Weights of a layer are stored input-major as (n_in, n_out), so ``x @ W`` is the forward pass and the
synapse (i, j) is ``W[i, j]``; coefficients are (n_in, n_out, k) per synapse, matching the reference's row
index ``n_out * i + j``. Coarser sharing expands to the same layout, so the update kernel is the same for all:
one rule per postsynaptic neuron, one rule for the layer, ``layer_modulo`` (each layer its own table of R
rules, synapse s of the layer gets rule s mod R; :func:`expand_coefficients`) and ``global_modulo`` (the
reference's ``shared-rules`` branch: one table of R rules for the whole network, the synapse with network-wide
index s -- layers in order, ``n_out * i + j`` inside a layer -- gets rule s mod R; :func:`expand_global_table`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

RuleName = Literal[
    "A", "AD", "AD_lr", "ABC", "ABC_lr", "ABCD", "ABCD_lr", "ABCD_lr_D_out", "ABCD_lr_D_in_and_out"
]
Sharing = Literal["synapse", "post_neuron", "layer", "layer_modulo", "global_modulo"]


@dataclass(frozen=True)
class RuleSpec:
    """Where each term's coefficient sits in a rule's column layout (None: the term is absent)."""

    columns: int
    a: int
    b: int | None = None
    c: int | None = None
    eta: int | None = None
    d_in: int | None = None  # constant inside the learning-rate bracket
    d_out: int | None = None  # constant outside it


RULES: dict[str, RuleSpec] = {
    "A": RuleSpec(columns=1, a=0),
    "AD": RuleSpec(columns=2, a=0, d_in=1),
    "AD_lr": RuleSpec(columns=3, a=0, d_in=1, eta=2),
    "ABC": RuleSpec(columns=3, a=0, b=1, c=2),
    "ABC_lr": RuleSpec(columns=4, a=0, b=1, c=2, eta=3),
    "ABCD": RuleSpec(columns=4, a=0, b=1, c=2, d_in=3),
    "ABCD_lr": RuleSpec(columns=5, a=0, b=1, c=2, eta=3, d_in=4),
    "ABCD_lr_D_out": RuleSpec(columns=5, a=0, b=1, c=2, eta=3, d_out=4),
    "ABCD_lr_D_in_and_out": RuleSpec(columns=6, a=0, b=1, c=2, eta=3, d_in=4, d_out=5),
}


def coefficient_count(rule: str, n_in: int, n_out: int, sharing: Sharing = "synapse", rules: int = 128) -> int:
    """Evolved coefficients of one layer under ``sharing`` (not for ``global_modulo``, whose one table belongs
    to the whole network: ``global_table_size``)."""
    if sharing == "global_modulo":
        raise ValueError("global_modulo shares one table over all layers: use global_table_size")
    groups = {"synapse": n_in * n_out, "post_neuron": n_out, "layer": 1, "layer_modulo": min(rules, n_in * n_out)}
    return groups[sharing] * RULES[rule].columns


def expand_coefficients(
    flat: np.ndarray, rule: str, n_in: int, n_out: int, sharing: Sharing = "synapse", rules: int = 128
) -> np.ndarray:
    """(G, coefficient_count) genome slices -> (G, n_in, n_out, k) per-synapse coefficients.

    ``layer_modulo`` gives synapse s = n_out * i + j of the layer the rule s mod R of the layer's own table.
    """
    k = RULES[rule].columns
    count = flat.shape[0]
    if sharing == "synapse":
        return flat.reshape(count, n_in, n_out, k)
    if sharing == "post_neuron":
        return np.broadcast_to(flat.reshape(count, 1, n_out, k), (count, n_in, n_out, k))
    if sharing == "layer":
        return np.broadcast_to(flat.reshape(count, 1, 1, k), (count, n_in, n_out, k))
    if sharing == "layer_modulo":
        table = flat.reshape(count, min(rules, n_in * n_out), k)
        index = np.arange(n_in * n_out) % table.shape[1]
        return table[:, index].reshape(count, n_in, n_out, k)
    raise ValueError(f"unknown sharing {sharing!r}")


def global_table_size(rule: str, layer_shapes: list[tuple[int, int]], rules: int) -> int:
    """Coefficients of ``global_modulo``'s one table: min(R, synapses of the network) rules x the rule's columns."""
    return min(rules, sum(i * o for i, o in layer_shapes)) * RULES[rule].columns


def expand_global_table(table: np.ndarray, offset: int, n_in: int, n_out: int) -> np.ndarray:
    """(G, R, k) network-wide rule table -> one layer's (G, n_in, n_out, k) coefficients, for the layer whose
    first synapse has network-wide index ``offset``: synapse (i, j) gets rule (offset + n_out i + j) mod R
    (Najarro & Risi's ``shared-rules`` branch, ``--number_rules``)."""
    index = (offset + np.arange(n_in * n_out)) % table.shape[1]
    return table[:, index].reshape(table.shape[0], n_in, n_out, table.shape[2])


@dataclass(frozen=True)
class FoldedRule:
    """A rule's coefficients with the learning rate multiplied in, so a step is four broadcast terms.

    dw = ab * o_i o_j + bb * o_i + cb * o_j + db, each array (G, n_in, n_out) or None when absent.
    """

    ab: np.ndarray
    bb: np.ndarray | None
    cb: np.ndarray | None
    db: np.ndarray | None


def fold_rule(coefficients: np.ndarray, rule: str) -> FoldedRule:
    """Fold eta into the terms once per episode (coefficients: (G, n_in, n_out, k))."""
    spec = RULES[rule]
    if coefficients.shape[-1] != spec.columns:
        raise ValueError(f"rule {rule} has {spec.columns} coefficient columns, got {coefficients.shape[-1]}")

    def column(index: int | None) -> np.ndarray | None:
        return None if index is None else coefficients[..., index]

    eta = column(spec.eta)
    scale = (lambda x: x) if eta is None else (lambda x: None if x is None else eta * x)
    d_in, d_out = scale(column(spec.d_in)), column(spec.d_out)
    constant = d_in if d_out is None else (d_out if d_in is None else d_in + d_out)
    return FoldedRule(ab=scale(column(spec.a)), bb=scale(column(spec.b)), cb=scale(column(spec.c)), db=constant)


def hebbian_delta(pre: np.ndarray, post: np.ndarray, rule: FoldedRule) -> np.ndarray:
    """Weight change of one layer for a batch of networks (Najarro & Risi 2020, Eq. 1 and its variants).

    Args:
        pre: presynaptic activities, (G, E, n_in): G genomes (rule sets), E networks each (one per episode).
        post: postsynaptic activities, (G, E, n_out).
        rule: the genome's folded coefficients, arrays of shape (G, n_in, n_out).

    Returns:
        dw of shape (G, E, n_in, n_out), computed with one einsum for the correlation term.
    """
    delta = np.einsum("gei,gej,gij->geij", pre, post, rule.ab, optimize=False)
    if rule.bb is not None:
        delta += pre[..., :, None] * rule.bb[:, None]
    if rule.cb is not None:
        delta += post[..., None, :] * rule.cb[:, None]
    if rule.db is not None:
        delta += rule.db[:, None]
    return delta


def split_delta(pre: np.ndarray, post: np.ndarray, rule: FoldedRule) -> tuple[np.ndarray, np.ndarray]:
    """:func:`hebbian_delta` in its two parts: the activity-driven ``eta (A o_i o_j + B o_i + C o_j)`` and the
    constant ``eta D`` (+ ``D_out``), each (G, E, n_in, n_out); their sum is the update. Used to measure how
    much of a rule's weight change the activities cause (:mod:`evoforge.plasticity.attribution`)."""
    activity = np.einsum("gei,gej,gij->geij", pre, post, rule.ab, optimize=False)
    if rule.bb is not None:
        activity += pre[..., :, None] * rule.bb[:, None]
    if rule.cb is not None:
        activity += post[..., None, :] * rule.cb[:, None]
    constant = np.zeros_like(activity) if rule.db is None else np.broadcast_to(rule.db[:, None], activity.shape)
    return activity, constant


def apply_hebbian_update(
    weights: np.ndarray, pre: np.ndarray, post: np.ndarray, rule: FoldedRule, scratch: np.ndarray
) -> np.ndarray:
    """In place ``weights += hebbian_delta(pre, post, rule)``: the hot loop's form of the same update.

    Computed as o_i (A o_j + B) + (C o_j + D) through one preallocated ``scratch`` array of the weights' shape,
    so a step allocates nothing (about 30% faster than :func:`hebbian_delta` for the quadruped network; equal
    up to float rounding, since the terms are summed in another order).
    """
    post_j = post[..., None, :]
    np.multiply(rule.ab[:, None], post_j, out=scratch)
    if rule.bb is not None:
        scratch += rule.bb[:, None]
    scratch *= pre[..., :, None]
    weights += scratch
    if rule.cb is not None:
        np.multiply(rule.cb[:, None], post_j, out=scratch)
        if rule.db is not None:
            scratch += rule.db[:, None]
        weights += scratch
    elif rule.db is not None:
        weights += rule.db[:, None]
    return weights


Normalisation = Literal["none", "max_abs", "clip"]


def normalise(weights: np.ndarray, mode: Normalisation, clip: float = 1.0) -> np.ndarray:
    """Keep Hebbian weights bounded, in place.

    ``max_abs`` divides each network's layer by its own largest |w| (the reference does this after every
    update for non-Bullet envs, so weights stay in [-1, 1]); ``clip`` clips to [-clip, clip]; ``none`` leaves
    them (the reference's setting for Bullet envs). ``weights``: (G, E, n_in, n_out).
    """
    if mode == "max_abs":
        scale = np.abs(weights).max(axis=(-2, -1), keepdims=True)
        np.divide(weights, scale, out=weights, where=scale > 0)
    elif mode == "clip":
        np.clip(weights, -clip, clip, out=weights)
    elif mode != "none":
        raise ValueError(f"unknown normalisation {mode!r}")
    return weights
