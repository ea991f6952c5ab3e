"""NAS end to end on tiny settings: the benchmark builder (resumable) and its report, random-N / REA / AREA runs,
and the offline loaders on small generated data."""

import json
import pickle

import numpy as np
import pytest
import torch

from evoforge.cli import main
from evoforge.nas.data import DataSettings, load_data

from ..conftest import CONFIGS

TINY = ["--set", "data.image_size=8", "--set", "data.max_train=64", "--set", "network.channels=4",
        "--set", "training.epochs=1", "--set", "proxy.batch_size=16"]


def _rows(run_dir):
    return [json.loads(line) for line in (run_dir / "benchmark.jsonl").read_text().splitlines() if line.strip()]


def test_benchmark_builds_resumes_and_reports(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["run", str(CONFIGS / "nas_benchmark_digits.yaml"), "--serial", "--quiet", "--out", str(out),
                 *TINY, "--set", "benchmark.architectures=3", "--set", "benchmark.chunk=2",
                 "--set", "training.seeds=[0,1]", "--set", "benchmark.select_n=[2]",
                 "--set", "benchmark.repeats=10"]) == 0
    first = _rows(out)
    assert len(first) == 3 and len({row["arch"] for row in first}) == 3
    assert all(0 <= row["accuracy"] <= 100 and "naswot" in row and "synflow" in row for row in first)
    with open(out / "benchmark.jsonl", "a") as handle:
        handle.write('{"arch": "|nor_conv')  # a write torn by an interruption
    assert main(["resume", str(out), "--generations", "5", "--quiet"]) == 0  # 2 more cells, the 3 kept
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
    assert data.train_x.shape == (20, 3, 32, 32) and data.test_x.shape == (4, 3, 32, 32) and data.num_classes == 10
    assert abs(float(data.train_x.mean())) < 1e-4  # normalised with the training split's statistics

    from PIL import Image

    images = tmp_path / "images"
    for split in ("train", "test"):
        for label in ("cat", "dog"):
            (images / split / label).mkdir(parents=True)
            for k in range(2):
                Image.fromarray(rng.integers(0, 256, size=(10, 12, 3), dtype=np.uint8)).save(
                    images / split / label / f"{k}.png")
    data = load_data(DataSettings(source="folder", root=images, image_size=8))
    assert data.train_x.shape == (4, 3, 8, 8) and torch.equal(data.train_y, torch.tensor([0, 0, 1, 1]))
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
