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
        "--set", "grouping.group_size=2",
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
                       Rejection(quality_steps=40, quality_threshold=20.0), seed=0)
    assert good["rejected"] == 0 and 20.0 <= good["accuracy_plain"] <= 100.0


def test_a_search_whose_every_candidate_is_rejected_runs_to_its_end(tmp_path):
    out = tmp_path / "run"
    assert main(["run", str(CONFIGS / "evonorm_digits.yaml"), "--serial", "--quiet", "--out", str(out), *TINY,
                 "--set", "search.generations=3", "--set", "rejection.quality_threshold=100"]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    # the 4 baselines in 2 + 2, then 2 random graphs: all rejected, the population stays empty
    assert [r["rejected_total"] for r in records] == [2, 4, 6] and records[-1]["population"] == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["selected_on"] == "validation"
    assert summary["candidates_judged"] == summary["candidates_rejected"] == 6
    assert summary["data_split"].endswith("314 validation / 539 test") and summary["grouping"] == "group size 2"


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
    assert "layer 1:" in printed and "mean validation accuracy" in printed


def test_compare_script_trains_the_best_layers_against_the_baselines(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    assert main(["run", str(CONFIGS / "evonorm_digits.yaml"), "--serial", "--quiet", "--out", str(out),
                 *TINY, "--set", "search.generations=3", "--set", "rejection.quality_threshold=0",
                 "--set", "search.seed_baselines=true"]) == 0
    monkeypatch.setattr(sys, "argv", ["evonorm_compare.py", str(out), "--top", "1", "--seeds", "0", "1",
                                      "--batches", "8", "4", "--serial"])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(REPO / "scripts" / "evonorm_compare.py"), run_name="__main__")
    assert done.value.code == 0
    rows = json.loads((out / "compare.json").read_text())
    assert {r["layer"] for r in rows} == {"evolved_1", "bn_relu", "gn_relu", "evonorm_b0", "evonorm_s0"}
    # by default on the held-out architectures only, which the search never trained on
    assert {r["anchor"] for r in rows} == {"resnet_wide", "vgg"}
    assert len(rows) == 5 * 2 * 2 and all(r["n"] + r["diverged"] == 2 for r in rows)
    for row in rows:  # intervals and Welch p against every baseline but itself
        assert set(row["welch_p"]) == {"bn_relu", "gn_relu", "evonorm_b0", "evonorm_s0"} - {row["layer"]}
        if row["n"] == 2:
            assert row["ci_low"] <= row["mean"] <= row["ci_high"] and len(row["accuracies"]) == 2
    table = (out / "compare.md").read_text()
    assert "| evonorm_s0 | `(x * sigmoid(v1 * x)) / std_group(x)` | resnet_wide | 8 |" in table
    # run again: every training comes from compare_jobs.jsonl, none is redone, and the table is the same
    from evoforge.experiments import evonorm as evonorm_module

    def no_training(self, genomes, seeds):
        raise AssertionError("a cached training was run again")

    with open(out / "compare_jobs.jsonl", "a") as handle:  # a write cut off mid-line is skipped, nothing else
        handle.write('{"protocol": "torn')
    monkeypatch.setattr(evonorm_module.ComparisonEvaluator, "evaluate", no_training)
    with pytest.raises(SystemExit) as again:
        runpy.run_path(str(REPO / "scripts" / "evonorm_compare.py"), run_name="__main__")
    assert again.value.code == 0 and json.loads((out / "compare.json").read_text()) == rows
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


def test_compare_script_pools_searches_rank_by_rank_and_an_interruption_loses_one_round(tmp_path, monkeypatch,
                                                                                         capsys):
    searches = tmp_path / "searches"
    for seed in (0, 1):
        assert main(["run", str(CONFIGS / "evonorm_digits.yaml"), "--serial", "--quiet", "--out",
                     str(searches / f"seed-{seed}"), *TINY, "--set", f"seed={seed}", "--set", "search.generations=3",
                     "--set", "rejection.quality_threshold=0", "--set", "search.seed_baselines=true"]) == 0
    out, cache = tmp_path / "heldout", tmp_path / "jobs.jsonl"
    argv = ["evonorm_compare.py", str(searches / "seed-0"), str(searches / "seed-1"), "--top", "2", "--seeds", "0",
            "--batches", "8", "--architectures", "vgg", "--serial", "--out", str(out), "--cache", str(cache)]
    from evoforge.experiments import evonorm as evonorm_module

    trained = []
    original = evonorm_module.ComparisonEvaluator.evaluate

    def stop_after_three(self, genomes, seeds):
        if len(trained) == 3:
            raise KeyboardInterrupt
        trained.append(str(genomes[0][0]))
        return original(self, genomes, seeds)

    monkeypatch.setattr(evonorm_module.ComparisonEvaluator, "evaluate", stop_after_three)
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(KeyboardInterrupt):
        runpy.run_path(str(REPO / "scripts" / "evonorm_compare.py"), run_name="__main__")
    # serial: one job a round, so the three finished trainings are kept and nothing else
    assert [json.loads(line)["formula"] for line in cache.read_text().splitlines()] == trained
    # --cached-only tabulates the three finished cells (one seed each here) and trains nothing
    monkeypatch.setattr(sys, "argv", [*argv, "--cached-only"])
    with pytest.raises(SystemExit) as partial:
        runpy.run_path(str(REPO / "scripts" / "evonorm_compare.py"), run_name="__main__")
    assert partial.value.code == 0 and len(trained) == 3
    assert sorted(r["formula"] for r in json.loads((out / "compare.json").read_text())) == sorted(trained)
    monkeypatch.setattr(evonorm_module.ComparisonEvaluator, "evaluate", original)
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(REPO / "scripts" / "evonorm_compare.py"), run_name="__main__")
    assert done.value.code == 0
    rows = json.loads((out / "compare.json").read_text())
    names = [r["layer"] for r in rows]
    # the baselines once, first; then rank by rank: both searches' best before either's second best
    assert names[:4] == ["bn_relu", "gn_relu", "evonorm_b0", "evonorm_s0"]
    assert names[4:6] == ["seed-0/evolved_1", "seed-1/evolved_1"]
    assert set(names[6:]) <= {"seed-0/evolved_2", "seed-1/evolved_2"}
    assert "seed-1/evolved_1" in (out / "compare.md").read_text()
    # several searches need --out; searches of different protocols are refused
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", [a for a in argv if a not in ("--out", str(out))])
    with pytest.raises(SystemExit) as refused:
        runpy.run_path(str(REPO / "scripts" / "evonorm_compare.py"), run_name="__main__")
    assert refused.value.code == 2 and "--out" in capsys.readouterr().err
    config = searches / "seed-1" / "config.yaml"
    config.write_text(config.read_text().replace("epochs: 100", "epochs: 99"))
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as refused:
        runpy.run_path(str(REPO / "scripts" / "evonorm_compare.py"), run_name="__main__")
    assert refused.value.code == 2 and "differs" in capsys.readouterr().err
    # the per-search statistics and the screening replay of the same two searches (a missing run is left out)
    monkeypatch.setattr(sys, "argv", ["evonorm_searches.py", str(searches / "seed-0"), str(searches / "seed-1"),
                                      str(tmp_path / "absent"), "--out", str(tmp_path / "stats.md")])
    with pytest.raises(SystemExit) as stats:
        runpy.run_path(str(REPO / "scripts" / "evonorm_searches.py"), run_name="__main__")
    assert stats.value.code == 0 and "left out" in capsys.readouterr().err
    text = (tmp_path / "stats.md").read_text()
    assert text.count("| " + str(searches / "seed-0") + " |") == 1 + 5  # its row and five screening thresholds
    search_row = runpy.run_path(str(REPO / "scripts" / "evonorm_searches.py"))["search_row"]
    from evoforge.experiments import load_experiment
    from evoforge.nas.evonorm import BASELINES
    from evoforge.search.evolution import best_distinct
    from evoforge.search.rundir import RunDir

    run = RunDir(searches / "seed-1")
    searcher = load_experiment(run.config_path).load_searcher(run)
    row = search_row(searches / "seed-1")
    assert row["judged"] == len(searcher.judged) == row["accepted"] + row["rejected"]
    assert row["quality"] + row["stability"] + row["screen"] == row["rejected"] == searcher.rejected
    distinct = best_distinct(searcher.history, len(searcher.history))
    seeded = [accuracy for graph, accuracy in distinct if graph in BASELINES.values()]
    assert row["best_baseline"][0] in BASELINES and row["best_baseline"][1] == max(seeded)
    assert row["distinct_evolved"] == len(distinct) - len(seeded)
    assert row["beat_baselines"] == sum(a > max(seeded) for g, a in distinct if g not in BASELINES.values())


def _scrambled_test_split(data):
    """The same data with the test split replaced by noise and shuffled labels."""
    import dataclasses

    generator = torch.Generator().manual_seed(9)
    return dataclasses.replace(data, test_x=torch.randn(data.test_x.shape, generator=generator),
                               test_y=data.test_y[torch.randperm(len(data.test_y), generator=generator)])


def test_no_test_example_reaches_selection():
    """Every number a layer search or REA selects on is the same whatever the test split holds; the splits are
    disjoint and the test split is the one of before validation existed."""
    torch.set_num_threads(1)
    settings = DataSettings(image_size=8, max_train=256)
    data = load_data(settings)
    assert len(data.val_y) == round(0.25 * 1258) and len(data.test_y) == 539
    assert data.describe() == f"{len(data.train_y)} train / 314 validation / 539 test"
    rows = {split: {tuple(x.flatten().tolist()) for x in images} for split, images in
            (("train", data.train_x), ("val", data.val_x), ("test", data.test_x))}
    assert not rows["train"] & rows["test"] and not rows["val"] & rows["test"]
    training, rejection = LayerTraining(width=4, steps=20), Rejection(quality_steps=10, quality_threshold=0)
    judged = [judge_layer(BASELINES["bn_relu"], d, ["plain"], training, rejection, seed=0)
              for d in (data, _scrambled_test_split(data))]
    assert {k: v for k, v in judged[0].items() if k != "seconds"} == \
        {k: v for k, v in judged[1].items() if k != "seconds"}
    assert judged[0]["rejected"] == 0 and "accuracy_plain" in judged[0]
    # NAS REA / AREA with trained accuracy: the fitness is the validation accuracy
    from evoforge.experiments.nas import ArchitectureEvaluator, GroundTruthSettings, ProxySettings
    from evoforge.nas.space import Cell
    from evoforge.nas.training import NetworkSettings

    evaluator = ArchitectureEvaluator(settings, NetworkSettings(channels=4, cells_per_stage=1),
                                      GroundTruthSettings(epochs=1, seeds=[0]), ProxySettings(names=[]),
                                      "accuracy", True)
    evaluator.setup()
    cell = Cell.random(__import__("numpy").random.default_rng(0))
    first = evaluator.evaluate([cell], [0])[0]
    evaluator.data = _scrambled_test_split(evaluator.data)
    second = evaluator.evaluate([cell], [0])[0]
    assert evaluator.fitness_key == "val_accuracy" and first.fitness == second.fitness
    assert first.fitness == first.metrics["val_accuracy"] and first.metrics["accuracy"] != second.metrics["accuracy"]


def test_schedules_in_epochs_see_the_same_images_at_every_batch_size():
    from evoforge.nas.evonorm_train import _batches

    training = LayerTraining(epochs=3, search_epochs=1, batch_size=64, learning_rate=0.05)
    assert training.steps_for(4, 944) == 3 * 236 and training.steps_for(128, 944) == 3 * 7
    assert training.steps_for(64, 944, search=True) == 14  # the search's shortened schedule
    # the linear scaling rule: the rate is learning_rate at batch_size, proportional to the batch elsewhere
    assert training.lr_for(64) == 0.05 and training.lr_for(128) == 0.1 and training.lr_for(4) == 0.05 / 16
    assert LayerTraining(lr_scaling="none").lr_for(4) == LayerTraining().learning_rate
    assert LayerTraining(steps=100).steps_for(4, 944) == LayerTraining(steps=100).steps_for(128, 944) == 100
    # one epoch of batches of 4 visits every image once (944 = 236 * 4); later epochs are fresh permutations
    batches = list(_batches(944, 4, 2 * 236, torch.Generator().manual_seed(0)))
    first, second = torch.cat(batches[:236]), torch.cat(batches[236:])
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(944))
    assert not torch.equal(first, second)
    assert all(len(b) == 128 for b in _batches(944, 128, 20, torch.Generator().manual_seed(0)))  # no ragged batch


def test_a_grouping_that_leaves_one_channel_per_group_is_refused_before_training(tmp_path, capsys):
    config = str(CONFIGS / "evonorm_digits.yaml")
    code = main(["run", config, "--serial", "--quiet", "--out", str(tmp_path / "run"), "--set", "training.width=8",
                 "--set", "grouping.group_size=null"])
    assert code == 2 and not (tmp_path / "run" / "checkpoints").exists()
    error = capsys.readouterr().err.strip()
    assert "resnet at width 8 has a 8-channel layer" in error and "one channel per group" in error
    assert len(error.splitlines()) == 1


def test_zero_cost_screening_rejects_without_training_and_its_tradeoff_is_replayed():
    from evoforge.experiments.evonorm import screening_tradeoff
    from evoforge.nas.evonorm import GroupSettings

    torch.set_num_threads(1)
    data = load_data(DataSettings(image_size=8, max_train=128))
    training, grouping = LayerTraining(width=4, steps=5), GroupSettings(group_size=2)
    # sigmoid(x) > 0 everywhere: every input gets the same codes, the kernel is singular
    positive = LayerGraph((("sigmoid", (0,)),))
    screened = judge_layer(positive, data, ["plain"], training, Rejection(min_screen_score=-1e9, quality_steps=3),
                           seed=0, grouping=grouping)
    assert screened["screen_score"] == float("-inf") and screened["rejected_screen"] == 1
    assert "accuracy_plain" not in screened and screened["rejected_quality"] == 0  # never trained
    kept = judge_layer(BASELINES["bn_relu"], data, ["plain"], training,
                       Rejection(min_screen_score=-1e9, quality_steps=3, quality_threshold=0), seed=0,
                       grouping=grouping)
    assert kept["rejected"] == 0 and kept["screen_score"] > 0
    judged = [{"screen_score": s, "rejected": r, "rejected_screen": 0.0, "accuracy_mean": a}
              for s, r, a in ((float("-inf"), 1.0, float("nan")), (1.0, 1.0, float("nan")), (2.0, 0.0, 50.0),
                              (3.0, 0.0, 90.0), (4.0, 0.0, 70.0))]
    rows = screening_tradeoff(judged, quantiles=(0.5,), top=2)
    assert rows[0] == {"quantile": rows[0]["quantile"], "threshold": float("-inf"), "candidates": 5.0,
                       "not_trained": 1.0, "accepted": 3.0, "accepted_lost": 0.0, "top_lost": 0.0, "top": 2.0}
    # the median of the finite scores is 2.5: the three below it are not trained, among them the accepted 50 %
    # layer, but neither of the top two (90 %, 70 %)
    assert rows[1]["threshold"] == 2.5 and rows[1]["not_trained"] == 3 and rows[1]["accepted_lost"] == 1
    assert rows[1]["top_lost"] == 0


def test_the_comparison_job_cache_survives_a_torn_line(tmp_path):
    from evoforge.experiments.evonorm import _append_jobs, _cached_jobs

    cache = tmp_path / "jobs.jsonl"
    _append_jobs(cache, "p", {("x", "vgg", 4, 0): {"failed": False, "accuracy": 90.0, "val_accuracy": 91.0}})
    with open(cache, "a") as handle:
        handle.write('{"protocol": "p", "formu')  # cut off mid-line
    _append_jobs(cache, "p", {("x", "vgg", 4, 1): {"failed": False, "accuracy": 80.0, "val_accuracy": 81.0}})
    _append_jobs(cache, "q", {("x", "vgg", 4, 2): {"failed": True, "accuracy": 0.0, "val_accuracy": 0.0}})
    found = _cached_jobs(cache, "p")
    assert set(found) == {("x", "vgg", 4, 0), ("x", "vgg", 4, 1)}  # the other protocol's job is not reused
    assert found["x", "vgg", 4, 1]["accuracy"] == 80.0
