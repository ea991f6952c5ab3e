"""Hebbian plasticity rules (Najarro & Risi 2020): coefficient layouts, batched update kernels, normalisation.

:mod:`evoforge.plasticity.rules` holds every ABCD-family rule of the reference, the per-synapse / shared rule
layouts and the batched update :func:`~evoforge.plasticity.rules.hebbian_delta`. The Hebbian networks that
use them (``evoforge.policies``) and the quadruped and CarRacing experiments come with the Hebbian capability.
"""

from evoforge.plasticity.rules import RULES, expand_coefficients, fold_rule, hebbian_delta, normalise

__all__ = ["RULES", "expand_coefficients", "fold_rule", "hebbian_delta", "normalise"]
