"""ES searchers through evotorch: each algorithm optimises, OpenAI-ES options act, state round-trips."""

import pytest
import torch

from evoforge.search.es import ESSearcher, ESSettings, fitness_for_ranking
from evoforge.search.evaluation import Evaluation

TARGET = torch.arange(6, dtype=torch.float32) / 3


def quadratic(genomes):
    return [Evaluation(fitness=float(-((g - TARGET) ** 2).sum())) for g in genomes]


@pytest.mark.parametrize("algorithm", ["openai_es", "pgpe", "cmaes", "snes", "xnes", "cem"])
def test_every_algorithm_approaches_the_optimum(algorithm):
    settings = ESSettings(algorithm=algorithm, popsize=24, sigma=0.5, learning_rate=0.1)
    searcher = ESSearcher(settings, torch.zeros(6), seed=0)
    start = float(((searcher.center - TARGET) ** 2).sum())
    for _ in range(80):
        searcher.step(quadratic)
    end = float(((searcher.center - TARGET) ** 2).sum())
    assert end < 0.1 * start


def test_openai_es_sigma_decays_to_its_floor_and_weight_decay_shrinks_the_centre():
    settings = ESSettings(popsize=8, sigma=0.2, sigma_decay=0.5, sigma_min=0.05, learning_rate=0.1)
    searcher = ESSearcher(settings, torch.zeros(6), seed=0)
    flat = lambda genomes: [Evaluation(fitness=0.0) for _ in genomes]  # noqa: E731 - no gradient signal
    sigmas = []
    for _ in range(5):
        searcher.step(flat)
        sigmas.append(searcher.sigma_mean)
    # The first step only samples; every later step updates then decays sigma: 0.2 -> 0.1 -> 0.05 -> floor.
    assert sigmas == pytest.approx([0.2, 0.1, 0.05, 0.05, 0.05])

    decayed = ESSearcher(ESSettings(popsize=8, learning_rate=0.1, weight_decay=0.5), torch.full((6,), 3.0), seed=0)
    plain = ESSearcher(ESSettings(popsize=8, learning_rate=0.1), torch.full((6,), 3.0), seed=0)
    for _ in range(10):
        decayed.step(flat)
        plain.step(flat)
    assert decayed.center.norm() < plain.center.norm() - 0.5


def test_state_bytes_round_trip_continues_identically():
    settings = ESSettings(algorithm="openai_es", popsize=10, sigma=0.3)
    searcher = ESSearcher(settings, torch.zeros(6), seed=3)
    for _ in range(3):
        searcher.step(quadratic)
    clone = ESSearcher(settings, torch.ones(6), seed=99)
    clone.load_state_bytes(searcher.state_bytes())
    for _ in range(3):
        searcher.step(quadratic)
        clone.step(quadratic)
    assert torch.equal(searcher.center, clone.center)


def test_failed_genomes_rank_below_every_scored_genome():
    evaluations = [Evaluation(3.0), Evaluation.failure("boom"), Evaluation(-2.0)]
    assert fitness_for_ranking(evaluations).tolist() == [3.0, -3.0, -2.0]


def test_mirrored_sampling_needs_an_even_population():
    with pytest.raises(ValueError, match="popsize must be even"):
        ESSettings(algorithm="openai_es", popsize=7)


def test_a_proposal_takes_one_step_on_the_new_task_and_leaves_the_searcher_alone():
    # plain SGD, so the direction is this population's (Adam's moments would carry the old task's momentum)
    settings = ESSettings(algorithm="openai_es", popsize=8, sigma=0.2, learning_rate=0.1, optimizer="sgd")
    searcher = ESSearcher(settings, torch.zeros(3), seed=0)
    seen = []

    def towards(target):
        def evaluate(genomes):
            seen.append(genomes.clone())
            return [Evaluation(fitness=-float(torch.linalg.norm(g - target))) for g in genomes]
        return evaluate

    for _ in range(3):  # leaves a pending population evaluated on the old task
        searcher.step(towards(torch.tensor([-1.0, 0.0, 0.0])))
    before, seen = searcher.center, []
    start = torch.tensor([2.0, 0.0, 0.0])
    proposed = searcher.proposal(towards(torch.tensor([5.0, 0.0, 0.0])), start)
    assert len(seen) == 1 and torch.allclose(seen[0].mean(0), start)  # one population, around the start
    assert proposed[0] > start[0]  # its gradient, not the old task's
    assert torch.equal(searcher.center, before)  # untouched
    assert torch.equal(searcher.proposal(towards(torch.tensor([5.0, 0.0, 0.0])), start), proposed)  # repeatable


def test_openai_es_follows_salimans_gradient_in_the_papers_units():
    """One plain-SGD step moves the centre by lr * (sum_k (r+_k - r-_k) z_k / (n sigma) - wd * mu), with centred
    ranks r in [-0.5, 0.5] over the whole population (Salimans et al. 2017; POET's es.py)."""
    sigma, lr, wd = 0.1, 0.05, 0.01
    settings = ESSettings(algorithm="openai_es", popsize=8, sigma=sigma, learning_rate=lr, weight_decay=wd,
                          optimizer="sgd")
    centre = torch.tensor([0.3, -0.2, 0.1, 0.4])
    searcher = ESSearcher(settings, centre, seed=3)
    populations = []

    def evaluate(genomes):
        populations.append(genomes.clone())
        return [Evaluation(fitness=float(-((g - 1.0) ** 2).sum())) for g in genomes]

    searcher.step(evaluate)  # evotorch: the first step samples and evaluates, the second follows the gradient
    searcher.step(evaluate)
    population = populations[0]
    fitness = -((population - 1.0) ** 2).sum(1)
    ranks = torch.empty(8)
    ranks[fitness.argsort()] = torch.arange(8, dtype=torch.float32) / 7 - 0.5
    noise = (population[0::2] - centre) / sigma  # mirrored: rows 2k and 2k+1 are centre +- sigma z_k
    gradient = ((ranks[0::2] - ranks[1::2])[:, None] * noise).sum(0) / (4 * sigma)
    torch.testing.assert_close(searcher.center, centre + lr * (gradient - wd * centre), rtol=1e-5, atol=1e-6)
