from evoforge.search import seeds


def test_seeds_are_pure_functions_of_their_coordinates():
    assert seeds.genome_seeds(7, 3, 5) == seeds.genome_seeds(7, 3, 5)
    assert seeds.episode_seeds(123, 4) == seeds.episode_seeds(123, 4)


def test_seeds_differ_across_every_coordinate():
    base = seeds.genome_seeds(7, 3, 64)
    assert len(set(base)) == 64
    assert set(base).isdisjoint(seeds.genome_seeds(8, 3, 64))
    assert set(base).isdisjoint(seeds.genome_seeds(7, 4, 64))
    assert set(base).isdisjoint(seeds.genome_seeds(7, 3, 64, stream=seeds.CENTER_EVAL))
    assert len(set(seeds.episode_seeds(base[0], 10))) == 10


def test_seeds_fit_in_31_bits():
    assert all(0 <= s < 2**31 for s in seeds.genome_seeds(2**31 - 1, 10**6, 100))
