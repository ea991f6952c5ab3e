"""Policies that act for a whole batch of genomes at once.

* :class:`~evoforge.policies.mlp.BatchedMLP` -- static weights taken from the genome (ES baselines).
* :class:`~evoforge.policies.recurrent.BatchedGRU` -- a one-layer GRU with static weights and a per-episode state
  (the recurrent ES baseline).
* :class:`~evoforge.policies.hebbian.HebbianMLP` -- random weights every episode, rewritten at every step by
  evolved Hebbian rules (Najarro & Risi 2020).
"""

from evoforge.policies.hebbian import HebbianMLP
from evoforge.policies.mlp import BatchedMLP
from evoforge.policies.recurrent import BatchedGRU

__all__ = ["BatchedGRU", "BatchedMLP", "HebbianMLP"]
