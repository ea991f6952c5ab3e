"""Loading and validating experiment configs.

A config is YAML; ``--set key.path=value`` overrides are applied before validation, and validation happens
before anything starts (no Ray, no run directory). Every problem -- unknown key, wrong type, out-of-range
value, missing file, unknown env id -- becomes a :class:`ConfigError` whose one-line message names the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evoforge.errors import ConfigError
from evoforge.search.settings import CenterEvalSettings, CheckpointSettings, PoolSettings, RunSettings
from evoforge.search.trackers import TrackingSettings


class BaseRunConfig(BaseModel):
    """Sections every experiment config has. Experiments subclass it and add their own sections."""

    model_config = ConfigDict(extra="forbid")

    experiment: str
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="run name (used for the run directory)")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$",
                        description="torch device of the evaluators: auto (a GPU the worker sees, else the CPU), "
                                    "cpu, cuda or cuda:INDEX (evoforge.devices)")
    pool: PoolSettings = PoolSettings()
    tracking: TrackingSettings = TrackingSettings()
    checkpoint: CheckpointSettings = CheckpointSettings()
    center_eval: CenterEvalSettings = CenterEvalSettings()

    def run_settings(self, generations: int, stop_fitness: float | None) -> RunSettings:
        """What the run loop needs from this config."""
        return RunSettings(
            name=self.name,
            seed=self.seed,
            device=self.device,
            tracking=self.tracking,
            generations=generations,
            pool=self.pool,
            checkpoint=self.checkpoint,
            center_eval=self.center_eval,
            stop_fitness=stop_fitness,
        )


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"search.popsize=32"`` -> (["search", "popsize"], 32); the value is parsed as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected key.path=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML ({exc.__class__.__name__})") from exc
    return key.strip().split("."), value


def set_value(data: dict[str, Any], path: list[str], value: Any, where: str = "--set") -> None:
    """Set ``data[path[0]][path[1]]... = value``, creating missing sections; ``where`` prefixes errors."""
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{where} {'.'.join(path)}: {part} is not a section")
        node = child
    node[path[-1]] = value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``--set key.path=value`` overrides to a config mapping in order (a later one wins); returns it."""
    for text in overrides:
        path, value = parse_override(text)
        set_value(data, path, value)
    return data


def read_yaml(path: Path) -> dict[str, Any]:
    """The mapping of a YAML config file; raises :class:`ConfigError` if it is missing, invalid or not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: invalid YAML{where}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return data


def format_validation_error(error: ValidationError) -> str:
    """One line for the first problem pydantic found: the dotted key, what is wrong, what was given."""
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if first["type"] == "missing":
        return f"{key}: required key is missing"
    message = first["msg"].removeprefix("Value error, ")
    given = first.get("input")
    shown = "" if isinstance(given, (dict, list)) or given is None else f" (got {given!r})"
    return f"{key}: {message}{shown}"


# Keys that changed name: a config that still uses the old one is refused with a line naming the new one.
RENAMED_KEYS: dict[str, str] = {
    "poet.iterations": "poet.generations",  # one budget word: generations
}


def refuse_renamed_keys(data: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the new key when ``data`` uses a key of :data:`RENAMED_KEYS`."""
    for old, new in RENAMED_KEYS.items():
        node: Any = data
        for part in old.split("."):
            node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                break
        else:
            raise ConfigError(f"{old}: renamed to {new}")


def validate(config_cls: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    """``data`` validated into ``config_cls``; the first problem becomes a one-line :class:`ConfigError`."""
    refuse_renamed_keys(data)
    try:
        return config_cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def dump_yaml(config: BaseModel) -> str:
    """The config as YAML, every default filled in, keys in the schema's order (what a run saves as config.yaml)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
