"""Ablation specs: what to run. A spec names a base config, the variants (explicit, a grid of overrides, or
both) and the seeds; :func:`plan` turns it into one fully validated config per (variant, seed).

A spec is YAML::

    name: hebbian_vs_static            # names the default output directory
    description: ...                   # optional, heads results.md
    config: ../configs/quickstart.yaml # base config, relative to the spec file (or to the current directory)
    seeds: 5                           # seeds 0..4, or an explicit list [0, 1, 7]
    set: {search.generations: 100}     # overrides applied to every variant
    variants:                          # explicit variants: name -> other config and/or overrides
      hebbian: {}
      static: {config: ../configs/es_cartpole.yaml, set: {policy.hidden: [16]}}
      costly: {seeds: 1, set: {...}}   # a variant may run fewer (or other) seeds than the spec's
    grid:                              # cartesian product of values, crossed with the variants
      search.popsize: [16, 32]
    metrics: [best_center_eval, solved_generation, final.fitness_mean]
    curve: center_eval                 # metrics.jsonl key for the learning-curve plot (optional; false: none)

Overrides apply in the order base config, ``set``, the variant's ``set``, its grid point, then ``evoforge
ablate --set``; the ablation itself sets ``seed`` and ``pool.backend: serial`` (each run evaluates in its own
Ray task). A metric is read from a finished run as: ``KEY`` or ``summary.KEY`` -- summary.json's value;
``final.KEY`` -- the last metrics.jsonl record's; ``max.KEY`` / ``min.KEY`` / ``mean.KEY`` -- over all records.
Booleans count as 0 / 1; a missing or null value leaves the run out of that metric's n.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from evoforge.experiments.config import ConfigError, parse_override, read_yaml, set_value

KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
METRIC = re.compile(r"^((summary|final|max|min|mean)\.)?[A-Za-z_][A-Za-z0-9_]*$")
VARIANT_NAME = re.compile(r"^[A-Za-z0-9_.=,+-]+$")
OWNED = {"seed": "seeds come from the spec's `seeds`",
         "pool.backend": "every run evaluates serially inside its own Ray task"}


PLAN_FILE = "plan.json"  # the ablation directory's list of runs (what `evoforge report` recognises it by)

def _check_keys(keys: Any) -> None:
    for key in keys:
        if not KEY.match(key):
            raise ValueError(f"{key!r} is not a dotted config key like search.popsize")
        if key in OWNED:
            raise ValueError(f"{key} is set by the ablation ({OWNED[key]})")


def _valid_seeds(value: int | list[int]) -> int | list[int]:
    if isinstance(value, int):
        if value < 1:
            raise ValueError("must be >= 1 (the number of seeds) or a list of seeds")
        return value
    if not value:
        raise ValueError("the list of seeds is empty")
    if len(set(value)) != len(value) or min(value) < 0 or max(value) > 2**31 - 1:
        raise ValueError("seeds must be distinct integers in [0, 2**31 - 1]")
    return value


def seed_list(seeds: int | list[int]) -> list[int]:
    """The seeds to run: 0..n-1 for ``seeds: n``, else the listed seeds."""
    return list(range(seeds)) if isinstance(seeds, int) else list(seeds)


class VariantSpec(BaseModel):
    """One named variant of a spec: its own base config (optional), its overrides and its seeds (optional)."""

    model_config = ConfigDict(extra="forbid")

    config: str | None = Field(None, description="this variant's base config instead of the spec's")
    set: dict[str, Any] = Field(default_factory=dict, description="dotted key -> value")
    seeds: int | list[int] | None = Field(None, description="this variant's seeds instead of the spec's")

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: int | list[int] | None) -> int | list[int] | None:
        return None if value is None else _valid_seeds(value)

    @field_validator("set")
    @classmethod
    def _keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_keys(value)
        return value


class AblationSpec(BaseModel):
    """An ablation spec as validated from YAML (see the module docstring): base config, seeds, common
    overrides, variants and grid, metrics, and the learning-curve key.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    config: str | None = Field(None, description="base config of every variant that names none")
    seeds: int | list[int] = Field(3, description="n (seeds 0..n-1) or a list of seeds")
    set: dict[str, Any] = Field(default_factory=dict)
    variants: dict[str, VariantSpec] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    metrics: list[str] = Field(min_length=1)
    curve: str | Literal[False] | None = Field(
        None, description="metrics.jsonl key plotted per generation (default: the first of center_eval, best_so_far, "
                          "annecs that the runs log; false: no curves)")

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: int | list[int]) -> int | list[int]:
        return _valid_seeds(value)

    @field_validator("set")
    @classmethod
    def _set_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_keys(value)
        return value

    @field_validator("variants")
    @classmethod
    def _variant_names(cls, value: dict[str, VariantSpec]) -> dict[str, VariantSpec]:
        for name in value:
            if not VARIANT_NAME.match(name):
                raise ValueError(f"variant name {name!r}: use letters, digits and _ . = , + - only")
        return value

    @field_validator("grid")
    @classmethod
    def _grid(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        _check_keys(value)
        for key, values in value.items():
            if not values:
                raise ValueError(f"{key}: needs at least one value")
            shown = [format_value(v) for v in values]
            if len(set(shown)) != len(shown):
                raise ValueError(f"{key}: values repeat")
        return value

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, value: list[str]) -> list[str]:
        for metric in value:
            if not METRIC.match(metric):
                raise ValueError(f"{metric!r}: expected KEY, summary.KEY, final.KEY, max.KEY, min.KEY or mean.KEY")
        if len(set(value)) != len(value):
            raise ValueError("a metric is listed twice")
        return value

    @model_validator(mode="after")
    def _no_clash(self) -> "AblationSpec":
        for name, variant in self.variants.items():
            clash = sorted(set(variant.set) & set(self.grid))
            if clash:
                raise ValueError(f"variant {name} sets {clash[0]}, which the grid varies")
        return self

    @property
    def seed_list(self) -> list[int]:
        """Every seed some variant runs, in order: the spec's, then any a variant adds."""
        extra = [seed for variant in self.variants.values() if variant.seeds is not None
                 for seed in seed_list(variant.seeds)]
        return list(dict.fromkeys(seed_list(self.seeds) + extra))


@dataclass(frozen=True)
class Variant:
    """One arm of the ablation: a base config and the overrides that make it."""

    name: str
    config: Path
    overrides: dict[str, Any]  # dotted key -> value, in the order they apply
    seeds: tuple[int, ...]  # the seeds this variant runs


@dataclass(frozen=True)
class PlannedRun:
    variant: str
    seed: int
    directory: str  # relative to the ablation directory: VARIANT/seed-N
    config: dict[str, Any]  # the validated config, every default filled in (what config.yaml holds)


def format_value(value: Any) -> str:
    """A grid value as it appears in variant names: YAML scalars as written, lists / mappings as compact JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def directory_name(variant: str) -> str:
    """A variant name as a directory name (``/`` and other unsafe characters become ``_``)."""
    return re.sub(r"[^A-Za-z0-9_.=,+-]", "_", variant)


def _location(loc: tuple) -> str:
    parts = []
    for part in loc:
        text = str(part)
        parts.append(f"[{text}]" if "." in text else (f".{text}" if parts else text))
    return "".join(parts) or "(top level)"


def load_spec(path: Path) -> AblationSpec:
    """Read and validate a spec file; ConfigError (one line, naming the key) when it is wrong."""
    data = read_yaml(path)
    try:
        return AblationSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = _location(first["loc"])
        if first["type"] == "extra_forbidden":
            raise ConfigError(f"{path}: {key}: unknown key") from None
        if first["type"] == "missing":
            raise ConfigError(f"{path}: {key}: required key is missing") from None
        raise ConfigError(f"{path}: {key}: {first['msg'].removeprefix('Value error, ')}") from None


def resolve_config(reference: str, spec_path: Path) -> Path:
    """A config named in a spec: relative to the spec's folder first, then to the current directory."""
    candidate = Path(reference)
    if candidate.is_absolute():
        options = [candidate]
    else:
        options = [Path(spec_path).parent / candidate, Path.cwd() / candidate]
    for option in options:
        if option.is_file():
            return option.resolve()
    raise ConfigError(f"{spec_path}: config {reference}: no such file (looked next to the spec and in the current "
                      "directory)")


def variants(spec: AblationSpec, spec_path: Path) -> list[Variant]:
    """Every variant: the explicit ones (or the base config alone) crossed with every grid point."""
    explicit = spec.variants or {"": VariantSpec()}
    keys = list(spec.grid)
    points = [dict(zip(keys, values)) for values in itertools.product(*(spec.grid[k] for k in keys))]
    result: list[Variant] = []
    for label, variant in explicit.items():
        reference = variant.config or spec.config
        if reference is None:
            where = f"variants.{label}.config" if label else "config"
            raise ConfigError(f"{spec_path}: {where}: required (no base config at the top of the spec)")
        config = resolve_config(reference, spec_path)
        for point in points:
            name = ",".join([label] * bool(label) + [f"{k}={format_value(v)}" for k, v in point.items()]) or "base"
            seeds = seed_list(spec.seeds if variant.seeds is None else variant.seeds)
            result.append(Variant(name, config, {**spec.set, **variant.set, **point}, tuple(seeds)))
    seen: dict[str, str] = {}
    for variant in result:
        folder = directory_name(variant.name)
        if folder in seen:
            raise ConfigError(f"{spec_path}: variants {seen[folder]!r} and {variant.name!r} share the directory "
                              f"{folder}")
        seen[folder] = variant.name
    return result


def parse_cli_overrides(overrides: list[str], spec: AblationSpec) -> dict[str, Any]:
    """``--set`` arguments of ``evoforge ablate``; refused for keys the spec varies or the ablation owns."""
    varied = set(spec.grid) | {key for variant in spec.variants.values() for key in variant.set}
    parsed: dict[str, Any] = {}
    for text in overrides:
        path, value = parse_override(text)
        key = ".".join(path)
        if key in OWNED:
            raise ConfigError(f"--set {key}: set by the ablation ({OWNED[key]})")
        if key in varied:
            raise ConfigError(f"--set {key}: the spec varies this key between variants")
        parsed[key] = value
    return parsed


def plan(spec: AblationSpec, spec_path: Path, cli_overrides: dict[str, Any] | None = None) -> list[PlannedRun]:
    """One validated config per (variant, seed), seed-major (all variants of a seed before the next seed, so
    an ablation stopped half-way has every variant at similar n). Raises ConfigError naming the variant and key."""
    from evoforge.experiments import build_experiment

    runs = []
    base_cache: dict[Path, dict[str, Any]] = {}
    arms = variants(spec, spec_path)
    for seed in spec.seed_list:
        for variant in arms:
            if seed not in variant.seeds:
                continue
            if variant.config not in base_cache:
                base_cache[variant.config] = read_yaml(variant.config)
            data = yaml.safe_load(yaml.safe_dump(base_cache[variant.config]))  # a deep copy
            for key, value in {**variant.overrides, **(cli_overrides or {}), "seed": seed,
                               "pool.backend": "serial"}.items():
                set_value(data, key.split("."), value, where=f"variant {variant.name}:")
            try:
                experiment = build_experiment(data)
            except ConfigError as exc:
                raise ConfigError(f"variant {variant.name}: {exc}") from None
            runs.append(PlannedRun(variant.name, seed, f"{directory_name(variant.name)}/seed-{seed}",
                                   experiment.config.model_dump(mode="json")))
    return runs
