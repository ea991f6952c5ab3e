"""Trackers: MLflow and W&B (offline) get the same per-generation records as metrics.jsonl, and a resumed run
continues the same tracker runs."""

import json

import pytest

from evoforge.cli import main

from .conftest import CONFIGS


def _records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_mlflow_and_wandb_get_every_generation_record_and_resume_the_same_runs(tmp_path):
    mlflow = pytest.importorskip("mlflow")
    pytest.importorskip("wandb")
    out = tmp_path / "run"
    args = ["--serial", "--quiet", "--set", "tracking.mlflow=true", "--set", "tracking.wandb=true"]
    assert main(["run", str(CONFIGS / "quickstart.yaml"), "--out", str(out), "--set", "search.generations=2",
                 *args]) == 0
    first = json.loads((out / "trackers.json").read_text())
    assert main(["resume", str(out), "--generations", "4", "--quiet"]) == 0
    ids = json.loads((out / "trackers.json").read_text())
    assert ids == first  # the same MLflow run and W&B run continue
    records = _records(out)
    assert len(records) == 4
    client = mlflow.MlflowClient(tracking_uri=(out / "mlruns").resolve().as_uri())
    for key in ("fitness_mean", "fitness_best", "evaluations"):
        history = sorted(client.get_metric_history(ids["mlflow_run_id"], key), key=lambda m: m.step)
        assert [(m.step, m.value) for m in history] == [(r["generation"], float(r[key])) for r in records]
    run = client.get_run(ids["mlflow_run_id"])
    config = __import__("yaml").safe_load((out / "config.yaml").read_text())
    assert run.data.params["search.popsize"] == str(config["search"]["popsize"])  # the config as parameters
    assert run.info.status == "FINISHED"
    offline = list((out / "wandb").glob(f"offline-run-*-{ids['wandb_id']}"))
    assert len(offline) >= 1 and all(list(d.glob("*.wandb")) for d in offline)


def test_the_wandb_tracker_logs_each_record_at_its_generation(tmp_path):
    """Every record's finite numbers go to the W&B run at step = generation (W&B keeps offline data in its own
    binary file, so the calls are recorded on their way to the real run), and the offline run file is written."""
    pytest.importorskip("wandb")
    from evoforge.search.rundir import RunDir
    from evoforge.search.trackers import TrackingSettings, WandbTracker

    ids = {}
    tracker = WandbTracker(RunDir(tmp_path), TrackingSettings(wandb=True), "probe", {"seed": 3}, ids)
    assert tracker.run.config["seed"] == 3 and ids["wandb_id"] == tracker.run.id
    sent, real_log = [], tracker.run.log

    def recording(data, step=None, **kwargs):
        sent.append((step, dict(data)))
        return real_log(data, step=step, **kwargs)

    tracker.run.log = recording
    for generation, value in enumerate((1.0, 2.5, 4.0)):
        tracker.log({"generation": generation, "fitness_best": value, "note": "text", "missing": float("nan"),
                     "solved": True})
    tracker.close()
    assert sent == [(0, {"fitness_best": 1.0}), (1, {"fitness_best": 2.5}), (2, {"fitness_best": 4.0})]
    (run_file,) = (tmp_path / "wandb").glob(f"offline-run-*-{ids['wandb_id']}/*.wandb")
    assert run_file.stat().st_size > 0


def test_a_missing_tracker_package_is_one_line(tmp_path, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_mlflow(name, *args, **kwargs):
        if name == "mlflow" or name.startswith("mlflow."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlflow)
    assert main(["run", str(CONFIGS / "quickstart.yaml"), "--serial", "--quiet", "--out", str(tmp_path / "r"),
                 "--set", "search.generations=1", "--set", "tracking.mlflow=true"]) == 2
    assert "pip install mlflow-skinny" in capsys.readouterr().err
