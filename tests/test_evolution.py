"""Structured-genome searchers: regularized evolution's tournament and aging, random sampling, state round trip."""

import numpy as np
import pytest

from evoforge.search.evaluation import Evaluation
from evoforge.search.evolution import RandomSampling, RegularizedEvolution


class Count(int):
    """A genome that is a number; mutation adds +-1."""

    def mutate(self, rng):
        return Count(self + int(rng.choice([-1, 1])))


def score(genomes):
    return [Evaluation(fitness=float(g)) for g in genomes]


def test_regularized_evolution_fills_its_population_then_ages_it():
    search = RegularizedEvolution([Count(i) for i in range(5)], population_size=5, sample_size=2, children=2,
                                  seed=0)
    for _ in range(3):  # 2 + 2 + 1 initial genomes
        search.step(score)
    assert [g for g, _, _ in search.population] == [0, 1, 2, 3, 4] and not search.pending
    search.step(score)
    assert len(search.population) == 5
    assert [g for g, _, _ in search.population][:3] == [2, 3, 4]  # the two oldest left, whatever their fitness
    for _ in range(40):
        search.step(score)
    assert search.best[1] > 10  # tournaments select upward on "bigger is better"
    assert len(search.history) == 5 + 41 * 2


def test_tournaments_pick_the_fittest_of_the_sample():
    search = RegularizedEvolution([Count(0), Count(100)], population_size=2, sample_size=2, children=2, seed=1)
    search.step(score)
    children = [search._child() for _ in range(20)]
    assert all(abs(c - 100) == 1 for c in children)  # with the whole population sampled, always the 100


def test_failed_children_are_left_out_and_state_round_trips():
    def sometimes_failing(genomes):
        return [Evaluation(fitness=float("nan"), failed=True, error="x") if g % 2 else Evaluation(fitness=float(g))
                for g in genomes]

    a = RegularizedEvolution([Count(i) for i in range(4)], population_size=4, sample_size=2, children=2, seed=3)
    for _ in range(2):
        a.step(sometimes_failing)
    assert [g for g, _, _ in a.population] == [0, 2]
    b = RegularizedEvolution([], population_size=4, sample_size=2, children=2, seed=99)
    b.load_state_bytes(a.state_bytes())
    for _ in range(5):
        a.step(score)
        b.step(score)
    assert a.history == b.history


def test_random_sampling_scores_fresh_genomes_and_checkpoints():
    a = RandomSampling(lambda rng: Count(int(rng.integers(1000))), batch=4, seed=0)
    a.step(score)
    b = RandomSampling(lambda rng: Count(int(rng.integers(1000))), batch=4, seed=5)
    b.load_state_bytes(a.state_bytes())
    a.step(score)
    b.step(score)
    assert a.history == b.history and len(a.history) == 8
    assert a.best[1] == max(f for _, f in a.history) and a.center is None


def test_bad_sample_size_is_refused():
    with pytest.raises(ValueError, match="sample_size"):
        RegularizedEvolution([], population_size=3, sample_size=4, children=1, seed=0)
    assert np.isnan(RegularizedEvolution([Count(1)], 3, 1, 1, 0).metrics()["population_best"])


def test_pareto_tournaments_pick_from_the_front_and_rejected_genomes_stay_out():
    from evoforge.search.evolution import pareto_front

    assert pareto_front([(1, 1), (2, 0), (0, 2), (0.5, 0.5), (2, 0)]) == [0, 1, 2, 4]

    class Pair(tuple):
        def mutate(self, rng):
            return Pair((self[0], self[1] + 1))

    def two_objectives(genomes):
        return [Evaluation(fitness=float(sum(g)), metrics={"a": float(g[0]), "b": float(g[1]),
                                                           "rejected": float(g[0] < 0)}) for g in genomes]

    initial = [Pair((3, 0)), Pair((0, 3)), Pair((2, 0)), Pair((-1, 9))]  # (2, 0) is dominated
    search = RegularizedEvolution(initial, population_size=3, sample_size=3, children=4, seed=0,
                                  objectives=("a", "b"))
    search.step(two_objectives)
    assert [g for g, _, _ in search.population] == initial[:3] and search.rejected == 1
    parents = {tuple(search._child()) for _ in range(50)}
    assert parents == {(3, 1), (0, 4)}  # only the front's members become parents, both of them
