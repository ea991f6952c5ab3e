"""Per-generation metrics: one JSON line per generation, mirrored to the configured trackers (TensorBoard by
default; MLflow, W&B: :mod:`evoforge.search.trackers`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evoforge.search.rundir import RunDir
from evoforge.search.storage import to_json
from evoforge.search.trackers import TrackingSettings, open_trackers


class MetricsLog:
    """Appends generation records to ``metrics.jsonl`` and mirrors their numbers to the trackers of
    ``tracking`` (default: TensorBoard only), which open at the first record."""

    def __init__(self, run_dir: RunDir | Path, tracking: TrackingSettings | None = None, name: str = "run",
                 params: dict[str, Any] | None = None) -> None:
        self.run_dir = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
        self.run_dir.path.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir.metrics_path
        self.tracking = tracking or TrackingSettings()
        self.name, self.params = name, params or {}
        self._trackers: list[Any] | None = None

    def write(self, record: dict[str, Any]) -> None:
        """Append one generation's record to metrics.jsonl (on a line of its own, even after a torn one) and
        its finite numbers to TensorBoard."""
        torn = False
        if self.path.is_file() and self.path.stat().st_size:
            with open(self.path, "rb") as handle:
                handle.seek(-1, 2)
                torn = handle.read(1) != b"\n"
        with open(self.path, "a") as handle:
            handle.write(("\n" if torn else "") + to_json(record) + "\n")
        if self._trackers is None:
            self._trackers = open_trackers(self.run_dir, self.tracking, self.name, self.params)
        for tracker in self._trackers:
            tracker.log(record)

    def close(self) -> None:
        """Flush and close the trackers (a later :meth:`write` opens them again)."""
        for tracker in self._trackers or []:
            tracker.close()
        self._trackers = None


def read_metrics(run_dir: RunDir | Path) -> list[dict[str, Any]]:
    """The records of a run's metrics.jsonl (:meth:`RunDir.read_metrics`: torn lines skipped)."""
    return (run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)).read_metrics()
