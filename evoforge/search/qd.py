"""Quality-diversity search with pyribs on the engine: CMA-ME and MAP-Elites over flat genomes.

pyribs does the search (its :class:`~ribs.archives.GridArchive`, emitters and
:class:`~ribs.schedulers.Scheduler`); this module only connects it to the run's searcher protocol:

* CMA-ME (Fontaine et al. 2020, "Covariance Matrix Adaptation for the Rapid Illumination of Behavior Space",
  GECCO): ``emitters`` CMA-ES improvement emitters (``EvolutionStrategyEmitter``, ranker ``2imp``), each
  ``batch_size`` solutions per generation, step size ``sigma`` -- Earle et al. 2022's NCA search used 5 x 30
  with sigma 1 on a 100 x 100 grid.
* MAP-Elites (Mouret & Clune 2015, arXiv 1504.04909): ``GaussianEmitter``, an elite drawn uniformly from the
  archive plus N(0, sigma^2 I) noise (``x0`` plus noise while the archive is empty).

Each generation asks the scheduler for solutions, scores them on the pool in one batch, and tells the
scheduler their fitness (the objective), the configured ``measures`` (metric names of the evaluation: the
behaviour descriptors) and the extra ``fields`` kept per elite (e.g. ``valid``). pyribs takes finite objectives only,
so a failed evaluation is told as objective ``FAILED_OBJECTIVE`` (-1e12) at the archive's lower corner: any real
solution replaces it, and the elites and statistics below leave it out. The scheduler (archive, emitters and
their random generators) is pickled whole into every checkpoint, so a resumed search is the uninterrupted one.

Logged per generation: ``qd_score`` (sum over elites of objective - ``qd_score_offset``), ``coverage`` (share of
cells filled), ``elites``, ``objective_max`` / ``objective_mean``, and per extra field its mean over the elites
(``elite_valid``).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from evoforge.search.evaluation import Evaluation

__all__ = ["QDSearcher", "QDSettings"]

FAILED_OBJECTIVE = -1e12  # what a failed evaluation is told: below any real objective


class QDSettings(BaseModel):
    """The ``search:`` section of a quality-diversity search (``algorithm: cma_me`` or ``map_elites``)."""

    model_config = ConfigDict(extra="forbid")

    algorithm: Literal["cma_me", "map_elites"] = "cma_me"
    generations: int = Field(100, ge=1)
    emitters: int = Field(5, ge=1, description="emitters (CMA-ME: improvement emitters; Earle et al.: 5)")
    batch_size: int = Field(30, ge=2, description="solutions per emitter per generation (Earle et al.: 30)")
    sigma: float = Field(1.0, gt=0, description="initial step size (CMA-ME) or mutation std (MAP-Elites)")
    cells: list[int] = Field(default_factory=lambda: [20, 20], description="archive cells per descriptor "
                             "(Earle et al.: 100 x 100)")
    measures: list[str] = Field(default_factory=list, description="behaviour descriptors, metric names of the "
                                "evaluation (empty: the experiment's defaults)")
    ranges: list[list[float]] = Field(default_factory=list, description="[low, high] per descriptor (empty: the "
                                      "experiment's defaults)")
    qd_score_offset: float = Field(0.0, description="QD score = sum over elites of (objective - offset)")

    @model_validator(mode="after")
    def _consistent(self) -> QDSettings:
        if self.measures and len(self.cells) != len(self.measures):
            raise ValueError(f"cells has {len(self.cells)} entries but measures has {len(self.measures)}")
        if self.ranges and len(self.ranges) != len(self.cells):
            raise ValueError(f"ranges has {len(self.ranges)} entries but cells has {len(self.cells)}")
        for bounds in self.ranges:
            if len(bounds) != 2 or not bounds[0] < bounds[1]:
                raise ValueError(f"each range must be [low, high] with low < high, got {bounds}")
        if any(c < 1 for c in self.cells):
            raise ValueError(f"cells must be >= 1 each, got {self.cells}")
        return self

    @property
    def popsize(self) -> int:
        """Solutions per generation."""
        return self.emitters * self.batch_size


class QDSearcher:
    """pyribs' scheduler behind the run's searcher protocol (module docstring).

    Args:
        settings: the ``search:`` section.
        x0: the initial solution (the emitters' start).
        measures: metric names of the descriptors, and ``ranges`` their [low, high].
        seed: seeds the archive and each emitter (``seed + 1 + i``).
        fields: metric names kept per elite (pyribs extra fields), e.g. ``valid``.
    """

    def __init__(self, settings: QDSettings, x0: torch.Tensor | np.ndarray, measures: Sequence[str],
                 ranges: Sequence[Sequence[float]], seed: int, fields: Sequence[str] = ()) -> None:
        from ribs.archives import GridArchive
        from ribs.emitters import EvolutionStrategyEmitter, GaussianEmitter
        from ribs.schedulers import Scheduler

        if len(measures) != len(settings.cells) or len(ranges) != len(settings.cells):
            raise ValueError(f"{len(settings.cells)} archive dimensions need as many measures and ranges, got "
                             f"{len(measures)} and {len(ranges)}")
        self.settings, self.measures, self.fields = settings, tuple(measures), tuple(fields)
        x0 = np.asarray(torch.as_tensor(x0, dtype=torch.float64).flatten())
        archive = GridArchive(solution_dim=len(x0), dims=settings.cells, ranges=[tuple(r) for r in ranges],
                              qd_score_offset=settings.qd_score_offset, seed=seed,
                              extra_fields={name: ((), np.float64) for name in self.fields} or None)
        if settings.algorithm == "cma_me":
            emitters = [EvolutionStrategyEmitter(archive, x0=x0, sigma0=settings.sigma, ranker="2imp",
                                                 batch_size=settings.batch_size, seed=seed + 1 + i)
                        for i in range(settings.emitters)]
        else:
            emitters = [GaussianEmitter(archive, sigma=settings.sigma, x0=x0, batch_size=settings.batch_size,
                                        seed=seed + 1 + i) for i in range(settings.emitters)]
        self.scheduler = Scheduler(archive, emitters)
        self.lower = np.array([r[0] for r in ranges], dtype=np.float64)

    @property
    def archive(self) -> Any:
        """The pyribs archive of elites."""
        return self.scheduler.archive

    @property
    def center(self) -> None:
        """None: a QD search has no distribution centre to re-score; its result is the archive."""
        return None

    def step(self, evaluate: Callable[[torch.Tensor], list[Evaluation]]) -> None:
        """Ask the scheduler for a batch, score it in one call, tell the scheduler."""
        solutions = self.scheduler.ask()
        evaluations = evaluate(torch.as_tensor(solutions, dtype=torch.float32))
        objective = np.array([FAILED_OBJECTIVE if e.failed else e.fitness for e in evaluations])
        measures = np.array([self.lower if e.failed else [e.metrics[m] for m in self.measures]
                             for e in evaluations], dtype=np.float64)
        extra = {name: np.array([np.nan if e.failed else e.metrics.get(name, np.nan) for e in evaluations])
                 for name in self.fields}
        self.scheduler.tell(objective, measures, **extra)

    def elites(self, fields: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Every real elite (failed placeholders left out): ``solution``, ``objective``, ``measures``, ``index``
        (flat cell) and the extra fields, or only ``fields``."""
        data = self.archive.data(None if fields is None else ["objective", *fields])
        keep = data["objective"] > FAILED_OBJECTIVE / 2
        return {key: np.asarray(values)[keep] for key, values in data.items()
                if fields is None or key in fields or key == "objective"}

    def metrics(self) -> dict[str, float]:
        """The archive's QD score, coverage, elites, best and mean objective, and each field's elite mean."""
        elites = self.elites(list(self.fields))
        objective, cells = elites["objective"], int(np.prod(self.settings.cells))
        out = {"qd_score": float(np.sum(objective - self.settings.qd_score_offset)),
               "coverage": len(objective) / cells, "elites": float(len(objective)),
               "objective_max": float(objective.max()) if len(objective) else float("nan"),
               "objective_mean": float(objective.mean()) if len(objective) else float("nan")}
        out.update({f"elite_{name}": float(np.nanmean(elites[name])) if len(objective) else float("nan")
                    for name in self.fields})
        return out

    def state_bytes(self) -> bytes:
        """The pyribs scheduler pickled whole: archive, emitters and their random generators."""
        return pickle.dumps(self.scheduler)

    def load_state_bytes(self, data: bytes) -> None:
        """Restore :meth:`state_bytes`; the search then continues exactly."""
        self.scheduler = pickle.loads(data)
