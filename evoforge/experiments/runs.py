"""Reading a finished run back as its experiment."""

from __future__ import annotations

from pathlib import Path

from evoforge.experiments import load_experiment
from evoforge.experiments.base import Experiment
from evoforge.search.rundir import RunDir


def run_experiment(run_dir: str | Path) -> Experiment:
    """The experiment of a run directory, rebuilt from its saved config.yaml."""
    return load_experiment(RunDir(run_dir).require().config_path, [])
