"""Experiments wire domain packages to the engine: a config schema, an evaluator factory, a searcher.

Each kind of experiment is one module registered in :data:`EXPERIMENTS`; a config's ``experiment:`` key picks
it, or names an experiment class of your own as ``package.module:Class`` (docs/extending.md). This is the only
layer that imports several domain packages at once.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from evoforge.errors import ConfigError
from evoforge.experiments.base import AttributeOptions, Experiment, InspectOptions, LevelOptions, ReplayOptions
from evoforge.experiments.config import apply_overrides, read_yaml, validate

__all__ = ["EXPERIMENTS", "AttributeOptions", "Experiment", "InspectOptions", "LevelOptions", "ReplayOptions", "build_experiment", "experiment_class",
           "load_experiment"]

# kind -> "module:ExperimentClass"; modules are imported only when their kind is used.
EXPERIMENTS: dict[str, str] = {
    "evonorm": "evoforge.experiments.evonorm:EvoNormExperiment",
    "function": "evoforge.experiments.function:FunctionExperiment",
    "gym_control": "evoforge.experiments.gym_control:GymControlExperiment",
    "hebbian": "evoforge.experiments.hebbian:HebbianExperiment",
    "nas": "evoforge.experiments.nas:NASExperiment",
    "nas_benchmark": "evoforge.experiments.nas_benchmark:NASBenchmarkExperiment",
    "pcgrl": "evoforge.experiments.pcgrl:PCGRLExperiment",
    "poet": "evoforge.experiments.poet:POETExperiment",
}


def experiment_class(kind: Any) -> type:
    """The experiment class of a config's ``experiment:`` value.

    A registered kind (a key of :data:`EXPERIMENTS`), or your own as ``"package.module:Class"``, imported from
    the current directory or the Python path (see docs/extending.md). Raises ConfigError when neither works.
    """
    if isinstance(kind, str) and kind.count(":") == 1 and kind not in EXPERIMENTS:
        return _user_experiment_class(kind)
    if kind not in EXPERIMENTS:
        known = ", ".join(sorted(EXPERIMENTS))
        raise ConfigError(f"experiment: unknown kind {kind!r} (known: {known}, or package.module:Class)")
    module_name, class_name = EXPERIMENTS[kind].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def _user_experiment_class(kind: str) -> type:
    module_name, class_name = kind.split(":")
    # The console script does not put the current directory on sys.path; Ray's workers get it, so the
    # driver should see the same modules they do.
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.append(str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"experiment: cannot import {module_name!r} ({exc})") from None
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type) or not issubclass(cls, Experiment):
        raise ConfigError(f"experiment: {kind!r} is not a subclass of evoforge.experiments.Experiment")
    return cls


def build_experiment(data: dict[str, Any]) -> Experiment:
    """Validate a config mapping and build its experiment. Raises ConfigError with a one-line message."""
    import evoforge.envs  # noqa: F401 - registers evoforge's gymnasium ids before env ids are validated

    cls = experiment_class(data.get("experiment"))
    config = validate(cls.config_class, data)
    try:
        return cls(config)
    except (ValueError, FileNotFoundError) as exc:
        raise ConfigError(str(exc).splitlines()[0]) from None


def load_experiment(path: Path, overrides: list[str] | None = None) -> Experiment:
    """Read a YAML config, apply ``--set`` overrides, validate it and build its experiment."""
    return build_experiment(apply_overrides(read_yaml(path), overrides or []))
