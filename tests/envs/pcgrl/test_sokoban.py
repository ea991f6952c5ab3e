"""The Sokoban solver on small levels with solution lengths worked out by hand, and unsolvable ones."""

import numpy as np

from evoforge.envs.pcgrl.sokoban import _deadlocks, solve


def level(text: str):
    """'#' wall, 'P' player, 'C' crate, 'T' target, '.' floor -> walls, player, crates, targets."""
    rows = text.split()
    walls = np.array([[ch == "#" for ch in row] for row in rows])
    where = lambda ch: {(r, c) for r, row in enumerate(rows) for c, x in enumerate(row) if x == ch}  # noqa: E731
    (player,) = where("P")
    return walls, player, where("C"), where("T")


def test_one_push():
    result = solve(*level("PCT.."))
    assert result.solved and result.length == 1


def test_shortest_solution_of_a_small_room():
    # Push the crate right (walk 1, push 1), walk round above it (2), push it down (1): 5 moves; pushing down
    # first would cost 7.
    result = solve(*level("""
        ...
        .C.
        P.T
    """))
    assert result.solved and result.length == 5


def test_two_crates():
    # Top crate: two pushes (2); walk round the bottom crate to its left (3); two pushes (2): 7.
    result = solve(*level("""
        PC.T
        .C.T
    """))
    assert result.solved and result.length == 7
    # In a corridor a crate cannot push another one.
    assert not solve(*level("PCC.TT")).solved


def test_unsolvable_levels():
    cornered = solve(*level("""
        C.
        PT
    """))  # the crate starts in a corner that is not a target
    assert not cornered.solved and cornered.length == 0 and cornered.heuristic == 2
    walled = solve(*level("""
        P#T
        C#.
    """))  # the crate can never cross the wall
    assert not walled.solved


def test_budget_limits_the_search():
    room = level("""
        ...
        .C.
        P.T
    """)
    assert not solve(*room, budget=2).solved


def test_deadlocks_are_corners_and_runs_along_walls():
    walls = np.pad(np.zeros((3, 4), dtype=bool), 1, constant_values=True)
    dead = _deadlocks(walls, targets={(3, 2)})  # padded coordinates: bottom row, third column is a target
    top = {(1, 1), (1, 2), (1, 3), (1, 4)}  # two corners and the wall-backed run between them
    sides = {(2, 1), (2, 4)}  # left and right columns between top and bottom corners
    assert top | sides | {(3, 1), (3, 4)} == dead  # the bottom run holds the target: only its corners


def test_sokoban_problem_statistics_and_reward():
    from evoforge.envs.pcgrl.problems import SokobanProblem

    problem = SokobanProblem()
    codes = {".": 0, "#": 1, "P": 2, "C": 3, "T": 4}
    parse = lambda text: np.array([[codes[ch] for ch in row] for row in text.split()])  # noqa: E731
    room = parse("""
        .....
        .....
        ...##
        .C.##
        P.T##
    """)
    stats = problem.stats(room)
    # Up 1 to the crate's left, push it right 1, round above it 2, push it down onto the target 1: 5 moves.
    assert stats == {"player": 1, "crate": 1, "target": 1, "regions": 1, "dist-win": 0, "solution-length": 5}
    assert not problem.success(stats, stats) and not problem.valid(stats)
    no_target = problem.stats(np.where(room == 4, 0, room))
    assert no_target["solution-length"] == 0 and no_target["dist-win"] == 250  # the solver did not run
    # Target restored: +2 for the target entering its range, +2 for |crate - target| 1 -> 0, +5 solution.
    assert problem.reward(stats, no_target) == 2 + 2 + 5
