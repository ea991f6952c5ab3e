"""POET building blocks: novelty, minimal criterion, ANNECS, and ES steps of many pairs in one evaluation."""

import numpy as np
import pytest
import torch

from evoforge.search.es import ESSearcher, ESSettings
from evoforge.search.evaluation import Evaluation
from evoforge.search.poet import ANNECS, novelty, passes_mc, step_together


def test_novelty_is_the_mean_distance_to_the_k_nearest():
    archive = [np.array([0.0, 0]), np.array([3.0, 4]), np.array([0.0, 1]), np.array([10.0, 0])]
    assert novelty(np.array([0.0, 0]), archive, k=2) == pytest.approx((0 + 1) / 2)
    assert novelty(np.array([0.0, 0]), archive, k=3) == pytest.approx((0 + 1 + 5) / 3)
    assert novelty(np.array([0.0, 0]), archive[:1], k=5) == 0.0  # fewer than k: all of them
    assert novelty(np.array([1.0, 1]), [], k=5) == 0.0


def test_minimal_criterion_bounds_are_inclusive():
    assert passes_mc(25) and passes_mc(340) and passes_mc(100)
    assert not passes_mc(24.9) and not passes_mc(340.1)
    assert passes_mc(50, 50, 300) and not passes_mc(301, 50, 300)


def test_annecs_counts_environments_that_passed_the_mc_and_were_solved():
    annecs = ANNECS()
    annecs.created("a", True)
    annecs.created("b", True)
    annecs.created("c", False)  # too easy or too hard for some earlier agent: never counts
    annecs.scored("a", 229.9)
    assert annecs.value == 0
    annecs.scored("a", 231)
    annecs.scored("c", 300)
    assert annecs.value == 1
    annecs.scored("b", 230)
    assert annecs.value == 2


def _targets():
    return [torch.full((4,), float(k)) for k in (1, -2, 3)]


def _score(genomes, target):
    return [Evaluation(fitness=-float(((g - target) ** 2).sum())) for g in genomes]


def test_stepping_together_equals_stepping_one_after_the_other():
    settings = ESSettings(algorithm="openai_es", popsize=8, sigma=0.3, learning_rate=0.1)
    targets = _targets()
    alone = [ESSearcher(settings, torch.zeros(4), seed=s) for s in (1, 2, 3)]
    together = [ESSearcher(settings, torch.zeros(4), seed=s) for s in (1, 2, 3)]
    calls = []

    def evaluate_all(genomes):  # the merged batch: 8 genomes of each searcher, in searcher order
        calls.append(len(genomes))
        return [e for k in range(3) for e in _score(genomes[8 * k:8 * (k + 1)], targets[k])]

    for _ in range(5):
        for searcher, target in zip(alone, targets):
            searcher.step(lambda population, target=target: _score(population, target))
        step_together(together, evaluate_all)
    assert calls == [24] * 5  # one evaluation call per step of all three
    for a, b in zip(alone, together):
        torch.testing.assert_close(a.center, b.center, rtol=0, atol=0)


def test_a_failing_evaluation_fails_the_step_without_hanging():
    settings = ESSettings(algorithm="openai_es", popsize=4)
    searchers = [ESSearcher(settings, torch.zeros(2), seed=s) for s in (1, 2)]

    def broken(genomes):
        raise ValueError("boom")

    with pytest.raises((ValueError, RuntimeError)):
        step_together(searchers, broken)
