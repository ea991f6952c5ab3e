"""Experiments wire domain packages to the engine: a config schema, an evaluator factory, a searcher.

Each kind of experiment is one module registered in :data:`EXPERIMENTS`; a config's ``experiment:`` key picks
it. This is the only layer that imports several domain packages at once.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from evoforge.experiments.config import ConfigError, apply_overrides, read_yaml, validate

# kind -> "module:ExperimentClass"; modules are imported only when their kind is used.
EXPERIMENTS: dict[str, str] = {
    "evonorm": "evoforge.experiments.evonorm:EvoNormExperiment",
    "function": "evoforge.experiments.function:FunctionExperiment",
    "gym_control": "evoforge.experiments.gym_control:GymControlExperiment",
    "hebbian": "evoforge.experiments.hebbian:HebbianExperiment",
    "nas": "evoforge.experiments.nas:NASExperiment",
    "nas_benchmark": "evoforge.experiments.nas:NASBenchmarkExperiment",
    "pcgrl": "evoforge.experiments.pcgrl:PCGRLExperiment",
    "poet": "evoforge.experiments.poet:POETExperiment",
}


def experiment_class(kind: Any) -> type:
    if kind not in EXPERIMENTS:
        known = ", ".join(sorted(EXPERIMENTS))
        raise ConfigError(f"experiment: unknown kind {kind!r} (known: {known})")
    module_name, class_name = EXPERIMENTS[kind].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def build_experiment(data: dict[str, Any]) -> Any:
    """Validate a config mapping and build its experiment. Raises ConfigError with a one-line message."""
    import evoforge.envs  # noqa: F401 - registers evoforge's gymnasium ids before env ids are validated

    cls = experiment_class(data.get("experiment"))
    config = validate(cls.config_class, data)
    try:
        return cls(config)
    except (ValueError, FileNotFoundError) as exc:
        raise ConfigError(str(exc).splitlines()[0]) from None


def load_experiment(path: Path, overrides: list[str] | None = None) -> Any:
    return build_experiment(apply_overrides(read_yaml(path), overrides or []))
