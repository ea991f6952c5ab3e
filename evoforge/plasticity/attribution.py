"""Does the plasticity do the work? The pieces of the attribution controls for Hebbian genomes.

An ABCD_lr rule changes a synapse by ``dw = eta (A o_i o_j + B o_i + C o_j) + eta D``: an activity-driven part
and a constant drift. With per-layer max-|w| normalisation (``w <- (w + dw) / max |w + dw|``) a rule whose
activity terms are negligible drives every network, whatever its initial weights, to the same fixed point,

    w* = eta D / max |eta D|       (check: (w* + eta D) / max|w* + eta D| = w* (1 + m) / (1 + m) = w*,
                                    with m = max |eta D|)

-- a fixed network encoded in the constant term (Dittrich et al., "Hebbian Attractor Networks", on this
attractor). Without normalisation the drift never settles: after T steps it adds T eta D to the initial
weights. So an agent that "solves the task from random weights" may owe nothing to plasticity; the controls
that tell (run by :mod:`evoforge.experiments.hebbian_attribution`) are built from these functions:

* :func:`zero_terms` -- the genome with some terms' coefficients set to 0 (A = B = C = 0 keeps only eta D;
  D = 0 keeps only the activity terms);
* :func:`constant_drift` -- the weights the constant term alone leads to from given initial weights;
* :class:`DeltaShare` -- the share of sum |dw| over an episode that the activity-dependent terms contribute.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from evoforge.plasticity.rules import RULES, FoldedRule, Normalisation, normalise, split_delta

TERMS = ("a", "b", "c", "d")  # "d" is every constant: D inside the eta bracket and D_out outside it


def term_columns(rule: str, terms: Iterable[str]) -> list[int]:
    """The coefficient columns of ``rule`` that hold ``terms`` (absent terms are skipped; eta is never a term)."""
    spec = RULES[rule]
    where = {"a": [spec.a], "b": [spec.b], "c": [spec.c], "d": [spec.d_in, spec.d_out]}
    columns = []
    for term in terms:
        if term not in where:
            raise ValueError(f"unknown rule term {term!r} (terms: {', '.join(TERMS)})")
        columns += [c for c in where[term] if c is not None]
    return sorted(columns)


def zero_terms(genome: np.ndarray, layers: Sequence[tuple[slice, int]], rule: str, terms: Iterable[str]) -> np.ndarray:
    """A copy of the flat ``genome`` with the coefficients of ``terms`` set to 0 in every plastic layer.

    ``layers``: per layer, the genome slice of its coefficients and the rule's column count (each slice
    reshaped to (-1, columns) holds one rule per row), as ``HebbianMLP.coefficient_columns()`` gives them.
    Everything else in the genome (conv weights, co-evolved initial weights) is left alone."""
    result = np.array(genome, copy=True)
    columns = term_columns(rule, terms)
    for part, width in layers:
        table = result[part].reshape(-1, width)
        table[:, columns] = 0.0
        result[part] = table.reshape(-1)
    return result


def constant_drift(weights: Sequence[np.ndarray], rules: Sequence[FoldedRule], normalisation: Normalisation,
                   steps: int) -> list[np.ndarray]:
    """The weights after ``steps`` updates by the rules' constant terms alone, ``w <- normalise(w + eta D)``,
    from ``weights`` (per layer (G, E, n_in, n_out); not changed). With ``max_abs`` this converges to
    eta D / max|eta D| (module docstring) within a few steps; with ``none`` it is w + steps * eta D."""
    drifted = [np.array(w, copy=True) for w in weights]
    for w, rule in zip(drifted, rules):
        if rule.db is None:
            continue
        if normalisation == "none":
            w += steps * rule.db[:, None]
            continue
        for _ in range(steps):
            w += rule.db[:, None]
            normalise(w, normalisation)
    return drifted


@dataclass
class DeltaShare:
    """Running sums of |activity part| and |constant part| of every update over an episode, per network row.

    ``share = sum |eta (A o_i o_j + B o_i + C o_j)| / (that + sum |eta D|)``, over synapses, layers and steps:
    1 when only activities move the weights, 0 when only the constant drift does."""

    rows: int
    activity: np.ndarray = field(init=False)
    constant: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.activity = np.zeros(self.rows)
        self.constant = np.zeros(self.rows)

    def add(self, pre: np.ndarray, post: np.ndarray, rule: FoldedRule, rows: Sequence[int]) -> None:
        """Count one layer's update for the networks ``rows`` (pre (1, E, n_in), post (1, E, n_out))."""
        activity, constant = split_delta(pre, post, rule)
        index = np.asarray(rows, dtype=np.int64)
        self.activity[index] += np.abs(activity[0, index]).sum(axis=(-2, -1))
        self.constant[index] += np.abs(constant[0, index]).sum(axis=(-2, -1))

    def share(self) -> np.ndarray:
        """Per row, the activity terms' share of sum |dw| (nan for a row that never changed)."""
        total = self.activity + self.constant
        return np.divide(self.activity, total, out=np.full(self.rows, np.nan), where=total > 0)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two weight arrays taken as vectors (nan if either is 0)."""
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norm) if norm > 0 else float("nan")
