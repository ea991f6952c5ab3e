"""Reading finished run directories back: the experiment, a genome, its returns on any env."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch

from evoforge.experiments import load_experiment
from evoforge.experiments.gym_control import load_genome

GenomeKind = Literal["best", "initial"]


def run_experiment(run_dir: Path) -> Any:
    """The experiment of a run directory, from its saved config.yaml."""
    return load_experiment(Path(run_dir) / "config.yaml", [])


def run_genome(run_dir: Path, kind: GenomeKind = "best", experiment: Any = None) -> torch.Tensor:
    """``best``: the run's best centre (or best sample) from best.pt; ``initial``: its generation-0 centre."""
    if kind == "best":
        return load_genome(Path(run_dir) / "best.pt")
    experiment = experiment if experiment is not None else run_experiment(run_dir)
    return experiment.make_searcher().center


def replay_returns(run_dir: str | Path, kind: GenomeKind, env_id: str, episodes: int, seed: int) -> list[float]:
    """Returns of ``episodes`` episodes (seeds derived from ``seed``) of a run's genome on ``env_id``.

    One torch thread, so that several of these can share the cores as separate processes.
    """
    torch.set_num_threads(1)
    experiment = run_experiment(Path(run_dir))
    genome = run_genome(Path(run_dir), kind, experiment)
    returns, _ = experiment.replay(genome, episodes, seed, record=False, env_id=env_id)
    return returns
