"""ES searchers: each algorithm optimises, evoforge's OpenAI-ES follows the paper (gradient, mirrored sampling,
schedules, Adam / SGD), options are validated, states round-trip, proposals leave their searcher alone."""

import copy
import pickle
from dataclasses import fields, replace

import pytest
import torch

from evoforge.search.es import ESSearcher, ESSettings, fitness_for_ranking
from evoforge.search.evaluation import Evaluation
from evoforge.search.openai_es import OpenAIES, OpenAIESParams, OpenAIESState, centered_ranks, gradient

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
    flat = lambda genomes: [Evaluation(fitness=0.0) for _ in genomes]  # no gradient signal
    sigmas = []
    for _ in range(5):
        searcher.step(flat)
        sigmas.append(searcher.sigma_mean)
    # Every step samples, evaluates, updates and then decays sigma: 0.2 -> 0.1 -> 0.05 -> floor.
    assert sigmas == pytest.approx([0.1, 0.05, 0.05, 0.05, 0.05])

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

    for _ in range(3):  # some history on the old task
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

    searcher.step(evaluate)  # one step: sample, evaluate, follow the gradient of that population
    population = populations[0]
    fitness = -((population - 1.0) ** 2).sum(1)
    ranks = torch.empty(8)
    ranks[fitness.argsort()] = torch.arange(8, dtype=torch.float32) / 7 - 0.5
    noise = (population[0::2] - centre) / sigma  # mirrored: rows 2k and 2k+1 are centre +- sigma z_k
    gradient = ((ranks[0::2] - ranks[1::2])[:, None] * noise).sum(0) / (4 * sigma)
    torch.testing.assert_close(searcher.center, centre + lr * (gradient - wd * centre), rtol=1e-5, atol=1e-6)


def test_the_gradient_on_a_hand_computed_case():
    # two mirrored pairs in 2-D, sigma 0.5; rows: +z1, -z1, +z2, -z2
    noise = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    fitness = torch.tensor([3.0, 1.0, 0.0, 4.0])
    # ascending order: row 2, row 1, row 0, row 3 -> ranks 0..3 -> centred rank / 3 - 0.5
    assert centered_ranks(fitness).tolist() == pytest.approx([1 / 6, -1 / 6, -0.5, 0.5])
    # sum_k (F+_k - F-_k) z_k / (n sigma) = (1/3 * z1 - 1 * z2) / (2 * 0.5)
    torch.testing.assert_close(gradient(noise, fitness, 0.5), torch.tensor([1 / 3, -2.0]))
    # one plain SGD step: centre + lr * (g - wd * centre)
    es = OpenAIES(OpenAIESParams(popsize=4, learning_rate=0.1, sigma=0.5, optimizer="sgd", weight_decay=0.2))
    state = es.init(torch.tensor([1.0, -1.0]), seed=0)
    after = es.tell(state, noise, fitness)
    torch.testing.assert_close(after.center, torch.tensor([1.0, -1.0]) + 0.1 * (torch.tensor([1 / 3, -2.0])
                                                                              - 0.2 * torch.tensor([1.0, -1.0])))
    assert after.updates == 1 and state.updates == 0  # tell returns a new state


def test_the_hebbian_reference_gradient_standardises_the_ranks_and_divides_by_the_population():
    """Najarro & Risi's ES: F = (r - mean r) / std r for the centred ranks r, g = sum_i F_i eps_i / (N sigma) over
    all N rows with eps_2k = z_k, eps_2k+1 = -z_k -- computed here row by row, as their loop does."""
    noise = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    fitness = torch.tensor([3.0, 1.0, 0.0, 4.0])
    ranks = torch.tensor([1 / 6, -1 / 6, -0.5, 0.5])
    shaped = (ranks - ranks.mean()) / ranks.std(unbiased=False)
    eps = torch.stack([noise[0], -noise[0], noise[1], -noise[1]])
    expected = sum(f * e for f, e in zip(shaped, eps)) / (4 * 0.5)
    torch.testing.assert_close(gradient(noise, fitness, 0.5, "hebbian_reference"), expected)
    # half the pairs estimate, over the ranks' standard deviation
    torch.testing.assert_close(expected, gradient(noise, fitness, 0.5) / 2 / ranks.std(unbiased=False))
    with pytest.raises(ValueError, match="gradient must be"):
        OpenAIESParams(popsize=4, gradient="other")
    with pytest.raises(ValueError, match="gradient only appl"):
        ESSettings(algorithm="pgpe", gradient="hebbian_reference")


def test_centred_ranks_span_half_a_unit_each_way_and_ties_share_their_rank():
    ranks = centered_ranks(torch.tensor([5.0, -2.0, 7.0, 0.0, 1.0]))
    assert ranks.min() == -0.5 and ranks.max() == 0.5
    assert ranks.tolist() == pytest.approx([0.25, -0.5, 0.5, -0.25, 0.0])
    # a plateau (all tied) gives no gradient at all, whichever row comes first
    assert centered_ranks(torch.zeros(6)).tolist() == [0.0] * 6
    assert torch.equal(gradient(torch.randn(3, 4), torch.zeros(6), 0.1), torch.zeros(4))


def test_sampling_is_mirrored_around_the_centre():
    settings = ESSettings(popsize=10, sigma=0.3)
    searcher = ESSearcher(settings, torch.tensor([1.0, -2.0, 0.5]), seed=4)
    populations = []

    def evaluate(genomes):
        populations.append(genomes.clone())
        return quadratic(torch.cat([genomes, torch.zeros(len(genomes), 3)], 1))

    centre = searcher.center
    searcher.step(evaluate)
    population = populations[0]
    assert population.shape == (10, 3)
    torch.testing.assert_close(population[0::2] - centre, -(population[1::2] - centre))  # +eps / -eps pairs
    assert (population[0::2] - centre).abs().min() > 0  # and not degenerate
    assert not torch.equal(searcher.center, centre)  # the same step updated the centre


def test_a_restored_state_continues_to_exactly_the_same_centres():
    settings = ESSettings(algorithm="openai_es", popsize=12, sigma=0.2, learning_rate=0.05, sigma_decay=0.9,
                          sigma_min=0.05, lr_decay=0.95, weight_decay=0.01)
    searcher = ESSearcher(settings, torch.zeros(6), seed=5)
    for _ in range(4):
        searcher.step(quadratic)
    data = searcher.state_bytes()
    state = pickle.loads(data)  # evoforge's own state: tensors and numbers, no evotorch object
    assert isinstance(state, OpenAIESState)
    assert all(isinstance(getattr(state, f.name), (torch.Tensor, int, float, str)) for f in fields(state))
    restored = ESSearcher(settings, torch.ones(6), seed=123)
    restored.load_state_bytes(data)
    for _ in range(3):
        searcher.step(quadratic)
        restored.step(quadratic)
        assert torch.equal(searcher.center, restored.center)
        assert searcher.sigma_mean == restored.sigma_mean


def test_learning_rate_and_sigma_decay_to_their_floors():
    # no fitness signal and weight decay 1: each SGD step multiplies the centre by (1 - lr) with that step's lr
    es = OpenAIES(OpenAIESParams(popsize=4, learning_rate=0.4, sigma=0.2, optimizer="sgd", weight_decay=1.0,
                                 lr_decay=0.5, lr_min=0.06, sigma_decay=0.5, sigma_min=0.03))
    state = es.init(torch.tensor([1.0, 2.0]), seed=0)
    lrs, sigmas, centre = [], [], torch.tensor([1.0, 2.0])
    for _ in range(5):
        _, noise, state = es.ask(state)
        lrs.append(state.learning_rate)
        state = es.tell(state, noise, torch.zeros(4))
        sigmas.append(state.sigma)
        centre = centre * (1 - lrs[-1])
        torch.testing.assert_close(state.center, centre)
    assert lrs == pytest.approx([0.4, 0.2, 0.1, 0.06, 0.06])
    assert sigmas == pytest.approx([0.1, 0.05, 0.03, 0.03, 0.03])
    # the defaults leave both alone
    plain = ESSearcher(ESSettings(popsize=4, sigma=0.2), torch.zeros(2), seed=0)
    for _ in range(3):
        plain.step(quadratic_2d)
    assert plain.state.learning_rate == 0.01 and plain.sigma_mean == pytest.approx(0.2)


def test_sgd_momentum_averages_the_directions():
    # flat fitness and weight decay 1: the direction is -centre; m <- 0.5 m + 0.5 d, centre <- centre + lr m
    es = OpenAIES(OpenAIESParams(popsize=4, learning_rate=0.1, optimizer="sgd", weight_decay=1.0, momentum=0.5))
    state, centre, m = es.init(torch.tensor([2.0, -1.0]), seed=0), torch.tensor([2.0, -1.0]), torch.zeros(2)
    for _ in range(3):
        _, noise, state = es.ask(state)
        state = es.tell(state, noise, torch.zeros(4))
        m = 0.5 * m + 0.5 * -centre
        centre = centre + 0.1 * m
        torch.testing.assert_close(state.center, centre)


def quadratic_2d(genomes):
    return [Evaluation(fitness=float(-(g**2).sum())) for g in genomes]


def test_a_proposal_equals_one_step_of_a_copy_moved_to_its_start():
    settings = ESSettings(popsize=8, sigma=0.2, learning_rate=0.05)  # Adam: the moments matter
    searcher = ESSearcher(settings, torch.zeros(6), seed=1)
    for _ in range(4):
        searcher.step(quadratic)
    before = searcher.state_bytes()
    start = torch.full((6,), 0.7)
    proposed = searcher.proposal(quadratic, start)
    assert searcher.state_bytes() == before  # untouched, noise generator included
    twin = copy.deepcopy(searcher)
    twin.state = replace(twin.state, center=start.clone())
    twin.step(quadratic)
    assert torch.equal(proposed, twin.center)
    # without a start: one step from the searcher's own centre, which the searcher itself then takes too
    own = searcher.proposal(quadratic)
    searcher.step(quadratic)
    assert torch.equal(own, searcher.center)


def test_fresh_proposals_step_with_the_initial_sigma_and_plain_sgd_and_own_noise_is_its_own():
    """POET's reference admission proposal: a new optimiser (initial sigma and step size, no moments, SGD);
    with a noise seed, a proposal draws its own noise instead of the searcher's next noise."""
    from evoforge.search.openai_es import OpenAIES, OpenAIESParams

    settings = ESSettings(popsize=8, sigma=0.2, learning_rate=0.05, sigma_decay=0.5, lr_decay=0.5,
                          weight_decay=0.01)
    searcher = ESSearcher(settings, torch.zeros(6), seed=1)
    for _ in range(3):  # sigma, step size and Adam's moments move away from a fresh state's
        searcher.step(quadratic)
    assert searcher.state.sigma < 0.2 and searcher.state.updates == 3
    start, before = torch.full((6,), 0.7), searcher.state_bytes()
    fresh = searcher.proposal(quadratic, start, fresh=True, noise_seed=5)
    assert searcher.state_bytes() == before
    sgd = OpenAIES(OpenAIESParams(popsize=8, learning_rate=0.05, sigma=0.2, optimizer="sgd", weight_decay=0.01))
    state = sgd.init(start, seed=5)
    population, noise, state = sgd.ask(state)
    expected = sgd.tell(state, noise, torch.tensor([e.fitness for e in quadratic(population)])).center
    torch.testing.assert_close(fresh, expected)
    # d = g - wd * mu, one plain step: center + lr * d
    from evoforge.search.openai_es import gradient
    direct = start + 0.05 * (gradient(noise, torch.tensor([e.fitness for e in quadratic(population)]), 0.2)
                             - 0.01 * start)
    torch.testing.assert_close(fresh, direct)
    # own noise: repeatable, different from the searcher's next noise (which the default proposal reuses)
    own = searcher.proposal(quadratic, start, noise_seed=5)
    assert torch.equal(own, searcher.proposal(quadratic, start, noise_seed=5))
    assert not torch.equal(own, searcher.proposal(quadratic, start, noise_seed=6))
    assert not torch.equal(own, searcher.proposal(quadratic, start))
    for algorithm in ("snes", "cem"):  # fresh: the initial stdev; a noise seed reseeds the problem's copy
        evo = ESSearcher(ESSettings(algorithm=algorithm, popsize=16, sigma=0.3), torch.zeros(3), seed=0)
        for _ in range(3):
            evo.step(quadratic_2d)
        seen = []

        def record(genomes, seen=seen):
            seen.append(genomes.clone())
            return quadratic_2d(genomes)

        evo.proposal(record, torch.zeros(3), fresh=True, noise_seed=1)
        evo.proposal(record, torch.zeros(3), noise_seed=1)
        evo.proposal(record, torch.zeros(3), noise_seed=2)
        assert abs(float(seen[0].std(0).mean()) - 0.3) < 0.12  # sampled at the initial sigma
        assert not torch.equal(seen[1], seen[2])


def test_snes_and_cem_proposals_leave_the_searcher_alone_and_others_refuse():
    target = torch.tensor([3.0, 0.0, 0.0])
    for algorithm in ("snes", "cem"):
        searcher = ESSearcher(ESSettings(algorithm=algorithm, popsize=16, sigma=0.3), torch.zeros(3), seed=0)
        searcher.step(quadratic_2d)
        untouched, seen = copy.deepcopy(searcher), []  # (evotorch's pickles are not byte-stable)

        def towards(genomes, seen=seen):
            seen.append(genomes.clone())
            return [Evaluation(fitness=-float(torch.linalg.norm(g - target))) for g in genomes]

        start = torch.tensor([1.0, 0.0, 0.0])
        proposed = searcher.proposal(towards, start)
        assert len(seen) == 1 and (seen[0].mean(0) - start).abs().max() < 0.5  # one population, around start
        assert proposed[0] > start[0]
        assert torch.equal(searcher.proposal(towards, start), proposed)
        for _ in range(2):  # the searcher goes on exactly as a copy that made no proposal
            searcher.step(quadratic_2d)
            untouched.step(quadratic_2d)
            assert torch.equal(searcher.center, untouched.center)
    for algorithm in ("pgpe", "cmaes", "xnes"):
        searcher = ESSearcher(ESSettings(algorithm=algorithm, popsize=8), torch.zeros(3), seed=0)
        with pytest.raises(ValueError, match=algorithm):
            searcher.proposal(quadratic_2d)


@pytest.mark.parametrize("optimizer,learning_rate", [("sgd", 0.01), ("adam", 0.05)])
def test_openai_es_solves_the_sphere(optimizer, learning_rate):
    settings = ESSettings(popsize=20, sigma=0.1, learning_rate=learning_rate, optimizer=optimizer)
    searcher = ESSearcher(settings, torch.full((5,), 2.0), seed=0)
    start = float(searcher.center.norm())
    for _ in range(300):
        searcher.step(quadratic_2d)
    assert float(searcher.center.norm()) < 0.05 < 0.02 * start


def test_settings_refuse_what_an_algorithm_does_not_implement():
    with pytest.raises(ValueError, match="weight_decay only apply to openai_es; pgpe"):
        ESSettings(algorithm="pgpe", weight_decay=0.01)
    with pytest.raises(ValueError, match="sigma_decay, lr_decay only apply to openai_es; snes"):
        ESSettings(algorithm="snes", sigma_decay=0.99, lr_decay=0.9)
    with pytest.raises(ValueError, match="openai_es supports optimizer adam or sgd, not clipup"):
        ESSettings(algorithm="openai_es", optimizer="clipup")
    ESSettings(algorithm="pgpe", optimizer="clipup")  # fine for PGPE


def test_a_searcher_refuses_another_algorithms_state():
    es = ESSearcher(ESSettings(popsize=8), torch.zeros(3), seed=0)
    snes = ESSearcher(ESSettings(algorithm="snes", popsize=8), torch.zeros(3), seed=0)
    with pytest.raises(ValueError, match="openai_es searcher cannot load"):
        es.load_state_bytes(snes.state_bytes())
    with pytest.raises(ValueError, match="snes searcher cannot load"):
        snes.load_state_bytes(es.state_bytes())


def test_a_seeded_population_is_the_population_row_for_row():
    """OpenAI-ES draws each mirrored pair's noise from its own seed, so a genome can travel as (seed, sign):
    rebuilt from the seeds (whole, in chunks without the center, or row by row) it is ask()'s tensor bit for
    bit, and the noise handed to tell() is the rows' own."""
    es = OpenAIES(OpenAIESParams(popsize=8, sigma=0.3))
    state = es.init(torch.randn(50, generator=torch.Generator().manual_seed(2)), seed=7)
    population, noise, after = es.ask(state)
    seeded, seeded_noise, seeded_after = es.ask_seeded(state)
    assert torch.equal(seeded.materialize(), population) and torch.equal(seeded_noise, noise)
    assert torch.equal(seeded_after.rng_state, after.rng_state)
    assert seeded.signs == (1, -1) * 4 and seeded.noise_seeds[0::2] == seeded.noise_seeds[1::2]
    chunk = seeded.rows(3, 7).without_center()
    assert chunk.center is None and len(pickle.dumps(chunk)) < 400  # a few bytes per genome, no vector
    assert torch.equal(chunk.materialize(state.center), population[3:7])
    assert all(torch.equal(row, population[i]) for i, row in enumerate(seeded))
    torch.testing.assert_close(population[0::2] - state.center, state.sigma * noise)
    with pytest.raises(ValueError, match="shipped without its center"):
        chunk.materialize()


def test_matrix_noise_reproduces_runs_made_before_per_pair_seeds():
    """search.noise: matrix draws the (n, d) noise in one call from the state's generator, as evoforge did
    before per-pair seeds, and a state pickled then (no ``noise`` field) reads as matrix."""
    es = OpenAIES(OpenAIESParams(popsize=4, sigma=0.5, noise="matrix"))
    state = es.init(torch.zeros(3), seed=1)
    population, noise, _ = es.ask(state)
    generator = torch.Generator()
    generator.manual_seed(1)
    torch.testing.assert_close(noise, torch.randn((2, 3), generator=generator), rtol=0, atol=0)
    assert torch.equal(population[1], -0.5 * noise[0])
    with pytest.raises(ValueError, match="cannot propose a seeded population"):
        es.ask_seeded(state)
    old = copy.copy(state)
    del old.__dict__["noise"]  # what unpickling a state written before the field existed gives
    assert old.noise == "matrix"
    assert ESSearcher(ESSettings(noise="matrix"), torch.zeros(3), seed=0).state.noise == "matrix"
    with pytest.raises(ValueError, match="noise only apply to openai_es"):
        ESSettings(algorithm="snes", noise="matrix")
