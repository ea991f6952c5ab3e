"""Deterministic seeds for every evaluation.

Every seed is a pure function of (run seed, generation, genome index, episode) and a stream tag, never of
global RNG state, process ids or the clock. That is what makes resume, actor restarts and the serial / Ray
equivalence exact. Mixing goes through numpy's SeedSequence, whose hashing decorrelates nearby integers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Streams keep seeds of different purposes apart even when their integer coordinates coincide.
POPULATION = 0
CENTER_EVAL = 1
REPLAY = 2


def derive_seed(*coordinates: int) -> int:
    """A 31-bit seed (valid for gymnasium, numpy and torch) from non-negative integer coordinates."""
    return int(np.random.SeedSequence([int(c) for c in coordinates]).generate_state(1)[0] & 0x7FFFFFFF)


def genome_seeds(run_seed: int, generation: int, count: int, stream: int = POPULATION) -> list[int]:
    """One seed per genome of a generation: ``derive_seed(run_seed, stream, generation, index)``."""
    return [derive_seed(run_seed, stream, generation, index) for index in range(count)]


def episode_seeds(genome_seed: int, episodes: int) -> list[int]:
    """Episode seeds of one genome: ``derive_seed(genome_seed, episode)``.

    Together with :func:`genome_seeds` each episode's seed depends only on
    (run seed, generation, genome index, episode).
    """
    return [derive_seed(genome_seed, episode) for episode in range(episodes)]


def as_seed_list(seeds: Sequence[int]) -> list[int]:
    """``seeds`` as a list of Python ints."""
    return [int(s) for s in seeds]
