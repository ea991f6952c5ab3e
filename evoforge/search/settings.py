"""Settings every run has, whatever it searches: the pool, checkpoints, evaluation of the search center.

Experiment configs embed these sections; validation happens before anything starts (see
``evoforge.experiments.config``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class PoolSettings(BaseModel):
    """The ``pool:`` section: backend, actors, chunk size, tolerated failures and actor restarts."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["ray", "serial"] = "ray"
    workers: int | None = Field(None, ge=1, description="actors; default one per CPU of the Ray cluster")
    chunk_size: int | None = Field(None, ge=1, description="genomes per task; default population / (4 workers) on Ray")
    max_failure_fraction: float = Field(
        0.25, ge=0, le=1, description="stop the run when more than this share of a generation fails"
    )
    max_restarts: int = Field(3, ge=0, description="restarts of a dead actor before the run gives up")
    gpus_per_worker: float = Field(0.0, ge=0, description="GPUs (fractions allowed) Ray gives each actor; 0: "
                                                          "none (the actors see no GPU)")
    connect_timeout_s: float = Field(10.0, gt=0, description="--address HOST:PORT: give up (one line, exit 2) "
                                                             "when the head does not answer within this")
    head_lost_after_s: float = Field(10.0, gt=0, description="Ray backend: stop the run (status failed, last "
                                     "generation checkpointed) when the cluster's head has not answered for this")
    heartbeat_s: float = Field(2.0, gt=0, description="Ray backend: while waiting for results, check the head and "
                               "the nodes this often (a node that left has its chunks re-run)")
    population_transfer: Literal["seeds", "vectors"] = Field(
        "seeds", description="openai_es: send each genome to the actors as its noise seed (the center once per "
        "batch) or as its whole parameter vector; the genomes are the same")


class CheckpointSettings(BaseModel):
    """The ``checkpoint:`` section: how often to write one and how many to keep."""

    model_config = ConfigDict(extra="forbid")

    every: int = Field(1, ge=1, description="write a checkpoint every N generations (and at the end)")
    keep: int = Field(3, ge=1, description="how many of the newest checkpoints to keep")


class CenterEvalSettings(BaseModel):
    """Score the search distribution's center on fresh seeds (ES's deployable policy)."""

    model_config = ConfigDict(extra="forbid")

    every: int = Field(1, ge=0, description="every N generations; 0 turns it off")
    evaluations: int = Field(10, ge=1, description="evaluations of the center, each with its own seed")


@dataclass(frozen=True)
class RunSettings:
    """What :class:`~evoforge.search.run.Run` needs from an experiment's config."""

    name: str
    seed: int
    generations: int
    pool: PoolSettings
    checkpoint: CheckpointSettings
    center_eval: CenterEvalSettings
    stop_fitness: float | None = None  # stop once the center's mean evaluation reaches this
    device: str = "auto"  # the evaluators' torch device (evoforge.devices)
    tracking: Any = None  # TrackingSettings of the config's tracking: section (None: TensorBoard only)
