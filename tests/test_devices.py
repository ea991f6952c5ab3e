"""Devices: the ``device`` setting resolves on a CPU-only machine, a GPU asked for where there is none is one line
and exit 2 (serial, Ray without GPUs per actor, GPUs per actor beyond the cluster's), and evaluators on an
explicit device give the numbers of the default."""

import pytest
import torch

from evoforge.cli import main
from evoforge.devices import check_device_request, resolve_device
from evoforge.errors import UserError

from .conftest import CONFIGS

GPU = torch.cuda.is_available()


def test_auto_and_cpu_resolve_and_a_missing_gpu_is_refused():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if GPU else "cpu")
    with pytest.raises(UserError, match="expected auto, cpu, cuda"):
        resolve_device("gpu")
    check_device_request("auto", "ray", 0)  # auto never asks for more than there is
    with pytest.raises(UserError, match="pool.gpus_per_worker > 0"):
        check_device_request("cuda", "ray", 0)
    if not GPU:
        with pytest.raises(UserError, match="sees no CUDA GPU"):
            resolve_device("cuda:0")
        with pytest.raises(UserError, match="sees no CUDA GPU"):
            check_device_request("cuda", "serial", 0)


@pytest.mark.skipif(GPU, reason="checks the refusal on a machine without a GPU")
def test_asking_for_a_gpu_that_is_not_there_is_one_line_and_exit_2(tmp_path, capsys, ray_local):
    config = str(CONFIGS / "quickstart.yaml")
    assert main(["run", config, "--serial", "--quiet", "--out", str(tmp_path / "a"), "--set", "device=cuda"]) == 2
    assert main(["run", config, "--quiet", "--out", str(tmp_path / "b"), "--set", "pool.gpus_per_worker=1",
                 "--set", "search.generations=1"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and "sees no CUDA GPU" in lines[0] and "has 0 GPU(s)" in lines[1]


def test_evaluators_on_an_explicit_cpu_device_equal_the_default():
    from evoforge.experiments.nas import ArchitectureEvaluator, GroundTruthSettings, ProxySettings
    from evoforge.nas.data import DataSettings
    from evoforge.nas.space import Cell
    from evoforge.nas.training import NetworkSettings

    cell = Cell.random(__import__("numpy").random.default_rng(3))
    results = []
    for device in ("auto", "cpu"):
        evaluator = ArchitectureEvaluator(DataSettings(image_size=8, max_train=64),
                                          NetworkSettings(channels=4, cells_per_stage=1),
                                          GroundTruthSettings(epochs=1, seeds=[0]),
                                          ProxySettings(names=["naswot", "synflow", "grad_norm", "jacob_cov"],
                                                        batch_size=16), "naswot", True, device=device)
        evaluator.setup()
        results.append({k: v for k, v in evaluator.evaluate([cell], [0])[0].metrics.items()
                        if not k.endswith("seconds")})
    if not GPU:
        assert results[0] == results[1]
    assert set(results[1]) >= {"naswot", "synflow", "grad_norm", "jacob_cov", "accuracy", "val_accuracy"}


def test_the_device_benchmark_measures_every_rate(monkeypatch, capsys):
    import runpy
    import sys

    from .conftest import REPO

    monkeypatch.setattr(sys, "argv", ["bench_gpu.py", "--cells", "1", "--steps", "2", "--genomes", "1",
                                      "--episodes", "1", "--threads", "1"])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(REPO / "scripts" / "bench_gpu.py"), run_name="__main__")
    printed = capsys.readouterr().out
    assert done.value.code == 0
    for name in ("NASWOT cells/s", "CNN chunk forwards/s", "EvoNorm-B0 train steps/s", "BN-ReLU train steps/s"):
        line = next(line for line in printed.splitlines() if line.startswith(name))
        assert float(line.split()[-1 if not GPU else -2].rstrip("x")) > 0
