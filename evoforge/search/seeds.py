"""Deterministic seeds for every evaluation, from named streams.

Every seed is a pure function of integer coordinates -- (run seed, stream, generation, genome index, ...) --
never of global RNG state, process ids or the clock. That is what makes resume, actor restarts and the
serial / Ray equivalence exact. Mixing goes through numpy's SeedSequence, whose hashing decorrelates nearby
integers. Streams keep seeds of different purposes apart even when their integer coordinates coincide; every
experiment draws from the names below, never from bare numbers.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    """Per-generation streams: one seed per genome of a batch, ``derive_seed(run seed, stream, generation, index)``."""

    POPULATION = 0  # the searcher's batches (batch k > 0 of a generation adds k as a fifth coordinate)
    CENTER_EVAL = 1  # the search center re-scored on fresh seeds


class RunStream(IntEnum):
    """Per-run streams: ``derive_seed(run seed, stream, *more)``, drawn once when a run starts."""

    SEARCHER = 1  # the searcher's own random generator
    INITIAL_GENOME = 2  # the initial center / population
    SCREENING = 3  # genomes drawn to screen an initial center (PCGRL) or population
    PROPOSAL_NOISE = 4  # POET: the noise of each one-step proposal (iteration, kind, index)


class EpisodeStream(IntEnum):
    """Streams inside one episode: ``derive_seed(episode seed, stream)``."""

    WEIGHTS = 1  # a Hebbian network's random initial weights
    PERTURBATION = 2  # re-randomised weights of the perturbation replay
    SHUFFLE = 3  # the step order of the attribution's shuffled-activity control


def derive_seed(*coordinates: int) -> int:
    """A 31-bit seed (valid for gymnasium, numpy and torch) from non-negative integer coordinates."""
    return int(np.random.SeedSequence([int(c) for c in coordinates]).generate_state(1)[0] & 0x7FFFFFFF)


def run_seed(seed: int, stream: RunStream, *more: int) -> int:
    """The seed of a per-run stream: ``derive_seed(seed, stream, *more)``."""
    return derive_seed(seed, int(stream), *more)


def genome_seeds(run_seed: int, generation: int, count: int, stream: Stream = Stream.POPULATION,
                 batch: int = 0) -> list[int]:
    """One seed per genome of batch ``batch`` of a generation.

    Batch 0 (every generation of a one-batch searcher) is ``derive_seed(run_seed, stream, generation, index)``;
    batch k > 0 of a searcher that evaluates several batches per step is
    ``derive_seed(run_seed, stream, generation, index, k)``, a sub-stream of its own.
    """
    extra = (batch,) if batch else ()
    return [derive_seed(run_seed, int(stream), generation, index, *extra) for index in range(count)]


def episode_seeds(genome_seed: int, episodes: int) -> list[int]:
    """Episode seeds of one genome: ``derive_seed(genome_seed, episode)``.

    Together with :func:`genome_seeds` each episode's seed depends only on
    (run seed, generation, genome index, episode). ``evoforge replay --seed S`` and ``evoforge inspect --seed S``
    play episodes ``episode_seeds(S, n)``, so the two show the same episodes.
    """
    return [derive_seed(genome_seed, episode) for episode in range(episodes)]
