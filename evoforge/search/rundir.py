"""The run directory: every file a run writes, read and written in one place.

::

    config.yaml        the validated config, as run (every default filled in)
    metrics.jsonl      one record per generation (TensorBoard events in tensorboard/)
    checkpoints/       ckpt-NNNNNN.ckpt, atomic and checksummed, the newest ``checkpoint.keep`` kept
    best.pt            the best genome sampled so far, and the best-scoring search center
    summary.json       status and headline numbers (rewritten at every checkpoint and at the end)
    ...                files an experiment derives from its searcher (``artifact(name)``), e.g. POET's
                       environments.json or the NAS benchmark's benchmark.jsonl and report

Readers are tolerant where a killed process can leave damage behind: a torn last line of metrics.jsonl is
skipped (and dropped on resume), a truncated or corrupt checkpoint is skipped for the newest valid one.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoforge.errors import CheckpointError, UserError
from evoforge.search import checkpoint as ckpt
from evoforge.search.storage import atomic_write_bytes, atomic_write_text, write_json

# What a checkpoint written by this version holds; older ones are refused with one line (see check_format).
CHECKPOINT_FORMAT = 2
FORMAT_NAMES = {1: "format 1 (evoforge 0.1 before the one-engine loop: evotorch searcher objects, own-loop "
                   "POET and NAS benchmark states)"}
# own-loop state of evoforge 0.1's POET and NAS benchmark (runs that never wrote checkpoints/)
LEGACY_STATE_FILES = ("poet_state.ckpt", "benchmark.jsonl")


@dataclass(frozen=True)
class BestGenome:
    """One entry of best.pt: the genome, its score and the generation it was found in."""

    kind: str  # "center" (the best-scoring search center) or "sample" (the best genome evaluated)
    genome: Any
    score: float | None
    generation: int
    context: Any = None  # the evaluation context it was scored with (e.g. an observation normaliser)


class RunDir:
    """The directory of one run; see the module docstring for its files."""

    CONFIG = "config.yaml"
    METRICS = "metrics.jsonl"
    SUMMARY = "summary.json"
    BEST = "best.pt"
    CHECKPOINTS = "checkpoints"
    TENSORBOARD = "tensorboard"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)

    # -- paths ---------------------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        """``config.yaml``."""
        return self.path / self.CONFIG

    @property
    def metrics_path(self) -> Path:
        """``metrics.jsonl``."""
        return self.path / self.METRICS

    @property
    def summary_path(self) -> Path:
        """``summary.json``."""
        return self.path / self.SUMMARY

    @property
    def best_path(self) -> Path:
        """``best.pt``."""
        return self.path / self.BEST

    @property
    def checkpoint_dir(self) -> Path:
        """``checkpoints/``."""
        return self.path / self.CHECKPOINTS

    @property
    def tensorboard_dir(self) -> Path:
        """``tensorboard/``."""
        return self.path / self.TENSORBOARD

    def artifact(self, name: str) -> Path:
        """The path of a file an experiment derives from its run (``environments.json``, ``report.md``, ...)."""
        return self.path / name

    # -- config --------------------------------------------------------------------------------------------
    def is_run(self) -> bool:
        """True when the directory holds a run (its config.yaml)."""
        return self.config_path.is_file()

    def require(self) -> "RunDir":
        """This run directory; raises :class:`UserError` when there is no config.yaml."""
        if not self.is_run():
            raise UserError(f"{self.path} is not a run directory (no {self.CONFIG})")
        return self

    def write_config(self, text: str) -> None:
        """Write config.yaml (the validated config as YAML), creating the directory."""
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.config_path, text)

    def read_config(self) -> dict[str, Any]:
        """config.yaml as a plain mapping; raises :class:`UserError` when missing or not valid YAML."""
        import yaml

        self.require()
        try:
            data = yaml.safe_load(self.config_path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise UserError(f"{self.config_path}: not valid YAML ({type(exc).__name__})") from None
        if not isinstance(data, dict):
            raise UserError(f"{self.config_path}: expected a mapping of sections")
        return data

    # -- summary -------------------------------------------------------------------------------------------
    def read_summary(self) -> dict[str, Any] | None:
        """summary.json, or None when there is none yet (or it cannot be read)."""
        try:
            return json.loads(self.summary_path.read_text())
        except (OSError, ValueError):
            return None

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write summary.json atomically (non-finite numbers as null)."""
        write_json(self.summary_path, summary)

    # -- metrics -------------------------------------------------------------------------------------------
    def read_metrics(self) -> list[dict[str, Any]]:
        """The records of metrics.jsonl in order, or [] when there is none; a line torn by a process killed
        mid-write (or any line that is not a JSON object) is skipped."""
        if not self.metrics_path.is_file():
            return []
        records = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records

    def truncate_metrics(self, generations_kept: int) -> None:
        """Keep the records of generations < ``generations_kept`` (those up to the checkpoint a run resumes
        from); torn lines go too."""
        if not self.metrics_path.exists():
            return
        kept = [r for r in self.read_metrics() if int(r.get("generation", -1)) < generations_kept]
        atomic_write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept))

    # -- best genomes --------------------------------------------------------------------------------------
    def write_best(self, sample: BestGenome, center: BestGenome) -> None:
        """Write best.pt: the best sampled genome and the best-scoring center (either's genome may be None)."""
        import torch

        blob = {"sample": {"genome": sample.genome, "fitness": sample.score, "generation": sample.generation},
                "center": {"genome": center.genome, "center_eval": center.score, "generation": center.generation}}
        for kind, entry in (("sample", sample), ("center", center)):
            if entry.context is not None:
                blob[kind]["context"] = entry.context
        buffer = io.BytesIO()
        torch.save(blob, buffer)
        atomic_write_bytes(self.best_path, buffer.getvalue())

    def read_best(self, prefer: str = "center") -> BestGenome | None:
        """The ``prefer``-red entry of best.pt ("center" or "sample"), the other when it has no genome; None
        when the run has no best.pt yet."""
        import torch

        if not self.best_path.is_file():
            return None
        blob = torch.load(self.best_path, map_location="cpu", weights_only=False)
        order = [prefer, "sample" if prefer == "center" else "center"]
        for kind in order:
            entry = blob.get(kind, {})
            if entry.get("genome") is not None:
                score = entry.get("center_eval" if kind == "center" else "fitness")
                return BestGenome(kind, entry["genome"], score, int(entry.get("generation", -1)),
                                  entry.get("context"))
        return None

    # -- checkpoints ---------------------------------------------------------------------------------------
    def checkpoints(self) -> list[Path]:
        """Checkpoint files, oldest first."""
        return ckpt.list_checkpoints(self.checkpoint_dir)

    def save_checkpoint(self, generation: int, payload: dict[str, Any], keep: int) -> Path:
        """Write the checkpoint of the state after ``generation`` generations; keep the newest ``keep``."""
        return ckpt.save_checkpoint(self.checkpoint_dir, generation, payload, keep=keep)

    def load_checkpoint(self, path: Path | None = None) -> tuple[Path, dict[str, Any], list[tuple[Path, str]]]:
        """(path, payload, skipped): the checkpoint at ``path``, or the newest one that reads cleanly with
        (path, reason) for every newer one that did not. Raises :class:`CheckpointError` with one line when
        there is none, or when it was written in a format this version does not read."""
        if path is not None:
            payload, skipped = ckpt.load_checkpoint(path), []
        else:
            legacy = [name for name in LEGACY_STATE_FILES if self.artifact(name).is_file()]
            if legacy and not self.checkpoint_dir.exists():
                raise CheckpointError(f"{self.path}: {legacy[0]} is a checkpoint in {FORMAT_NAMES[1]}; this "
                                      f"evoforge reads format {CHECKPOINT_FORMAT}: start the run again")
            path, payload, skipped = ckpt.load_latest_valid(self.checkpoint_dir)
        check_format(payload, Path(path).name)
        return Path(path), payload, skipped


def check_format(payload: Any, source: str) -> None:
    """Refuse, with one line naming its format, a checkpoint payload this version cannot continue."""
    found = payload.get("format") if isinstance(payload, dict) else None
    if found != CHECKPOINT_FORMAT:
        name = FORMAT_NAMES.get(found, f"format {found!r}")
        raise CheckpointError(f"{source} is a checkpoint in {name}; this evoforge reads format "
                              f"{CHECKPOINT_FORMAT}: start the run again")
