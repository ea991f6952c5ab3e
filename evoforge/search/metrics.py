"""Per-generation metrics: one JSON line per generation plus TensorBoard scalars."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from evoforge.search.rundir import RunDir
from evoforge.search.storage import to_json


class MetricsLog:
    """Appends generation records to ``metrics.jsonl`` and mirrors numeric fields to TensorBoard."""

    def __init__(self, run_dir: RunDir | Path, tensorboard: bool = True) -> None:
        self.run_dir = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
        self.path = self.run_dir.metrics_path
        self._writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.run_dir.tensorboard_dir))

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
        if self._writer is not None:
            step = int(record["generation"])
            for key, value in record.items():
                if key != "generation" and isinstance(value, (int, float)) and math.isfinite(value):
                    self._writer.add_scalar(key, value, step)
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the TensorBoard writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_metrics(run_dir: RunDir | Path) -> list[dict[str, Any]]:
    """The records of a run's metrics.jsonl (:meth:`RunDir.read_metrics`: torn lines skipped)."""
    return (run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)).read_metrics()
