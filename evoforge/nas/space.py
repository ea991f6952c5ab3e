"""The NAS-Bench-201 cell space (Dong & Yang 2020, arXiv 2001.00326), as searched by Mellor et al. 2021.

A cell is a DAG on 4 nodes (0 = input, 3 = output) whose 6 edges j -> i (j < i) each carry one of 5 operations;
node i is the sum of its in-edges' outputs. 5^6 = 15,625 cells. A cell prints as the benchmark's string,
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (``op~j`` = the operation on the edge from node j), so a result can be
looked up in the real NAS-Bench-201 (by string: :meth:`Cell.index` is evoforge's own numbering 0..15,624, the
operations read as base-5 digits in :data:`EDGES` order, not the benchmark API's index).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from evoforge.search.genome import StructuredGenome

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))  # (from, to), in the string's order
NUM_CELLS = len(OPS) ** len(EDGES)


@dataclasses.dataclass(frozen=True)
class Cell(StructuredGenome):
    """One NAS-Bench-201 cell: the operation on each edge of :data:`EDGES`."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        if len(ops) != len(EDGES):
            raise ValueError(f"a NAS-Bench-201 cell has {len(EDGES)} edges, got {len(ops)} operations")
        unknown = [op for op in ops if op not in OPS]
        if unknown:
            raise ValueError(f"unknown operation(s) {unknown}; NAS-Bench-201 has {', '.join(OPS)}")
        object.__setattr__(self, "ops", ops)

    # -- encodings ------------------------------------------------------------------------------------------------
    def __str__(self) -> str:
        nodes = []
        for target in (1, 2, 3):
            nodes.append("|" + "|".join(f"{op}~{source}" for (source, to), op in zip(EDGES, self.ops)
                                        if to == target) + "|")
        return "+".join(nodes)

    @classmethod
    def from_string(cls, text: str) -> "Cell":
        """Parse the benchmark's string, e.g. ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|``."""
        try:
            nodes = text.strip().split("+")
            if len(nodes) != 3:
                raise ValueError("expected 3 nodes separated by '+'")
            found: dict[tuple[int, int], str] = {}
            for target, node in enumerate(nodes, start=1):
                entries = [entry for entry in node.strip("|").split("|")]
                if len(entries) != target:
                    raise ValueError(f"node {target} needs {target} inputs, got {len(entries)}")
                for entry in entries:
                    op, source = entry.split("~")
                    found[(int(source), target)] = op
            return cls(tuple(found[edge] for edge in EDGES))
        except (ValueError, KeyError) as exc:
            raise ValueError(f"not a NAS-Bench-201 cell string: {text!r} ({exc})") from None

    def index(self) -> int:
        """The cell's index in [0, 15625): its six ops read as base-5 digits."""
        value = 0
        for op in self.ops:
            value = value * len(OPS) + OPS.index(op)
        return value

    @classmethod
    def from_index(cls, index: int) -> "Cell":
        """The cell of an :meth:`index`."""
        if not 0 <= index < NUM_CELLS:
            raise ValueError(f"cell index must be in [0, {NUM_CELLS}), got {index}")
        ops = []
        for _ in EDGES:
            index, digit = divmod(index, len(OPS))
            ops.append(OPS[digit])
        return cls(tuple(reversed(ops)))

    def to_dict(self) -> dict[str, Any]:
        """``{"arch": "|op~0|+|...|"}``, the NAS-Bench-201 string."""
        return {"arch": str(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Cell":
        """The cell of a :meth:`to_dict` dict."""
        return cls.from_string(data["arch"])

    # -- search operators -----------------------------------------------------------------------------------------
    @classmethod
    def random(cls, rng: np.random.Generator) -> "Cell":
        """A uniformly random cell of the 15,625."""
        return cls.from_index(int(rng.integers(NUM_CELLS)))

    def mutate(self, rng: np.random.Generator) -> "Cell":
        """Mellor et al.'s (and REA's) NAS-Bench-201 mutation: one random edge gets a different operation."""
        edge = int(rng.integers(len(EDGES)))
        choices = [op for op in OPS if op != self.ops[edge]]
        ops = list(self.ops)
        ops[edge] = choices[int(rng.integers(len(choices)))]
        return Cell(tuple(ops))
