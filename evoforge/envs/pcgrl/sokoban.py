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

import functools
import heapq
from collections import deque
from dataclasses import dataclass

import numpy as np



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


@functools.lru_cache(maxsize=20_000)
def _geometry(wall_bytes: bytes, shape: tuple[int, int], target_cells: tuple[int, ...]):
    """What a level's walls and targets fix for every search on it (cached: a crate or player move keeps them):
    wall tiles, the mask of tiles a crate may not be pushed onto (walls, deadlocks), and Manhattan distances
    from every floor tile to every target, on the grid padded with a wall border."""
    walls = np.pad(np.frombuffer(wall_bytes, dtype=bool).reshape(shape), 1, constant_values=True)
    width = walls.shape[1]
    wall_cells = frozenset(np.flatnonzero(walls).tolist())
    blocked = 0
    for r, c in _deadlocks(walls, {divmod(t, width) for t in target_cells}):
        blocked |= 1 << (r * width + c)
    for cell in wall_cells:
        blocked |= 1 << cell
    manhattan = {
        (cell, t): abs(cell // width - t // width) + abs(cell % width - t % width)
        for cell in range(walls.size) if cell not in wall_cells for t in target_cells
    }
    return wall_cells, blocked, manhattan


def solve(walls: np.ndarray, player: tuple[int, int], crates: set, targets: set, budget: int = 5000) -> SolverResult:
    """Solve a level given as a wall mask (the border is added here) and positions (row, col) on it.

    Internally a tile is its row-major index on the padded grid and the crates are one integer bit mask, so a
    search state is a small hashable tuple (the solver runs inside the environment step).
    """
    walls = np.asarray(walls, dtype=bool)
    width = walls.shape[1] + 2
    index = lambda cell: (cell[0] + 1) * width + cell[1] + 1  # noqa: E731 - padded row-major index
    target_cells = tuple(sorted(index(t) for t in targets))  # row-major order = the reference's sorted order
    wall_cells, blocked, manhattan = _geometry(walls.tobytes(), walls.shape, target_cells)
    target_mask = sum(1 << t for t in target_cells)
    steps = (-1, 1, -width, width)  # left, right, up, down (the reference's order)
    heuristics: dict[int, int] = {}

    def heuristic(mask: int) -> int:
        """Greedy sum of Manhattan distances, each crate (row-major order) to its nearest still-unused target."""
        if mask not in heuristics:
            unused, total, rest, cell = list(target_cells), 0, mask, 0
            while rest:
                if rest & 1:
                    best = min(range(len(unused)), key=lambda i: manhattan[cell, unused[i]])
                    total += manhattan[cell, unused.pop(best)]
                rest >>= 1
                cell += 1
            heuristics[mask] = total
        return heuristics[mask]

    def children(state):
        position, mask = state
        for step in steps:
            nxt = position + step
            if nxt in wall_cells:
                continue
            if mask >> nxt & 1:
                behind = nxt + step
                if (blocked | mask) >> behind & 1:
                    continue
                yield nxt, mask ^ (1 << nxt) | (1 << behind)
            else:
                yield nxt, mask

    start = (index(player), sum(1 << index(c) for c in crates))
    best_h = heuristic(start[1])
    # Breadth-first first: the shortest solution when it fits the budget.
    seen, queue, expanded = {start: 0}, deque([start]), 0
    while queue and expanded < budget:
        state = queue.popleft()
        expanded += 1
        if state[1] & ~target_mask == 0:
            return SolverResult(True, seen[state], 0)
        for child in children(state):
            if child not in seen:
                seen[child] = seen[state] + 1
                queue.append(child)
    if not queue:
        # BFS saw every reachable state: the level is unsolvable, and the A* passes would walk the same states,
        # so their best heuristic is the best over these (unless re-expansions exhausted an A* budget first)
        return SolverResult(False, 0, min(heuristic(mask) for _, mask in seen))
    for balance in (1.0, 0.5, 0.0):
        counter = 0  # tie-breaker: insertion order
        frontier = [(heuristic(start[1]), counter, 0, start)]
        depths, expanded = {start: 0}, 0
        while frontier and expanded < budget:
            _, _, depth, state = heapq.heappop(frontier)
            expanded += 1
            best_h = min(best_h, heuristic(state[1]))
            if state[1] & ~target_mask == 0:
                return SolverResult(True, depth, 0)
            for child in children(state):
                if child not in depths or depths[child] > depth + 1:
                    depths[child] = depth + 1
                    counter += 1
                    heapq.heappush(frontier, (heuristic(child[1]) + balance * (depth + 1), counter, depth + 1, child))
    return SolverResult(False, 0, best_h)
