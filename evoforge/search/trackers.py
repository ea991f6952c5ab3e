"""Experiment trackers beside metrics.jsonl: TensorBoard (default), MLflow and Weights & Biases, each optional and
chosen in the config's ``tracking:`` section. Every tracker receives the same per-generation records that
metrics.jsonl keeps (its finite numbers, at step = generation), and the run's config as parameters.

* TensorBoard: scalars in RUN/tensorboard/ (torch's SummaryWriter).
* MLflow (``mlflow: true``; ``pip install mlflow-skinny`` or ``mlflow``): one MLflow run per evoforge run, in
  experiment ``mlflow_experiment`` at ``mlflow_uri`` (a tracking server, or by default the file store
  RUN/mlruns, which MLflow 3 keeps in maintenance mode and opens only with MLFLOW_ALLOW_FILE_STORE, set here for
  that default store alone).
* W&B (``wandb: true``; ``pip install wandb``): one W&B run, ``wandb_mode`` offline by default (files under
  RUN/wandb, ``wandb sync`` uploads them later), online to log straight to the project.

A resumed run continues the same MLflow and W&B runs: their ids are kept in RUN/trackers.json.
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evoforge.errors import UserError
from evoforge.search.rundir import RunDir

TRACKERS_FILE = "trackers.json"  # the MLflow / W&B run ids of this run, for resume


class TrackingSettings(BaseModel):
    """The ``tracking:`` section: which trackers get the per-generation records."""

    model_config = ConfigDict(extra="forbid")

    tensorboard: bool = True
    mlflow: bool = Field(False, description="log to MLflow (needs mlflow or mlflow-skinny installed)")
    mlflow_uri: str | None = Field(None, description="MLflow tracking URI; default the file store RUN/mlruns")
    mlflow_experiment: str = "evoforge"
    wandb: bool = Field(False, description="log to Weights & Biases (needs wandb installed)")
    wandb_project: str = "evoforge"
    wandb_mode: Literal["offline", "online", "disabled"] = Field("offline", description="offline: files in "
                                                                "RUN/wandb for `wandb sync`; online: live")


def numbers(record: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of a record, but its ``generation`` (the step)."""
    return {key: float(value) for key, value in record.items() if key != "generation"
            and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}


def flat_params(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested config as ``section.key -> value`` strings (trackers' parameters are flat)."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_params(value, f"{name}."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, (list, tuple)) else str(value)
    return flat


class TensorBoardTracker:
    """Scalars in RUN/tensorboard/ (torch's SummaryWriter)."""

    def __init__(self, run_dir: RunDir) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_dir.tensorboard_dir))

    def log(self, record: dict[str, Any]) -> None:
        """One generation's numbers at step = generation."""
        step = int(record["generation"])
        for key, value in numbers(record).items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the writer."""
        self.writer.close()


class MLflowTracker:
    """One MLflow run through MlflowClient (no global active run, so several evoforge runs in one process do
    not share one)."""

    def __init__(self, run_dir: RunDir, settings: TrackingSettings, name: str, params: dict[str, Any],
                 ids: dict[str, str]) -> None:
        try:
            from mlflow import MlflowClient
        except ImportError:
            raise UserError("tracking.mlflow needs MLflow: pip install mlflow-skinny") from None
        uri = settings.mlflow_uri
        if uri is None:  # the default local file store
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            uri = (run_dir.path / "mlruns").resolve().as_uri()
        self.client = MlflowClient(tracking_uri=uri)
        if ids.get("mlflow_run_id"):
            self.run_id = ids["mlflow_run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            found = self.client.get_experiment_by_name(settings.mlflow_experiment)
            experiment = found.experiment_id if found else self.client.create_experiment(settings.mlflow_experiment)
            self.run_id = self.client.create_run(experiment, run_name=name).info.run_id
            for key, value in flat_params(params).items():
                self.client.log_param(self.run_id, key, value[:6000])
        ids["mlflow_run_id"] = self.run_id

    def log(self, record: dict[str, Any]) -> None:
        """One generation's numbers at step = generation, in batches of 500."""
        from mlflow.entities import Metric

        stamp, step = int(time.time() * 1000), int(record["generation"])
        metrics = [Metric(key, value, stamp, step) for key, value in numbers(record).items()]
        for start in range(0, len(metrics), 500):  # MLflow's batch limit is 1,000 metrics
            self.client.log_batch(self.run_id, metrics=metrics[start:start + 500])

    def close(self) -> None:
        """Mark the MLflow run finished (a resume reopens it)."""
        self.client.set_terminated(self.run_id)


class WandbTracker:
    """One W&B run (offline files under RUN/wandb by default), resumed by id."""

    def __init__(self, run_dir: RunDir, settings: TrackingSettings, name: str, params: dict[str, Any],
                 ids: dict[str, str]) -> None:
        try:
            import wandb
        except ImportError:
            raise UserError("tracking.wandb needs Weights & Biases: pip install wandb") from None
        self.run = wandb.init(project=settings.wandb_project, name=name, dir=str(run_dir.path),
                              mode=settings.wandb_mode, config=params, id=ids.get("wandb_id"), resume="allow",
                              reinit="create_new", settings=wandb.Settings(silent=True))
        ids["wandb_id"] = self.run.id

    def log(self, record: dict[str, Any]) -> None:
        """One generation's numbers at step = generation."""
        self.run.log(numbers(record), step=int(record["generation"]))

    def close(self) -> None:
        """Finish the W&B run (its last step is committed then)."""
        self.run.finish()


def open_trackers(run_dir: RunDir, settings: TrackingSettings, name: str, params: dict[str, Any]) -> list[Any]:
    """The trackers ``settings`` asks for, continuing the MLflow / W&B runs of RUN/trackers.json if any."""
    path = run_dir.path / TRACKERS_FILE
    ids: dict[str, str] = json.loads(path.read_text()) if path.is_file() else {}
    trackers: list[Any] = [TensorBoardTracker(run_dir)] if settings.tensorboard else []
    if settings.mlflow:
        trackers.append(MLflowTracker(run_dir, settings, name, params, ids))
    if settings.wandb:
        trackers.append(WandbTracker(run_dir, settings, name, params, ids))
    if ids:
        path.write_text(json.dumps(ids, indent=1) + "\n")
    return trackers
