"""PCGRL metrics and the binary problem on hand-made maps (values worked out by hand)."""

import math

import numpy as np
import pytest

from evoforge.envs.pcgrl.batched_metrics import hamming_diversity
from evoforge.envs.pcgrl.metrics import distance_map, longest_path, num_regions, range_reward
from evoforge.envs.pcgrl.problems import BinaryProblem


def parse(text: str) -> np.ndarray:
    """'.' empty (0), '#' solid (1)."""
    return np.array([[0 if ch == "." else 1 for ch in row] for row in text.split()], dtype=np.uint8)


def test_regions_are_4_connected():
    level = parse("""
        .#.
        #.#
        .#.
    """)
    assert num_regions(level, (0,)) == 5  # diagonal neighbours do not connect
    assert num_regions(level, (1,)) == 4
    assert num_regions(parse("### ###"), (0,)) == 0


def test_distance_map_is_a_bfs_with_minus_one_where_unreachable():
    level = parse("""
        ...#.
        .#.#.
        .#...
    """)
    distances = distance_map(level, (0, 0), (0,))
    expected = np.array([[0, 1, 2, -1, 8], [1, -1, 3, -1, 7], [2, -1, 4, 5, 6]])
    np.testing.assert_array_equal(distances, expected)
    assert (distance_map(level, (1, 1), (0,)) == -1).all()  # a wall as start reaches nothing


def test_longest_path_of_a_snake_and_of_the_best_component():
    snake = parse("""
        .....
        ####.
        .....
        .####
        .....
    """)
    assert longest_path(snake, (0,)) == 16  # 17 tiles in a row
    two = parse("""
        ..#...
        ..#...
    """)
    assert longest_path(two, (0,)) == 3  # the right 2x3 block: opposite corners, 2 + 1 steps
    assert longest_path(parse("## ##"), (0,)) == 0


def test_longest_path_double_bfs_from_the_first_tile():
    # A plus: the first BFS starts at the top arm (the first passable tile in row-major order) and ends at the
    # left arm (the first of the farthest tiles); the second BFS from there finds the other arms at 2.
    plus = parse("""
        #.#
        ...
        #.#
    """)
    assert longest_path(plus, (0,)) == 2
    # Starting from a corner of a 3x3 room, the double BFS finds the opposite corner: 4.
    assert longest_path(parse("... ... ..."), (0,)) == 4


@pytest.mark.parametrize(
    "new, old, low, high, expected",
    [
        (1, 1, 1, 1, 0.0),  # stays inside
        (3, 5, 1, 1, 2.0),  # above the range, moving down by 2
        (5, 3, 1, 1, -2.0),  # moving away upwards
        (1, 4, 1, 1, 3.0),  # entering from above: counted up to the boundary
        (0, 2, 1, 3, -1.0),  # leaving downwards: counted from the boundary
        (6, 0, 2, 5, -3.0),  # jumping over the range: minus both distances (2 before, 1 after), as the reference
        (0, 6, 2, 5, -3.0),  # the same downwards
        (7, 3, math.inf, math.inf, 4.0),  # maximise
        (7, 3, -math.inf, -math.inf, -4.0),  # minimise
    ],
)
def test_range_reward(new, old, low, high, expected):
    assert range_reward(new, old, low, high) == expected


def test_binary_problem_reward_success_and_validity():
    problem = BinaryProblem()
    walls = np.ones((14, 14), dtype=np.uint8)
    corridor = walls.copy()
    corridor[0, :] = 0  # one straight corridor of 14 tiles: path 13
    stats = problem.stats(corridor)
    assert stats == {"regions": 1, "path-length": 13}
    split = corridor.copy()
    split[0, 7] = 1  # cut in two: 2 regions, path 6
    split_stats = problem.stats(split)
    assert split_stats == {"regions": 2, "path-length": 6}
    assert problem.reward(split_stats, stats) == 5 * -1 + (6 - 13)
    # A serpentine over every other row: 7 corridors of 14 joined by 6 connectors = 104 tiles, path 103.
    serpent = walls.copy()
    serpent[0::2, :] = 0
    for row in range(1, 13, 2):
        serpent[row, 13 if row % 4 == 1 else 0] = 0
    serpent_stats = problem.stats(serpent)
    assert serpent_stats == {"regions": 1, "path-length": 103}
    assert problem.success(serpent_stats, stats) and not problem.success(stats, stats)
    assert problem.valid(serpent_stats) and not problem.valid(stats)


ZELDA = {".": 0, "#": 1, "P": 2, "K": 3, "D": 4, "b": 5, "s": 6, "p": 7}


def zelda(text: str) -> np.ndarray:
    return np.array([[ZELDA[ch] for ch in row] for row in text.split()], dtype=np.uint8)


ROOM = """
    P.........K
    ##########.
    D........b.
    ###########
    ###########
    ###########
    ###########
"""


def test_zelda_statistics_follow_the_reference_quirks():
    from evoforge.envs.pcgrl.problems import ZeldaProblem

    problem = ZeldaProblem()
    stats = problem.stats(zelda(ROOM))
    # Player -> key: 10 steps along the top row; key -> door: down 2, then 10 left across the bat = 12.
    # The key blocks the player's BFS to the enemies, so the bat counts as unreachable: nearest = 11 * 7.
    assert stats == {"player": 1, "key": 1, "door": 1, "enemies": 1, "regions": 1, "nearest-enemy": 77,
                     "path-length": 22}
    assert problem.success(stats, stats) and problem.valid(stats)
    keyless = problem.stats(zelda(ROOM.replace("K", ".")))
    # Without the key the bat is reachable: 10 + 2 + 1 steps; no key, no path.
    assert keyless["nearest-enemy"] == 13 and keyless["path-length"] == 0 and not problem.valid(keyless)
    assert problem.reward(stats, keyless) == 3 * 1 + 22  # key into its range; path 0 -> 22; nearest stays >= 4
    two_players = problem.stats(zelda(ROOM.replace("b", "P")))
    assert two_players["player"] == 2 and two_players["nearest-enemy"] == 0 and two_players["path-length"] == 0
    walled = problem.stats(zelda(ROOM.replace("##########.", "###########")))
    assert walled["regions"] == 2 and walled["path-length"] == 0


def test_a_zelda_room_without_enemies_has_nearest_enemy_0_and_is_not_valid_in_both_paths():
    """The reference computes nearest-enemy only when there is an enemy (zelda_prob.py: ``if len(enemies) > 0``)
    and leaves 0 otherwise; it used to start at W*H = 77 here, so enemy-free rooms counted as successes."""
    from evoforge.envs.pcgrl.problems import ZeldaProblem

    problem = ZeldaProblem()
    empty_room = zelda(ROOM.replace("b", "."))
    stats = problem.stats(empty_room)
    assert stats["enemies"] == 0 and stats["nearest-enemy"] == 0 and stats["path-length"] == 22
    assert not problem.success(stats, stats) and not problem.valid(stats)
    batched = problem.batch_stats(np.stack([empty_room, zelda(ROOM)]))
    assert batched["nearest-enemy"].tolist() == [0, 77]
    assert problem.valid(batched).tolist() == [False, True]
    # Deleting the last enemy right next to the player: the reference's -3 (nearest-enemy 1 -> 0 is one step
    # further below its range [4, inf), weight 2; enemies 1 -> 0 below [2, 5], weight 1), not +5.
    beside = zelda(ROOM.replace("P.", "Pb").replace("b.\n", "..\n"))
    alone = zelda(ROOM.replace("b.\n", "..\n"))
    near, gone = problem.stats(beside), problem.stats(alone)
    assert near["nearest-enemy"] == 1 and gone["nearest-enemy"] == 0
    assert problem.reward(gone, near) == -3
    assert problem.batch_reward(problem.batch_stats(alone[None]), problem.batch_stats(beside[None])).tolist() == [-3]


def test_hamming_diversity_is_the_mean_pairwise_share_of_differing_tiles():
    a = np.zeros((2, 2), dtype=np.uint8)
    b, c = a.copy(), a.copy()
    b[0, 0] = 1  # differs from a in 1 of 4 tiles
    c[:, :] = 1  # differs from a in 4, from b in 3
    assert hamming_diversity(np.stack([a, a])) == 0.0
    assert hamming_diversity(np.stack([a, b, c])) == pytest.approx((1 + 4 + 3) / 3 / 4)
    assert hamming_diversity(a[None]) == 0.0  # one level has no pair


def test_spread_count_keeps_levels_that_differ_enough_from_every_kept_one():
    from evoforge.envs.pcgrl.batched_metrics import spread_count

    a = np.zeros((2, 2), dtype=np.uint8)
    b, c, d = a.copy(), a.copy(), a.copy()
    b[0, 0] = 1  # 0.25 from a
    c[:, :] = 1  # 1.0 from a, 0.75 from b
    d[0, :] = 1  # 0.5 from a, 0.25 from b, 0.5 from c
    assert spread_count(np.stack([a, b, c, d]), 0.3) == 3  # a, c, d (b is too close to a)
    assert spread_count(np.stack([a, b, c, d]), 0.2) == 4 and spread_count(np.stack([a, a, a]), 0.2) == 1
    assert spread_count(np.zeros((0, 2, 2)), 0.2) == 0
