"""The layer search end to end on tiny settings: degenerate layers are rejected without stopping the search,
Pareto parents, resume = uninterrupted, inspect prints formulas, the comparison script runs."""

import json
import runpy
import sys

import pytest
import torch

from evoforge.cli import main
from evoforge.nas.data import DataSettings, load_data
from evoforge.nas.evonorm import BASELINES, LayerGraph
from evoforge.nas.evonorm_train import LayerTraining, Rejection, judge_layer

from ..conftest import CONFIGS, REPO

TINY = ["--set", "data.image_size=8", "--set", "data.max_train=128", "--set", "training.width=4",
        "--set", "training.steps=6", "--set", "rejection.quality_steps=3", "--set", "rejection.stress_steps=3",
        "--set", "search.population_size=3", "--set", "search.sample_size=2", "--set", "search.children=2"]


def test_degenerate_and_exploding_layers_are_rejected_with_their_reason():
    torch.set_num_threads(1)
    data = load_data(DataSettings(image_size=8, max_train=256))
    training = LayerTraining(width=4, steps=40, learning_rate=0.05)
    constant = LayerGraph((("mul", (3, 0)),))  # 0 * x: the network's output ignores its input
    metrics = judge_layer(constant, data, ["plain", "resnet"], training, Rejection(quality_steps=20), seed=0)
    assert metrics["rejected"] == 1 and metrics["rejected_quality"] == 1
    exploding = LayerGraph((("exp", (0,)), ("exp", (4,)), ("exp", (5,))))  # exp(exp(exp(x))) overflows
    metrics = judge_layer(exploding, data, ["plain"], training, Rejection(quality_steps=5), seed=0)
    assert metrics["rejected"] == 1 and "accuracy_plain" not in metrics
    good = judge_layer(BASELINES["bn_relu"], data, ["plain"], training,
                       Rejection(quality_steps=40, quality_threshold=30.0), seed=0)
    assert good["rejected"] == 0 and 30.0 <= good["accuracy_plain"] <= 100.0


def test_a_search_whose_every_candidate_is_rejected_runs_to_its_end(tmp_path):
    out = tmp_path / "run"
    assert main(["run", str(CONFIGS / "evonorm_digits.yaml"), "--serial", "--quiet", "--out", str(out), *TINY,
                 "--set", "search.generations=3", "--set", "rejection.quality_threshold=100"]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    # the 4 baselines in 2 + 2, then 2 random graphs: all rejected, the population stays empty
    assert [r["rejected_total"] for r in records] == [2, 4, 6] and records[-1]["population"] == 0
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"


def test_layer_search_resumes_to_the_same_result_and_prints_formulas(tmp_path, capsys):
    config = str(CONFIGS / "evonorm_digits.yaml")
    straight, split = tmp_path / "straight", tmp_path / "split"
    # no quality bar on this tiny budget: only unstable candidates are rejected
    args = [*TINY, "--set", "rejection.quality_threshold=0"]
    assert main(["run", config, "--serial", "--quiet", "--out", str(straight), "--set", "search.generations=4",
                 *args]) == 0
    assert main(["run", config, "--serial", "--quiet", "--out", str(split), "--set", "search.generations=2",
                 *args]) == 0
    assert main(["resume", str(split), "--generations", "4", "--quiet"]) == 0
    def results(run_dir):  # everything but timings
        return [{k: v for k, v in json.loads(line).items() if not k.endswith(("_s", "seconds_mean", "_per_s"))}
                for line in (run_dir / "metrics.jsonl").read_text().splitlines()]

    records = results(straight)
    assert records == results(split)
    assert len(records) == 4 and records[-1]["population"] >= 1
    capsys.readouterr()
    assert main(["inspect", str(straight)]) == 0
    printed = capsys.readouterr().out
    assert "layer 1:" in printed and "mean accuracy" in printed


def test_compare_script_trains_the_best_layers_against_the_baselines(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    assert main(["run", str(CONFIGS / "evonorm_digits.yaml"), "--serial", "--quiet", "--out", str(out),
                 *TINY, "--set", "search.generations=2", "--set", "rejection.quality_threshold=0",
                 "--set", "search.seed_baselines=true"]) == 0
    monkeypatch.setattr(sys, "argv", ["evonorm_compare.py", str(out), "--top", "1", "--seeds", "0",
                                      "--batches", "8", "4", "--serial"])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(REPO / "scripts" / "evonorm_compare.py"), run_name="__main__")
    assert done.value.code == 0
    rows = json.loads((out / "compare.json").read_text())
    assert {r["layer"] for r in rows} == {"evolved_1", "bn_relu", "gn_relu", "evonorm_b0", "evonorm_s0"}
    assert len(rows) == 5 * 3 * 2 and all(r["n"] + r["diverged"] == 1 for r in rows)
    assert "| evonorm_s0 | `(x * sigmoid(v1 * x)) / std_group(x)` |" in (out / "compare.md").read_text()
    # the report's own section: the best layers and the comparison just written
    from evoforge.experiments import load_experiment
    from evoforge.report.page import Report
    from evoforge.search.rundir import RunDir

    run_dir = RunDir(out)
    report = Report("evonorm")
    load_experiment(run_dir.config_path).report_sections(report, run_dir, media=False)
    page = report.render()
    assert [s.title for s in report.sections] == ["Layers"]
    assert "best distinct accepted layers" in page and "compare.json (scripts/evonorm_compare.py)" in page
