"""EvaluatorPool: order, serial == Ray, failure isolation, dead actors replaced with no evaluation lost."""

import os
import signal
import threading
import time

import pytest
import torch

from functools import partial

from evoforge.experiments.function import FaultSettings, FunctionEvaluator, FunctionSettings
from evoforge.experiments.gym_control import EnvSettings, GymPolicyEvaluator, PolicySettings
from evoforge.search.evaluation import Evaluator
from evoforge.search.pool import EvaluatorPool, PoolError
from evoforge.search.seeds import genome_seeds


def _walker_batch(count):
    factory = partial(GymPolicyEvaluator, EnvSettings(id="BipedalWalker-v3", max_episode_steps=200), PolicySettings(hidden=[40, 40]))
    evaluator = factory()
    evaluator.setup()
    genomes = torch.randn(count, evaluator.network.num_params, generator=torch.Generator().manual_seed(0)) * 0.3
    return factory, genomes, genome_seeds(0, 0, count)


def test_serial_and_ray_give_identical_results_in_input_order(ray_local):
    factory, genomes, seeds = _walker_batch(12)
    with EvaluatorPool(factory, backend="serial") as serial:
        expected = serial.evaluate(genomes, seeds)
    with EvaluatorPool(factory, backend="ray", num_workers=2, chunk_size=5) as pool:
        got = pool.evaluate(genomes, seeds)
        assert pool.last_stats.evaluations == 12 and sum(pool.last_stats.nodes.values()) == 12
    assert [e.fitness for e in got] == [e.fitness for e in expected]
    assert [e.metrics for e in got] == [e.metrics for e in expected]
    # Scrambling the population permutes the results the same way: order is the input order.
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(1))
    with EvaluatorPool(factory, backend="serial", chunk_size=3) as serial:
        permuted = serial.evaluate(genomes[perm], [seeds[i] for i in perm])
    assert [e.fitness for e in permuted] == [expected[i].fitness for i in perm]


def test_failures_are_isolated_on_ray(ray_local):
    settings = FunctionSettings(dim=2, faults=FaultSettings(nan_above=1.0, raise_above=2.0))
    genomes = torch.tensor([[0.0, 0.0], [1.5, 0.0], [2.5, 0.0], [0.5, 1.0]])
    with EvaluatorPool(partial(FunctionEvaluator, settings), backend="ray", num_workers=2) as pool:
        results = pool.evaluate(genomes, [0, 1, 2, 3])
    assert [r.failed for r in results] == [False, True, True, False]
    assert results[0].fitness == 0.0 and results[3].fitness == pytest.approx(-1.25)
    assert "non-finite" in results[1].error and "injected fault" in results[2].error


def test_killed_actor_is_restarted_and_its_chunk_rerun(ray_local, tmp_path):
    pid_dir = tmp_path / "pids"
    settings = FunctionSettings(dim=3, noise=0.5, faults=FaultSettings(sleep_s=1.5, pid_dir=pid_dir))
    genomes = torch.randn(8, 3, generator=torch.Generator().manual_seed(3))
    seeds = genome_seeds(5, 0, 8)
    expected = FunctionEvaluator(FunctionSettings(dim=3, noise=0.5)).evaluate(genomes, seeds)
    killed = []

    def kill_first_busy_actor():
        deadline = time.time() + 30
        while time.time() < deadline and not killed:
            pids = list(pid_dir.glob("*.pid")) if pid_dir.exists() else []
            if pids:
                pid = int(pids[0].read_text())
                os.kill(pid, signal.SIGKILL)  # mid-chunk: the evaluator is sleeping inside evaluate()
                killed.append(pid)
            time.sleep(0.05)

    with EvaluatorPool(partial(FunctionEvaluator, settings), backend="ray", num_workers=2, chunk_size=2) as pool:
        before = {pid for pid, _ in ray_local.get([a.ready.remote() for a in pool.actors])}
        killer = threading.Thread(target=kill_first_busy_actor)
        killer.start()
        results = pool.evaluate(genomes, seeds)
        killer.join()
        after = {pid for pid, _ in ray_local.get([a.ready.remote() for a in pool.actors])}
    assert killed and killed[0] in before and killed[0] not in after  # a new process took its place
    assert [r.failed for r in results] == [False] * 8
    assert [r.fitness for r in results] == [e.fitness for e in expected]


def test_setup_failure_is_reported_clearly(ray_local):
    class Broken(Evaluator):
        def setup(self):
            raise RuntimeError("no such dataset on disk")

        def evaluate(self, genomes, seeds):
            return []

    with pytest.raises(PoolError, match="no such dataset on disk"):
        EvaluatorPool(Broken, backend="ray", num_workers=1, max_restarts=0).start()


def test_empty_and_mismatched_batches():
    with EvaluatorPool(partial(FunctionEvaluator, FunctionSettings(dim=2)), backend="serial") as pool:
        assert pool.evaluate(torch.zeros(0, 2), []) == []
        with pytest.raises(ValueError, match="2 genomes but 1 seeds"):
            pool.evaluate(torch.zeros(2, 2), [0])


def test_actors_that_cannot_be_placed_fail_clearly(ray_local):
    settings = FunctionSettings(dim=2)
    with pytest.raises(PoolError, match=r"5 evaluation actors did not start within 3 s \(the cluster has"):
        EvaluatorPool(partial(FunctionEvaluator, settings), backend="ray", num_workers=5, start_timeout_s=3).start()
    # The cluster is usable afterwards: the stuck actors were removed.
    with EvaluatorPool(partial(FunctionEvaluator, settings), backend="ray", num_workers=2) as pool:
        assert len(pool.evaluate(torch.zeros(3, 2), [0, 1, 2])) == 3


def test_an_unreachable_cluster_address_is_one_line_and_exit_2_with_the_run_marked_failed(tmp_path, capsys):
    """Nothing listens on the port: the run stops within its connect timeout, before Ray's own minutes of
    retries, with one line naming the address; summary.json says failed, with the reason."""
    import json
    import socket

    from evoforge.cli import main
    from evoforge.errors import UserError
    from evoforge.search.cluster import check_reachable

    from .conftest import CONFIGS

    with socket.socket() as probe:  # a free port, closed again: connections to it are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "run"
    assert main(["run", str(CONFIGS / "quickstart.yaml"), "--address", f"127.0.0.1:{port}", "--quiet",
                 "--out", str(out), "--set", "pool.connect_timeout_s=2"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and f"127.0.0.1:{port}" in error and "within 2 s" in error
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and f"127.0.0.1:{port}" in summary["failure"]
    with pytest.raises(UserError, match="expected 'auto' or HOST:PORT"):
        check_reachable("nowhere")
    with socket.socket() as server:  # a head that answers passes the check
        server.bind(("127.0.0.1", 0))
        server.listen()
        check_reachable(f"127.0.0.1:{server.getsockname()[1]}", timeout_s=2)
