"""The reference's evaluation protocol for PCGRL level generators (Khalifa et al. 2020, sec. V; the gym-pcgrl
evaluation script of January 2020).

Any generator goes through the same protocol: an evolved genome (an NCA, or a narrow / turtle / wide conv
policy; :class:`GenomeLevels`) or any policy that maps a batch of observations to actions, such as a
stable-baselines3 model (:class:`PolicyLevels`, :func:`sb3_policy`).

* Early stop off: the problem's success test never ends an episode (the reference raised binary's target
  path to 200 for this); only the change budget max(int(p x W x H), 1) and the iteration budget
  max_changes x W x H do.
* The change percentage p swept over 0.0, 0.1, ..., 1.0 (p = 0 leaves the reference's one change). The NCA
  rewrites whole maps and has no change budget: it is judged once (p is ``None``).
* Starting maps at the reference's densities (``start="reference"``): binary draws p(empty) ~ U[0, 1) per map,
  the distribution of every episode after the first in the reference; zelda and sokoban use their fixed tile
  tables. ``start="problem"`` keeps the problem's initial probabilities (binary: 0.5, our training maps).
* Per protocol seed s: K starting maps with seeds ``episode_seeds(derive_seed(PROTOCOL_SEED, s), K)`` and their
  densities from ``derive_seed(PROTOCOL_SEED, s, 1)``, the same maps for every p. Statistics per seed: the share of
  valid final levels (the paper-era definitions, :meth:`Problem.valid`), the mean pairwise Hamming distance
  between the K final levels / tiles (the paper's diversity), the number of distinct valid levels and the
  mean path (solution) length. Each is reported as the mean over seeds with its 95 % Student-t interval, next
  to the same statistics of the untouched starting maps (the control: what the random maps already are).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch

from evoforge.envs.pcgrl.batched_metrics import distinct_count, hamming_diversity
from evoforge.envs.pcgrl.problems import Problem
from evoforge.envs.pcgrl.representations import make_representation
from evoforge.envs.pcgrl.simulator import PCGRLSimulator
from evoforge.policies.level_generation import PATH_STAT, LevelGeneration, play_episodes
from evoforge.search.seeds import derive_seed, episode_seeds
from evoforge.stats import Summary, summarise

__all__ = ["CHANGE_PERCENTAGES", "PROTOCOL_SEED", "GenomeLevels", "LevelSource", "PolicyLevels", "ProtocolResult",
           "ProtocolRow", "evaluate_levels", "sb3_policy", "start_probabilities", "starting_maps"]

CHANGE_PERCENTAGES = tuple(round(0.1 * i, 1) for i in range(11))  # the reference's sweep
PROTOCOL_SEED = 20200117  # root of the protocol's map seeds (any fixed number: every generator sees the same maps)
Start = Literal["reference", "problem"]
Stats = dict[str, np.ndarray]


class LevelSource(Protocol):
    """A generator under test: final levels and their statistics from seeded starting maps."""

    representation: str

    def generate(self, change_percentage: float | None, map_seeds: Sequence[Sequence[int]],
                 start_probs: np.ndarray | None) -> tuple[np.ndarray, Stats]:
        """(S, K, H, W) final levels and their flat (S * K,) statistics, for S rows of K map seeds; early stop
        off; ``change_percentage`` None for a generator without a change budget (the NCA)."""


class GenomeLevels:
    """An evolved generator genome (:class:`~evoforge.policies.level_generation.LevelGeneration`'s networks),
    the S seeds' maps in one batched simulator."""

    def __init__(self, problem: Problem, representation: str, genome: torch.Tensor, width: int = 0,
                 nca_steps: int = 50, max_iterations: int | None = None) -> None:
        self.problem, self.representation = problem, representation
        self.genome = torch.as_tensor(genome, dtype=torch.float32).flatten()
        self.width, self.nca_steps, self.max_iterations = width, nca_steps, max_iterations

    def generate(self, change_percentage: float | None, map_seeds: Sequence[Sequence[int]],
                 start_probs: np.ndarray | None) -> tuple[np.ndarray, Stats]:
        """The genome on every row of maps (one simulator, the genome repeated per row), early stop off."""
        generation = LevelGeneration(self.problem, self.representation, change_percentage or 0.0,
                                     self.max_iterations, self.width, self.nca_steps, early_stop=False)
        out = generation.generate(self.genome.expand(len(map_seeds), -1), map_seeds, start_probs=start_probs)
        return out.levels, out.final


class PolicyLevels:
    """Any policy of the registered envs' observation and action spaces: ``act`` maps the (M, ...) observations
    of M maps to M actions (e.g. :func:`sb3_policy`). torch's global generator is seeded before each change
    percentage (from ``PROTOCOL_SEED`` and p), so a policy that samples its actions through it, as
    stable-baselines3's do, is judged reproducibly."""

    def __init__(self, problem: Problem, representation: str, act: Callable[[np.ndarray], np.ndarray],
                 max_iterations: int | None = None) -> None:
        if representation == "nca":
            raise ValueError("a policy acts through narrow, turtle or wide; the NCA is a genome (GenomeLevels)")
        self.problem, self.representation, self.act, self.max_iterations = problem, representation, act, max_iterations

    def generate(self, change_percentage: float | None, map_seeds: Sequence[Sequence[int]],
                 start_probs: np.ndarray | None) -> tuple[np.ndarray, Stats]:
        """Every map stepped by ``act`` in one simulator until its budgets end it (early stop off)."""
        sim = _seeded_maps(self.problem, self.representation, map_seeds, start_probs, change_percentage or 0.0)
        if self.max_iterations is not None:
            sim.max_iterations = self.max_iterations
        torch.manual_seed(derive_seed(PROTOCOL_SEED, round(1000 * (change_percentage or 0.0))))
        play_episodes(sim, self.act)
        return _levels_and_stats(sim, len(map_seeds))


def sb3_policy(model: Any, deterministic: bool = False) -> Callable[[np.ndarray], np.ndarray]:
    """``act`` of a stable-baselines3 model (anything with ``predict(observations, deterministic)``): sampled
    actions by default, as the reference's inference (stable-baselines' ``predict`` defaults to sampling)."""
    return lambda observations: np.asarray(model.predict(observations, deterministic=deterministic)[0])


def start_probabilities(problem: Problem, count: int, rng: np.random.Generator, start: Start) -> np.ndarray | None:
    """(count, N) tile probabilities of the starting maps: binary's p(empty) ~ U[0, 1) for ``reference``
    (None, the problem's own table, otherwise and for problems whose table is fixed)."""
    if start == "reference" and problem.redraws_probs:
        return problem.next_probs(rng.random(count), np.tile(problem.initial_probs(), (count, 1)))
    return None


@dataclass
class ProtocolRow:
    """One change percentage (None: no change budget): the per-seed values and their summaries."""

    change_percentage: float | None
    valid: list[float]  # share of valid final levels, per seed
    diversity: list[float]  # mean pairwise Hamming distance / tiles, per seed
    distinct_valid: list[int]  # distinct valid levels, per seed
    path: list[float]  # mean path (solution) length, per seed

    def summary(self, name: str) -> Summary:
        """Mean, std and 95 % interval over seeds of ``valid``, ``diversity``, ``distinct_valid`` or ``path``."""
        return summarise(getattr(self, name))


@dataclass
class ProtocolResult:
    problem: str
    representation: str
    start: str
    seeds: int
    maps: int
    rows: list[ProtocolRow]
    starting_maps: ProtocolRow | None = None  # the control: the same statistics of the untouched starting maps

    def to_json(self) -> dict[str, Any]:
        """Everything, with each row's summaries (what level_protocol.json holds)."""
        def row_json(row: ProtocolRow) -> dict[str, Any]:
            return {**asdict(row), **{f"{name}_summary": asdict(row.summary(name)) for name in
                                      ("valid", "diversity", "distinct_valid", "path")}}

        return {**{k: v for k, v in asdict(self).items() if k not in ("rows", "starting_maps")},
                "rows": [row_json(row) for row in self.rows],
                "starting_maps": None if self.starting_maps is None else row_json(self.starting_maps)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProtocolResult:
        """The result :meth:`to_json` wrote (other keys, such as what was judged, are ignored)."""
        def row(item: dict[str, Any]) -> ProtocolRow:
            return ProtocolRow(item["change_percentage"], item["valid"], item["diversity"], item["distinct_valid"],
                               item["path"])

        control = data.get("starting_maps")
        return cls(data["problem"], data["representation"], data["start"], data["seeds"], data["maps"],
                   [row(item) for item in data["rows"]], None if control is None else row(control))

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Header and rows: change percentage, valid %, diversity, distinct valid levels, path; mean [95 % CI],
        the interval clipped to the values the measure can take (a share in [0, 1], a count >= 0)."""
        def cell(summary: Summary, scale: float = 1.0, digits: int = 1, high: float = math.inf) -> str:
            if summary.n < 2:
                return f"{summary.mean * scale:.{digits}f}"
            low, top = max(summary.ci_low, 0.0) * scale, min(summary.ci_high, high) * scale
            return f"{summary.mean * scale:.{digits}f} [{low:.{digits}f}, {top:.{digits}f}]"

        header = ["change %", "valid %", "Hamming diversity", f"distinct valid (of {self.maps})",
                  f"mean {PATH_STAT[self.problem]}"]
        def cells(label: str, row: ProtocolRow) -> list[str]:
            return [label, cell(row.summary("valid"), 100, high=1.0), cell(row.summary("diversity"), 1, 3, high=1.0),
                    cell(row.summary("distinct_valid")), cell(row.summary("path"))]

        body = [cells("starting maps", self.starting_maps)] if self.starting_maps is not None else []
        body += [cells("whole rewrite" if row.change_percentage is None else f"{row.change_percentage:.0%}", row)
                 for row in self.rows]
        return header, body

    def lines(self) -> list[str]:
        """The table as aligned text lines under a one-line heading (what `evoforge levels` prints)."""
        header, body = self.table()
        widths = [max(len(header[i]), *(len(r[i]) for r in body)) for i in range(len(header))]
        fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))
        return [f"{self.problem}-{self.representation}: the reference's evaluation protocol (early stop off, starting "
                f"maps at {'the reference' if self.start == 'reference' else 'the problem'}'s densities), "
                f"{self.seeds} seeds x {self.maps} maps; mean [95 % CI] over seeds", fmt(header),
                *(fmt(row) for row in body)]

    def plot(self, path: Path) -> Path:
        """Valid % and Hamming diversity against the change percentage, each with its 95 % band."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        swept = [row for row in self.rows if row.change_percentage is not None]
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        for ax, name, scale, label in ((axes[0], "valid", 100, "valid levels (%)"),
                                       (axes[1], "diversity", 1, "Hamming diversity")):
            if swept:
                x = [row.change_percentage for row in swept]
                summaries = [row.summary(name) for row in swept]
                ax.plot(x, [s.mean * scale for s in summaries], marker="o")
                if self.seeds > 1:
                    ax.fill_between(x, [s.ci_low * scale for s in summaries], [s.ci_high * scale for s in summaries],
                                    alpha=0.25, linewidth=0)
                ax.set_xlabel("change percentage")
            else:  # the NCA: one value per seed
                values = np.asarray(getattr(self.rows[0], name)) * scale
                ax.bar([0], [values.mean()], yerr=[[values.mean() - self.rows[0].summary(name).ci_low * scale]]
                       if self.seeds > 1 else None, width=0.5)
                ax.set_xticks([0], ["whole rewrite"])
            if self.starting_maps is not None:
                ax.axhline(self.starting_maps.summary(name).mean * scale, color="grey", linestyle="--",
                           label="starting maps")
                ax.legend(fontsize=8)
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        fig.suptitle(f"{self.problem}-{self.representation}, {self.seeds} seeds x {self.maps} maps (95 % CI)")
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path


def evaluate_levels(source: LevelSource, problem: Problem, seeds: int = 5, maps: int = 50,
                    change_percentages: Sequence[float] = CHANGE_PERCENTAGES, start: Start = "reference",
                    progress: Callable[[int, int], None] | None = None) -> ProtocolResult:
    """Put ``source`` through the protocol (module docstring): every change percentage (one row without a
    budget for the NCA) x ``seeds`` seeds x ``maps`` starting maps. ``progress(done, total)`` after each row."""
    if seeds < 1 or maps < 2:
        raise ValueError(f"the protocol needs seeds >= 1 and maps >= 2 (for a diversity), got {seeds} and {maps}")
    for p in change_percentages:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"change percentages must be in [0, 1], got {p}")
    map_seeds = [episode_seeds(derive_seed(PROTOCOL_SEED, s), maps) for s in range(seeds)]
    densities = [start_probabilities(problem, maps, np.random.default_rng(derive_seed(PROTOCOL_SEED, s, 1)), start)
                 for s in range(seeds)]
    start_probs = None if densities[0] is None else np.concatenate(densities)
    budgets: list[float | None] = [None] if source.representation == "nca" else [float(p) for p in change_percentages]
    def row(p: float | None, levels: np.ndarray, final: Stats) -> ProtocolRow:
        valid = np.asarray(problem.valid(final), dtype=bool).reshape(seeds, maps)
        path = np.asarray(final[PATH_STAT[problem.name]], dtype=float).reshape(seeds, maps)
        return ProtocolRow(p, [float(v.mean()) for v in valid], [hamming_diversity(lv) for lv in levels],
                           [distinct_count(lv[v]) for lv, v in zip(levels, valid)], [float(x.mean()) for x in path])

    rows = []
    for done, p in enumerate(budgets, 1):
        rows.append(row(p, *source.generate(p, map_seeds, start_probs)))
        if progress is not None:
            progress(done, len(budgets))
    return ProtocolResult(problem.name, source.representation, start, seeds, maps, rows,
                          row(None, *starting_maps(problem, map_seeds, start_probs)))


def starting_maps(problem: Problem, map_seeds: Sequence[Sequence[int]], start_probs: np.ndarray | None
                  ) -> tuple[np.ndarray, Stats]:
    """The protocol's starting maps themselves, (S, K, H, W) and their statistics: the control every generator's
    row is read against (how many valid, distinct levels the random maps already are)."""
    return _levels_and_stats(_seeded_maps(problem, "narrow", map_seeds, start_probs), len(map_seeds))


def _seeded_maps(problem: Problem, representation: str, map_seeds: Sequence[Sequence[int]],
                 start_probs: np.ndarray | None, change_percentage: float = 0.2) -> PCGRLSimulator:
    """A simulator of S x K maps reset from ``map_seeds`` (and ``start_probs``), early stop off."""
    count = len(map_seeds) * len(map_seeds[0])
    sim = PCGRLSimulator(problem, make_representation(representation), count, change_percentage)
    sim.early_stop = False
    sim.reset(np.arange(count), [int(seed) for row in map_seeds for seed in row], probs=start_probs)
    return sim


def _levels_and_stats(sim: PCGRLSimulator, rows: int) -> tuple[np.ndarray, Stats]:
    """The simulator's maps as (rows, K, H, W) and a copy of their flat statistics."""
    return (sim.levels.copy().reshape(rows, -1, *sim.levels.shape[1:]),
            {key: values.copy() for key, values in sim.stats.items()})
