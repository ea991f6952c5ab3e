"""NAS end to end on tiny settings: the benchmark builder (resumable) and its report, random-N / REA / AREA runs,
and the offline loaders on small generated data."""

import json
import pickle
import signal
import subprocess
import time

import numpy as np
import pytest
import torch

from evoforge.cli import main
from evoforge.nas.benchmark import BenchmarkSweep, sample_cells
from evoforge.nas.data import DataSettings, load_data
from evoforge.search.evaluation import Evaluation

from ..conftest import CONFIGS, cli_env, evoforge_cmd

TINY = ["--set", "data.image_size=8", "--set", "data.max_train=64", "--set", "network.channels=4",
        "--set", "training.epochs=1", "--set", "proxy.batch_size=16"]


def _rows(run_dir):
    return [json.loads(line) for line in (run_dir / "benchmark.jsonl").read_text().splitlines() if line.strip()]


def test_benchmark_builds_resumes_and_reports(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["run", str(CONFIGS / "nas_benchmark_digits.yaml"), "--serial", "--quiet", "--out", str(out),
                 *TINY, "--set", "benchmark.architectures=3", "--set", "benchmark.chunk=1",
                 "--set", "training.seeds=[0,1]", "--set", "benchmark.select_n=[2]",
                 "--set", "benchmark.repeats=10"]) == 0
    first = _rows(out)
    assert len(first) == 3 and len({row["arch"] for row in first}) == 3
    assert all(0 <= row["accuracy"] <= 100 and "naswot" in row and "synflow" in row for row in first)
    with open(out / "benchmark.jsonl", "a") as handle:
        handle.write('{"arch": "|nor_conv')  # a write torn by an interruption
    # a generation is one chunk of cells (here one cell): 2 more cells, the 3 kept
    assert main(["resume", str(out), "--generations", "5", "--quiet"]) == 0
    rows = _rows_ok(out)
    assert len(rows) == 5 and rows[:3] == first
    report = json.loads((out / "report.json").read_text())
    assert report["architectures"] == 5 and set(report["correlations"]) == {
        "naswot", "jacob_cov", "synflow", "snip", "grad_norm", "params", "flops"}
    assert -1 <= report["correlations"]["naswot"]["kendall_tau"] <= 1
    assert report["random_n"][0]["n"] == 2 and report["seed_to_seed_kendall_tau"] is not None
    pick = report["random_n"][0]
    assert pick["best_in_sample_mean"] >= max(pick["proxy_pick_mean"], pick["random_pick_mean"])
    assert "| naswot |" in (out / "report.md").read_text() and (out / "proxies.png").stat().st_size > 1000
    assert "architectures trained; Kendall tau naswot" in capsys.readouterr().out
    assert main(["inspect", str(out)]) == 0 and "| proxy | Kendall tau |" in capsys.readouterr().out


def _rows_ok(run_dir):
    rows = []
    for line in (run_dir / "benchmark.jsonl").read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


BENCH_SMALL = [*TINY, "--set", "proxy.names=[naswot,params]", "--set", "training.seeds=[0]",
               "--set", "benchmark.select_n=[2]", "--set", "benchmark.repeats=10"]


def _scores(run_dir):
    """The rows without their timing columns (which differ from run to run)."""
    return [{k: v for k, v in row.items() if not k.endswith("_seconds")} for row in _rows(run_dir)]


def test_the_sweep_scores_one_chunk_a_step_and_extends_past_a_short_chunk():
    cells, calls = sample_cells(6, 0), []

    def evaluate(batch):
        calls.append([str(cell) for cell in batch])
        return [Evaluation(fitness=1.0, metrics={"accuracy": 1.0}) for _ in batch]

    sweep = BenchmarkSweep(cells[:3], chunk=2)
    for _ in range(2):
        sweep.step(evaluate)
    longer = BenchmarkSweep(cells, chunk=2)  # the sample extended to 6 cells, as resume --generations 3 does
    longer.load_state_bytes(sweep.state_bytes())
    longer.step(evaluate)
    assert calls == [[str(c) for c in cells[:2]], [str(cells[2])], [str(c) for c in cells[3:]]]
    assert [row["arch"] for row in longer.rows] == [str(c) for c in cells] and longer.center is None
    assert longer.metrics()["cells_done"] == 6


def test_an_interrupted_benchmark_resumes_to_the_uninterrupted_rows(tmp_path):
    config = str(CONFIGS / "nas_benchmark_digits.yaml")
    # a generation (one cell) takes 0.1-0.3 s: 12 leave the signal a window of seconds after the first checkpoint
    args = [*BENCH_SMALL, "--set", "benchmark.architectures=12", "--set", "benchmark.chunk=1"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    process = subprocess.Popen(evoforge_cmd("run", config, "--serial", "--quiet", "--out", str(split), *args),
                               env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not list((split / "checkpoints").glob("*.ckpt")) and process.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be interrupted"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, err
    summary = json.loads((split / "summary.json").read_text())
    assert summary["status"] == "interrupted" and 1 <= summary["generations_completed"] < 12
    assert len(_rows(split)) == summary["generations_completed"]
    assert main(["resume", str(split), "--quiet"]) == 0
    assert main(["run", config, "--serial", "--quiet", "--out", str(straight), *args]) == 0
    assert json.loads((split / "summary.json").read_text())["status"] == "completed"
    assert len(_scores(split)) == 12 and _scores(split) == _scores(straight)


def test_a_failed_cell_is_kept_as_a_failed_row_and_left_out_of_the_report(tmp_path, monkeypatch, capsys):
    from evoforge.experiments.nas import ArchitectureEvaluator

    bad = str(sample_cells(4, 0)[1])
    score = ArchitectureEvaluator.score

    def failing_score(self, cell):
        if str(cell) == bad:
            raise RuntimeError("injected failure")
        return score(self, cell)

    monkeypatch.setattr(ArchitectureEvaluator, "score", failing_score)
    config = str(CONFIGS / "nas_benchmark_digits.yaml")
    args = [*BENCH_SMALL, "--set", "benchmark.architectures=4", "--set", "benchmark.chunk=4"]
    out = tmp_path / "tolerated"
    assert main(["run", config, "--serial", "--quiet", "--out", str(out), *args]) == 0  # 1 of 4 <= 25 %
    rows = _rows(out)
    assert [row["arch"] for row in rows] == [str(c) for c in sample_cells(4, 0)]
    failed = [row for row in rows if row["failed"]]
    assert [row["arch"] for row in failed] == [bad] and "injected failure" in failed[0]["error"]
    report = json.loads((out / "report.json").read_text())
    assert report["architectures"] == 3 and report["failed"] == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["architectures"] == 3
    assert summary["architectures_failed"] == 1 and summary["failed_evaluations"] == 1

    capsys.readouterr()
    strict = tmp_path / "strict"
    assert main(["run", config, "--serial", "--quiet", "--out", str(strict), *args,
                 "--set", "pool.max_failure_fraction=0"]) == 1
    assert "1 of 4 evaluations failed" in capsys.readouterr().err
    assert json.loads((strict / "summary.json").read_text())["status"] == "failed"


@pytest.mark.parametrize("algorithm", ["random", "rea", "area"])
def test_searches_run_on_the_engine(tmp_path, algorithm, capsys):
    out = tmp_path / algorithm
    assert main(["run", str(CONFIGS / f"nas_{algorithm}_digits.yaml"), "--serial", "--quiet", "--out", str(out),
                 *TINY, "--set", "search.generations=4", "--set", "search.children=2",
                 "--set", "search.population_size=3", "--set", "search.sample_size=2",
                 "--set", "search.area_candidates=5"]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    # REA / AREA score their initial population of 3 first, in batches of 2 (2 + 1), then 2 children a step
    expected = [2, 2, 2, 2] if algorithm == "random" else [2, 1, 2, 2]
    assert [r["evaluations"] for r in records] == expected
    summary = json.loads((out / "summary.json").read_text())
    if algorithm == "random":
        assert records[-1]["naswot_mean"] == pytest.approx(records[-1]["fitness_mean"])  # fitness = NASWOT
    else:
        assert 0 <= summary["best_fitness"] <= 100 and "accuracy_mean" in records[-1]  # fitness = accuracy
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    assert "best cell: |" in capsys.readouterr().out


def test_rea_resumes_to_the_uninterrupted_result(tmp_path):
    config = str(CONFIGS / "nas_rea_digits.yaml")
    args = [*TINY, "--set", "search.children=2", "--set", "search.population_size=2", "--set",
            "search.sample_size=2"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(["run", config, "--serial", "--quiet", "--out", str(straight), "--set", "search.generations=4",
                 *args]) == 0
    assert main(["run", config, "--serial", "--quiet", "--out", str(split), "--set", "search.generations=2",
                 *args]) == 0
    assert main(["resume", str(split), "--generations", "4", "--quiet"]) == 0

    def fitness(run_dir):
        return [(r["fitness_best"], r["fitness_mean"]) for r in
                map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())]

    assert fitness(split) == fitness(straight)


def test_unknown_fitness_and_bad_proxies_are_one_line_errors(tmp_path, capsys):
    assert main(["run", str(CONFIGS / "nas_random_digits.yaml"), "--out", str(tmp_path / "a"),
                 "--set", "search.fitness=zen"]) == 2
    assert main(["run", str(CONFIGS / "nas_random_digits.yaml"), "--out", str(tmp_path / "b"),
                 "--set", "proxy.names=[naswot,zen]"]) == 2
    err = capsys.readouterr().err
    assert "search.fitness" in err and "unknown proxies" in err


def test_the_cifar10_and_folder_loaders_read_small_local_data(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, size=(4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 9]}
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle)
    data = load_data(DataSettings(source="cifar10", root=tmp_path, image_size=32))
    # a quarter of the 20 training images is held out for validation
    assert data.train_x.shape == (15, 3, 32, 32) and data.val_x.shape == (5, 3, 32, 32)
    assert data.test_x.shape == (4, 3, 32, 32) and data.num_classes == 10
    assert abs(float(data.train_x.mean())) < 1e-4  # normalised with the training split's statistics

    from PIL import Image

    images = tmp_path / "images"
    for split in ("train", "test"):
        for label in ("cat", "dog"):
            (images / split / label).mkdir(parents=True)
            for k in range(2):
                Image.fromarray(rng.integers(0, 256, size=(10, 12, 3), dtype=np.uint8)).save(
                    images / split / label / f"{k}.png")
    data = load_data(DataSettings(source="folder", root=images, image_size=8, validation_fraction=0.5))
    assert data.train_x.shape == data.val_x.shape == (2, 3, 8, 8) and data.test_x.shape == (4, 3, 8, 8)
    assert sorted(torch.cat([data.train_y, data.val_y]).tolist()) == [0, 0, 1, 1]
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        load_data(DataSettings(source="cifar10", root=tmp_path / "missing"))


def test_train_final_trains_the_picked_cell_and_records_it_in_the_summary(tmp_path):
    from evoforge.experiments import load_experiment
    from evoforge.nas.space import Cell
    from evoforge.nas.training import train_and_test

    out = tmp_path / "random"
    assert main(["run", str(CONFIGS / "nas_random_digits.yaml"), "--serial", "--quiet", "--out", str(out), *TINY,
                 "--set", "search.generations=2", "--set", "search.children=2", "--set", "search.train_final=true",
                 "--set", "training.seeds=[0,1]"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    best = torch.load(out / "best.pt", weights_only=False)["sample"]["genome"]
    assert summary["status"] == "completed" and summary["final_cell"] == str(best)
    config = load_experiment(out / "config.yaml").config
    expected = [train_and_test(Cell.from_string(summary["final_cell"]), load_data(config.data), config.network,
                               config.training, seed)["accuracy"] for seed in (0, 1)]
    assert summary["final_accuracy_seeds"] == expected and summary["final_accuracy"] == pytest.approx(np.mean(expected))
    # off by default: the summary has no final_* keys
    assert main(["run", str(CONFIGS / "nas_random_digits.yaml"), "--serial", "--quiet", "--out", str(tmp_path / "b"),
                 *TINY, "--set", "search.generations=1", "--set", "search.children=2"]) == 0
    assert not any(k.startswith("final_") for k in json.loads((tmp_path / "b" / "summary.json").read_text())
                   if k != "final_center_eval")


# -- NAS-Bench-201's search protocol: the benchmark's validation accuracy as fitness, a budget in cells --------------
# the screening network (AREA, NASWOT random-N) at a toy size: what is tested is the protocol, not NASWOT
NB201_TINY = [*TINY, "--set", "data.synthetic_images=96", "--set", "network.cells_per_stage=1"]
NB201_SMALL = ["--set", "search.budget_cells=6", "--set", "search.children=2", "--set", "search.population_size=3",
               "--set", "search.sample_size=2", "--set", "search.area_candidates=5"]


@pytest.mark.parametrize("search", ["rea", "area", "rs", "naswot"])
def test_nb201_searches_pick_on_validation_and_report_the_table_test_accuracies(tmp_path, search, capsys):
    from evoforge.experiments import load_experiment
    from evoforge.nas.nasbench201 import NASBench201
    from evoforge.nas.space import Cell
    from evoforge.search.rundir import RunDir

    config = {"rea": "nas_rea_nb201", "area": "nas_area_nb201", "rs": "nas_rea_nb201", "naswot": "nas_random_nb201"}
    extra = ["--set", "search.algorithm=random"] if search == "rs" else []
    out = tmp_path / search
    assert main(["run", str(CONFIGS / f"{config[search]}.yaml"), "--serial", "--quiet", "--out", str(out),
                 *NB201_TINY, *NB201_SMALL, *extra]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    # the budget is 6 cells: REA / AREA score their 3 initial cells (2 + 1), then 2 children and 1 (cut short)
    expected = [2, 2, 2] if search in ("rs", "naswot") else [2, 1, 2, 1]
    assert [r["evaluations"] for r in records] == expected and records[-1]["cells_evaluated"] == 6
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["evaluations"] == 6 and summary["final_cells_evaluated"] == 6

    table = NASBench201.shipped()
    experiment = load_experiment(out / "config.yaml")
    history = experiment.load_searcher(RunDir(out)).history
    assert len(history) == 6
    picked = Cell.from_string(summary["final_cell"])
    assert picked == torch.load(out / "best.pt", weights_only=False)["sample"]["genome"]
    if search == "naswot":  # NASWOT's pick, judged by the table
        assert summary["final_selected_on"] == "naswot"
        assert summary["best_fitness"] == max(fitness for _, fitness in history)
    else:  # the fitness is the table's 12-epoch CIFAR-10 validation accuracy, and the pick its best
        assert summary["final_selected_on"] == "cifar10_val_12"
        assert all(fitness == table[cell]["cifar10_val_12"] for cell, fitness in history)
        assert summary["best_fitness"] == max(table[cell]["cifar10_val_12"] for cell, _ in history)
        assert summary["final_cifar10_val_12"] == summary["best_fitness"]
    # reported by the picked cell's 200-epoch test accuracies, exactly the table's
    for column in ("cifar10_test_200", "cifar100_test_200", "imagenet16_test_200", "cifar10_val_12"):
        assert summary[f"final_{column}"] == table[picked][column]
    assert summary["final_benchmark_index"] == table.index_of(picked)
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    assert f"best cell: {picked}" in capsys.readouterr().out


def test_a_budget_in_cells_sets_the_steps_and_resume_extends_it(tmp_path):
    from evoforge.experiments.nas import NASSearchSettings

    rea = NASSearchSettings(algorithm="rea", population_size=10, children=3)
    assert [rea.generations_for(b) for b in (1, 10, 11, 100)] == [1, 4, 5, 34]  # 4 initial steps (3+3+3+1)
    assert [rea.cells_for(g) for g in (1, 4, 5, 34)] == [3, 10, 13, 100]
    rs = NASSearchSettings(algorithm="random", children=10)
    assert rs.generations_for(95) == 10 and rs.cells_for(10) == 100

    config, args = str(CONFIGS / "nas_rea_nb201.yaml"), ["--set", "search.population_size=3", "--set",
                                                          "search.sample_size=2"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(["run", config, "--serial", "--quiet", "--out", str(straight), *args,
                 "--set", "search.budget_cells=12"]) == 0
    assert main(["run", config, "--serial", "--quiet", "--out", str(split), *args,
                 "--set", "search.budget_cells=5"]) == 0
    assert json.loads((split / "summary.json").read_text())["evaluations"] == 5
    # one child a step: --generations 12 is a budget of 12 cells, and the search continues exactly
    assert main(["resume", str(split), "--generations", "12", "--quiet"]) == 0
    first, second = (json.loads((d / "summary.json").read_text()) for d in (straight, split))
    assert second["evaluations"] == second["final_cells_evaluated"] == 12
    assert {k: v for k, v in first.items() if k != "wall_time_s"} == {
        k: v for k, v in second.items() if k != "wall_time_s"}


def test_the_benchmark_fitness_with_an_unknown_or_test_column_is_a_one_line_error(tmp_path, capsys):
    config = str(CONFIGS / "nas_rea_nb201.yaml")
    assert main(["run", config, "--out", str(tmp_path / "a"), "--set", "search.benchmark_column=cifar10_val_200"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "search.benchmark_column" in err and "cifar10_val_12" in err
    # selecting on a test column would select on test: refused the same way
    assert main(["run", config, "--out", str(tmp_path / "b"), "--set", "search.benchmark_column=cifar10_test_200"]) == 2
    assert "validation columns" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
