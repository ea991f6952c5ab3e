"""The benchmark's statistics: rank correlations with bootstrap intervals, per NAS-Bench-201 dataset."""

from __future__ import annotations

import numpy as np
import pytest

from evoforge.nas.benchmark import DATASET_COLUMNS, benchmark_report, rank_correlations, report_markdown


def test_a_monotone_relation_has_tau_one_and_a_degenerate_interval():
    x = np.arange(50, dtype=float)
    result = rank_correlations(x, 2 * x + 1, resamples=200, seed=0)
    assert result["kendall_tau"] == 1.0 and result["spearman_rho"] == pytest.approx(1.0)
    assert result["kendall_tau_ci"] == pytest.approx([1.0, 1.0]) and result["n"] == 50


def test_the_interval_holds_the_estimate_and_narrows_with_more_cells():
    rng = np.random.default_rng(0)
    widths = []
    for n in (100, 1000):
        x = rng.standard_normal(n)
        y = 0.5 * x + rng.standard_normal(n)
        result = rank_correlations(x, y, resamples=300, seed=1)
        low, high = result["kendall_tau_ci"]
        assert low < result["kendall_tau"] < high
        widths.append(high - low)
    assert widths[1] < 0.5 * widths[0]  # about 1/sqrt(10) as wide


def test_non_finite_scores_are_left_out_and_a_constant_gives_nan():
    x = np.array([1.0, np.nan, 3.0, -np.inf, 5.0])
    assert rank_correlations(x, np.arange(5.0), 0, 0)["n"] == 3
    assert np.isnan(rank_correlations(np.ones(5), np.arange(5.0), 0, 0)["kendall_tau"])


def test_rows_with_the_benchmarks_columns_get_a_table_per_dataset_and_random_n_per_dataset():
    rng = np.random.default_rng(2)
    rows = []
    for k in range(40):
        accuracies = {column: float(rng.uniform(10, 90)) for column in DATASET_COLUMNS.values()}
        rows.append({"arch": f"cell{k}", "failed": False, "naswot": accuracies["cifar10_test_200"] + rng.normal(),
                     "naswot_seconds": 0.1, "accuracy": accuracies["cifar10_test_200"], **accuracies})
    report = benchmark_report(rows, ["naswot"], [10], 50, 0, [0], bootstrap=100)
    assert set(report["datasets"]) == set(DATASET_COLUMNS)
    assert report["datasets"]["cifar10"]["naswot"]["kendall_tau"] > 0.8  # naswot follows CIFAR-10 here
    picks = report["random_n"][0]["datasets"]
    assert picks["cifar10"]["proxy_pick_mean"] >= picks["cifar10"]["random_pick_mean"]
    text = report_markdown(report)
    assert "NAS-Bench-201 cifar100, 200-epoch test accuracy" in text and "| 0.574 |" in text  # the published tau


def test_bench_naswot_reads_a_benchmark_runs_rates(tmp_path, capsys):
    """`scripts/bench_naswot.py --run RUN` prints a benchmark run's cells per second and the whole-space time."""
    import runpy
    import sys

    from evoforge.cli import main

    from ..conftest import CONFIGS, REPO

    out = tmp_path / "bench"
    assert main(["run", str(CONFIGS / "nas_benchmark_nb201.yaml"), "--serial", "--quiet", "--out", str(out),
                 "--set", "benchmark.architectures=2", "--set", "benchmark.chunk=1", "--set", "network.channels=4",
                 "--set", "network.cells_per_stage=1", "--set", "data.image_size=8", "--set", "proxy.batch_size=16",
                 "--set", "proxy.names=[naswot,params]", "--set", "benchmark.bootstrap=10",
                 "--set", "benchmark.select_n=[2]", "--set", "benchmark.repeats=5"]) == 0
    saved = sys.argv
    sys.argv = ["bench_naswot.py", "--run", str(out)]
    try:
        runpy.run_path(str(REPO / "scripts" / "bench_naswot.py"), run_name="__main__")
    finally:
        sys.argv = saved
    printed = capsys.readouterr().out
    assert "2 cells scored" in printed and "cells/s per core; the whole space (15625 cells)" in printed
    report = (out / "report.md").read_text()
    assert "NAS-Bench-201 imagenet16, 200-epoch test accuracy" in report  # looked up, not trained
