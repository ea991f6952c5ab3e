"""A Sokoban solver with the search order of PCGRL's reference (gym-pcgrl ``probs/sokoban/engine.py``).

The level is surrounded by walls. A search node is the player's position plus the set of crate positions; an
action moves the player one tile in one of 4 directions, pushing a crate in front if the tile behind it is
free. Moves that leave the state unchanged are pruned, and so are pushes onto a *deadlock* tile (a crate
there can never reach a target). The reference tries breadth-first search, then A* with depth weights
(balance) 1, 0.5 and 0 (greedy), each with a budget of node expansions (5,000); the first solution wins.

Deadlock tiles: floor corners that are not targets, and the tiles of a straight run between two such corners
when the run holds no target and no wall and every tile of it has a wall on the same side.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass

import numpy as np

MOVES = ((0, -1), (0, 1), (-1, 0), (1, 0))


@dataclass(frozen=True)
class SolverResult:
    solved: bool
    length: int  # player moves of the solution found (0 if none)
    heuristic: int  # best (lowest) heuristic seen: how close the search came


def _deadlocks(walls: np.ndarray, targets: set[tuple[int, int]]) -> set[tuple[int, int]]:
    height, width = walls.shape
    floor = [(r, c) for r in range(height) for c in range(width) if not walls[r, c]]

    def corner(r: int, c: int) -> bool:
        vertical = walls[r - 1, c] or walls[r + 1, c]
        horizontal = walls[r, c - 1] or walls[r, c + 1]
        return bool(vertical and horizontal) and (r, c) not in targets

    corners = {cell for cell in floor if corner(*cell)}
    dead = set(corners)
    for r, c in corners:
        for dr, dc, side in ((0, 1, ((-1, 0), (1, 0))), (1, 0, ((0, -1), (0, 1)))):
            run, nr, nc = [], r + dr, c + dc
            while not walls[nr, nc] and (nr, nc) not in targets and (nr, nc) not in corners:
                run.append((nr, nc))
                nr, nc = nr + dr, nc + dc
            if (nr, nc) not in corners:
                continue  # the run must end at another deadlock corner
            for sr, sc in side:
                if all(walls[x + sr, y + sc] for x, y in run):
                    dead.update(run)
                    break
    return dead


def _heuristic(crates: frozenset, targets: list[tuple[int, int]]) -> int:
    """Greedy sum of Manhattan distances, each crate to its nearest still-unused target."""
    unused, total = list(targets), 0
    for cr, cc in sorted(crates):
        best = min(range(len(unused)), key=lambda i: abs(unused[i][0] - cr) + abs(unused[i][1] - cc))
        total += abs(unused[best][0] - cr) + abs(unused[best][1] - cc)
        unused.pop(best)
    return total


def solve(walls: np.ndarray, player: tuple[int, int], crates: set, targets: set, budget: int = 5000) -> SolverResult:
    """Solve a level given as a wall mask (the border is added here) and positions (row, col) on it."""
    walls = np.pad(np.asarray(walls, dtype=bool), 1, constant_values=True)
    shift = lambda cell: (cell[0] + 1, cell[1] + 1)  # noqa: E731 - positions move with the padding
    player, crates, targets = shift(player), frozenset(map(shift, crates)), set(map(shift, targets))
    dead = _deadlocks(walls, targets)
    target_list = sorted(targets)
    start = (player, crates)
    best_h = _heuristic(crates, target_list)

    def children(state):
        (pr, pc), boxes = state
        for dr, dc in MOVES:
            nr, nc = pr + dr, pc + dc
            if walls[nr, nc]:
                continue
            if (nr, nc) in boxes:
                br, bc = nr + dr, nc + dc
                if walls[br, bc] or (br, bc) in boxes or (br, bc) in dead:
                    continue
                yield ((nr, nc), boxes - {(nr, nc)} | {(br, bc)})
            else:
                yield ((nr, nc), boxes)

    # Breadth-first first: the shortest solution when it fits the budget.
    seen, queue, expanded = {start: 0}, deque([start]), 0
    while queue and expanded < budget:
        state = queue.popleft()
        expanded += 1
        if state[1] <= targets:
            return SolverResult(True, seen[state], 0)
        for child in children(state):
            if child not in seen:
                seen[child] = seen[state] + 1
                queue.append(child)
    for balance in (1.0, 0.5, 0.0):
        counter = 0  # tie-breaker: insertion order
        frontier = [(_heuristic(crates, target_list), counter, 0, start)]
        depths, expanded = {start: 0}, 0
        while frontier and expanded < budget:
            _, _, depth, state = heapq.heappop(frontier)
            expanded += 1
            h = _heuristic(state[1], target_list)
            best_h = min(best_h, h)
            if state[1] <= targets:
                return SolverResult(True, depth, 0)
            for child in children(state):
                if child not in depths or depths[child] > depth + 1:
                    depths[child] = depth + 1
                    counter += 1
                    child_h = _heuristic(child[1], target_list)
                    heapq.heappush(frontier, (child_h + balance * (depth + 1), counter, depth + 1, child))
    return SolverResult(False, 0, best_h)
