"""Hebbian plasticity rules (Najarro & Risi 2020): coefficient layouts, batched update kernels, normalisation.

Filled in by the Hebbian meta-learning capability; the engine does not depend on it.
"""
