from evoforge.search import seeds


def test_seeds_are_pure_functions_of_their_coordinates():
    assert seeds.genome_seeds(7, 3, 5) == seeds.genome_seeds(7, 3, 5)
    assert seeds.episode_seeds(123, 4) == seeds.episode_seeds(123, 4)


def test_seeds_differ_across_every_coordinate():
    base = seeds.genome_seeds(7, 3, 64)
    assert len(set(base)) == 64
    assert set(base).isdisjoint(seeds.genome_seeds(8, 3, 64))
    assert set(base).isdisjoint(seeds.genome_seeds(7, 4, 64))
    assert set(base).isdisjoint(seeds.genome_seeds(7, 3, 64, stream=seeds.Stream.CENTER_EVAL))
    assert len(set(seeds.episode_seeds(base[0], 10))) == 10


def test_seeds_fit_in_31_bits():
    assert all(0 <= s < 2**31 for s in seeds.genome_seeds(2**31 - 1, 10**6, 100))


def test_each_batch_of_a_generation_has_its_own_sub_stream_and_batch_0_is_the_old_stream():
    old = [seeds.derive_seed(7, 0, 3, index) for index in range(16)]  # the one-batch stream, unchanged
    assert seeds.genome_seeds(7, 3, 16) == seeds.genome_seeds(7, 3, 16, batch=0) == old
    batches = [set(seeds.genome_seeds(7, 3, 16, batch=k)) for k in range(4)]
    assert all(a.isdisjoint(b) for i, a in enumerate(batches) for b in batches[i + 1:])


def test_named_run_streams_keep_the_old_values():
    assert seeds.run_seed(5, seeds.RunStream.SEARCHER) == seeds.derive_seed(5, 1)
    assert seeds.run_seed(5, seeds.RunStream.SCREENING, 2) == seeds.derive_seed(5, 3, 2)
