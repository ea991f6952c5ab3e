"""PCGRL representations: how an agent edits the map (Khalifa et al. 2020, sec. III-B; gym-pcgrl ``reps/``).

All three act on a batch of M maps at once (the single env is a batch of one):

* narrow: ``Discrete(N + 1)``; 0 = no-op, a = set tile a - 1 at the current position; after every action the
  position jumps to a uniformly random tile (the reference's default ``random_tile=True``).
* turtle: ``Discrete(4 + N)``; 0-3 move left, right, up, down (clamped at the edge), 4 + t sets tile t under
  the turtle.
* wide: ``Discrete(H * W * N)``, the reference training wrapper's flattening, unravelled as (y, x, tile).

Observations are those of the reference's training wrappers, channels first: narrow and turtle see an egocentric
c x c crop centred on the agent (c = twice the larger map side, so the whole map is always in view; padded with
the border tile), wide sees the whole map. Binary keeps the raw 0/1 tile as one channel, the other problems are
one-hot over the N tiles. Everything is uint8 in {0, 1}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from gymnasium import spaces
from numpy.lib.stride_tricks import sliding_window_view

from evoforge.envs.pcgrl.problems import Problem

TURTLE_MOVES = np.array([(0, -1), (0, 1), (-1, 0), (1, 0)])  # (dy, dx): left, right, up, down


def observation_channels(problem: Problem) -> int:
    """Observation channels: 1 (the raw 0/1 tile) for two-tile problems, else N one-hot channels."""
    return 1 if problem.num_tiles == 2 else problem.num_tiles


def encode(tiles: np.ndarray, problem: Problem) -> np.ndarray:
    """(M, h, w) tile indices -> (M, C, h, w) uint8: raw for two-tile problems, one-hot otherwise."""
    if problem.num_tiles == 2:
        return np.array(tiles[:, None], dtype=np.uint8)  # a copy: never a view of the simulator's maps
    return (tiles[:, None] == np.arange(problem.num_tiles, dtype=tiles.dtype)[None, :, None, None]).view(np.uint8)


@dataclass(frozen=True)
class EditResult:
    positions: np.ndarray  # (M, 2) the position each edit was made at (row, col)
    tiles: np.ndarray  # (M,) tile written there, -1 for no edit (no-op or move)


class Representation:
    """How an agent edits a batch of maps: its action space, observation and the decoding of actions into edits."""

    name: ClassVar[str]
    uses_position: ClassVar[bool] = True
    random_positions: ClassVar[bool] = False  # a fresh random position after every action (narrow)

    def action_space(self, problem: Problem) -> spaces.Discrete:
        """The discrete action space of this representation for ``problem``."""
        raise NotImplementedError

    def crop_size(self, problem: Problem) -> int:
        """Side c of the egocentric crop: twice the larger map side, so the whole map is always in view."""
        return 2 * max(problem.width, problem.height)

    def observation_space(self, problem: Problem) -> spaces.Box:
        """Box of uint8 in {0, 1}: (C, c, c) crops for narrow and turtle, (C, height, width) maps for wide."""
        channels = observation_channels(problem)
        if self.uses_position:
            size = self.crop_size(problem)
            shape = (channels, size, size)
        else:
            shape = (channels, problem.height, problem.width)
        return spaces.Box(0, 1, shape=shape, dtype=np.uint8)

    def decode(self, actions: np.ndarray, positions: np.ndarray, problem: Problem) -> tuple[EditResult, np.ndarray]:
        """The edit each action makes and the positions afterwards (before any random jump)."""
        raise NotImplementedError

    def padding(self, problem: Problem) -> int:
        """Border tiles kept around each map so that crops are plain windows (0 without positions)."""
        return self.crop_size(problem) // 2 if self.uses_position else 0

    def observe(self, canvas: np.ndarray, positions: np.ndarray, problem: Problem) -> np.ndarray:
        """Observations of maps held in a ``canvas`` (M, H + 2p, W + 2p) padded by :meth:`padding` with the
        border tile (the simulator keeps its maps that way, so no step pads anything)."""
        if not self.uses_position:
            return encode(canvas, problem)
        size = self.crop_size(problem)
        # window (r, c) of the canvas is centred on map tile (r, c): the agent lands at index size // 2
        windows = sliding_window_view(canvas, (size, size), axis=(1, 2))
        return encode(windows[np.arange(len(canvas)), positions[:, 0], positions[:, 1]], problem)


class Narrow(Representation):
    """narrow: ``Discrete(N + 1)``, 0 = no-op, a = write tile a - 1 here; the position then jumps to a random tile."""

    name = "narrow"
    random_positions = True

    def action_space(self, problem: Problem) -> spaces.Discrete:
        return spaces.Discrete(problem.num_tiles + 1)

    def decode(self, actions, positions, problem):
        return EditResult(positions, np.asarray(actions, dtype=np.int64) - 1), positions


class Turtle(Representation):
    """turtle: ``Discrete(4 + N)``, 0-3 move left / right / up / down (clamped), 4 + t writes tile t here."""

    name = "turtle"

    def action_space(self, problem: Problem) -> spaces.Discrete:
        return spaces.Discrete(len(TURTLE_MOVES) + problem.num_tiles)

    def decode(self, actions, positions, problem):
        actions = np.asarray(actions, dtype=np.int64)
        moves = actions < len(TURTLE_MOVES)
        step = np.where(moves[:, None], TURTLE_MOVES[np.minimum(actions, len(TURTLE_MOVES) - 1)], 0)
        upper = np.array([problem.height - 1, problem.width - 1])
        moved = np.clip(positions + step, 0, upper)
        return EditResult(positions, np.where(moves, -1, actions - len(TURTLE_MOVES))), moved


class Wide(Representation):
    """wide: ``Discrete(H * W * N)``, any tile anywhere, unravelled as (row, col, tile); no position."""

    name = "wide"
    uses_position = False

    def action_space(self, problem: Problem) -> spaces.Discrete:
        return spaces.Discrete(problem.height * problem.width * problem.num_tiles)

    def decode(self, actions, positions, problem):
        row, col, tile = np.unravel_index(np.asarray(actions, dtype=np.int64),
                                          (problem.height, problem.width, problem.num_tiles))
        return EditResult(np.stack([row, col], axis=1), tile), positions


REPRESENTATIONS: dict[str, type[Representation]] = {r.name: r for r in (Narrow, Turtle, Wide)}


def make_representation(name: str) -> Representation:
    """The representation called ``name`` (narrow, turtle, wide)."""
    if name not in REPRESENTATIONS:
        raise ValueError(f"unknown PCGRL representation {name!r}; choose from {sorted(REPRESENTATIONS)}")
    return REPRESENTATIONS[name]()
