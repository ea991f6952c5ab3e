"""The Ray cluster paths, on a loopback cluster (:class:`evoforge.search.loopback.LocalCluster`: a head and
worker nodes, each a ``ray start --block`` process with one CPU).

* ``--address`` joins an existing cluster and its actors use every node (two actors on two one-CPU nodes).
* A head lost mid-run stops the run within ``pool.head_lost_after_s``: summary.json says ``failed`` with the
  reason, the last completed generation is checkpointed, the driver's last line says how to resume, and the
  run resumes from it.
* A node joining mid-run gets an actor at the next generation; a node leaving has its chunks re-run on the
  others; the run equals the serial one.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest

from evoforge.search.loopback import RAY, LocalCluster, cluster_env, dies_with_this_process
from evoforge.search.metrics import read_metrics

from .conftest import CONFIGS, REPO, evoforge_cmd

QUICKSTART = CONFIGS / "quickstart.yaml"
GENERATIONS = 3
POPSIZE = 16

pytestmark = pytest.mark.skipif(not RAY.is_file(), reason=f"no ray executable next to {sys.executable}")


@pytest.fixture
def two_node_cluster():
    cluster = LocalCluster()
    try:
        cluster.start(workers=1)
        nodes = cluster.wait_for_nodes(2)
        assert len(nodes) == 2 and all(cpus == 1 for cpus in nodes.values()), f"{nodes}\n{cluster.logs()}"
        cluster.node_ids = set(nodes)
        yield cluster
    finally:
        cluster.stop()
    assert not cluster.remaining, f"cluster processes still running after teardown: {cluster.remaining}"


@pytest.mark.timeout(300)
def test_run_joins_an_existing_cluster_and_uses_all_its_nodes(two_node_cluster, tmp_path):
    cluster = two_node_cluster
    out = tmp_path / "run"
    command = evoforge_cmd(
        "run", str(QUICKSTART), "--address", cluster.address, "--out", str(out), "--quiet", "--workers", "2",
        "--set", f"search.generations={GENERATIONS}", "--set", "stop_fitness=null",
        "--set", f"search.popsize={POPSIZE}", "--set", "center_eval.every=0",
    )
    # SIGKILL if the test process dies: a driver whose cluster is being torn down can hang in Ray calls.
    done = subprocess.run(dies_with_this_process(command, signal.SIGKILL), capture_output=True, text=True,
                          env=cluster.env, timeout=180)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{cluster.logs()}"

    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["generations_completed"] == GENERATIONS

    records = read_metrics(out)
    assert [r["generation"] for r in records] == list(range(GENERATIONS))
    per_node: Counter = Counter()
    for record in records:
        assert record["evaluations"] == POPSIZE
        assert sum(record["nodes"].values()) == record["evaluations"], record["nodes"]
        per_node.update(record["nodes"])
    assert sum(per_node.values()) == summary["evaluations"] == GENERATIONS * POPSIZE
    # The evaluations ran on the cluster's own nodes (not on a Ray the run started itself), on both of them.
    assert set(per_node) == cluster.node_ids, (per_node, cluster.node_ids)
    assert len(per_node) >= 2 and all(count > 0 for count in per_node.values()), per_node


@pytest.mark.timeout(300)
def test_a_head_lost_mid_run_fails_it_in_bounded_time_and_it_resumes(tmp_path):
    """Killing the head's GCS (SIGKILL) mid-run: the driver notices within
    pool.head_lost_after_s (3 s here; Ray's own client would end the process after a minute, exit 1, with
    summary.json still "running"), marks the run failed with the reason, and its last line says how to resume
    from the checkpointed generation; resuming (here on a local Ray) finishes the run."""
    cluster = LocalCluster()
    out = tmp_path / "run"
    try:
        cluster.start(workers=0)
        cluster.wait_for_nodes(1)
        command = evoforge_cmd(
            "run", str(QUICKSTART), "--address", cluster.address, "--out", str(out), "--quiet", "--workers", "1",
            "--set", "search.generations=200", "--set", "stop_fitness=null", "--set", "center_eval.every=0",
            "--set", "pool.head_lost_after_s=3", "--set", "pool.heartbeat_s=0.5")
        driver = subprocess.Popen(dies_with_this_process(command, signal.SIGKILL), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=cluster.env)
        deadline = time.monotonic() + 120
        while not (out / "metrics.jsonl").is_file() or len(read_metrics(out)) < 2:  # 2 generations done
            assert driver.poll() is None and time.monotonic() < deadline, driver.communicate()
            time.sleep(0.2)
        cluster.kill_head()
        try:
            _, stderr = driver.communicate(timeout=45)  # well before Ray's own 60 s
        except subprocess.TimeoutExpired:
            driver.kill()
            raise AssertionError(f"the driver did not notice the lost head: {driver.communicate()}") from None
    finally:
        cluster.stop()
    assert driver.returncode == 1, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"evoforge: run failed: lost the Ray cluster: its head at {cluster.address} has not "
                           "answered for 3 s; generation "), stderr
    assert last.endswith(f"continue once the cluster is back with: evoforge resume {out} --address "
                         f"{cluster.address}"), last
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["failure"].startswith("lost the Ray cluster: its head at")
    done = summary["generations_completed"]
    assert done >= 2 and f"generation {done} is checkpointed" in last
    resumed = subprocess.run(evoforge_cmd("resume", str(out), "--workers", "1", "--generations", str(done + 2),
                                          "--quiet"), capture_output=True, text=True, env=cluster.env, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"(generation {done})" in resumed.stderr
    assert json.loads((out / "summary.json").read_text())["generations_completed"] == done + 2


# Runs in a subprocess of its own (the test process may hold a local Ray): the same sphere ES serially, then on
# a two-node loopback cluster where a third node joins after generation 2 and leaves during generation 5.
_JOIN_AND_LEAVE = """
import json, sys, threading, time
from evoforge.experiments import load_experiment
from evoforge.search.loopback import LocalCluster
from evoforge.search.run import Run

config, out = sys.argv[1], sys.argv[2]
overrides = ["search.generations=7", "stop_fitness=null", "function.noise=0.2", "pool.chunk_size=2",
             "function.faults.sleep_s=0.4", "center_eval.every=0", "pool.heartbeat_s=0.5"]
Run(load_experiment(config, overrides + ["pool.backend=serial"]), out + "/serial", progress=False).execute()
cluster = LocalCluster()
events = {}
try:
    cluster.start(workers=1)
    cluster.wait_for_nodes(2)
    experiment = load_experiment(config, overrides)
    run = Run(experiment, out + "/cluster", address=cluster.address, progress=False)

    def on_generation(files, searcher):
        if run.state.generation == 2:  # generations 0 and 1 done: a node joins before generation 2
            events["joined"] = cluster.add_node()
            events["nodes_after_join"] = sorted(cluster.wait_for_nodes(3))
        if run.state.generation == 5:  # the node leaves while generation 5 is being evaluated
            threading.Thread(target=cluster.stop_node, args=(events["joined"],)).start()

    experiment.on_generation = on_generation
    summary = run.execute()
finally:
    cluster.stop()
print(json.dumps({"summary": summary, "events": events, "remaining": cluster.remaining}))
"""


@pytest.mark.timeout(420)
def test_nodes_joining_and_leaving_mid_run_change_nothing(tmp_path):
    done = subprocess.run(dies_with_this_process([sys.executable, "-c", textwrap.dedent(_JOIN_AND_LEAVE),
                                                  str(CONFIGS / "function_sphere.yaml"), str(tmp_path)],
                                                 signal.SIGKILL),
                          capture_output=True, text=True, cwd=REPO, timeout=400, check=False,
                          env=cluster_env())
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["summary"]["status"] == "completed" and not report["remaining"], report
    records = read_metrics(tmp_path / "cluster")
    assert [r["generation"] for r in records] == list(range(7))
    # Two actors on the two first nodes; the joined node's free CPU gets a third at the next generation (or the
    # one after, should Ray's resource view lag), and it takes work until it leaves.
    added = [r["actors_added"] for r in records]
    assert added[:2] == [0, 0] and sum(added[2:4]) == 1 and sum(added) == 1, added
    assert [len(r["nodes"]) for r in records[:2]] == [2, 2] and len(records[4]["nodes"]) == 3
    # It left during generation 5: its actor is dropped, its chunks re-run elsewhere; no evaluation is lost.
    assert sum(r["actors_lost"] for r in records[5:]) >= 1 and len(records[6]["nodes"]) == 2
    assert all(r["failed"] == 0 and sum(r["nodes"].values()) == r["evaluations"] for r in records)
    timing = {"evals_per_s", "env_steps_per_s", "wall_s", "nodes", "bytes_to_actors", "actors_added", "actors_lost"}
    serial = [{k: v for k, v in r.items() if k not in timing} for r in read_metrics(tmp_path / "serial")]
    assert [{k: v for k, v in r.items() if k not in timing} for r in records] == serial


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_population_transfer_benchmark_measures_both_modes(tmp_path):
    """scripts/bench_population_transfer.py, at a tiny budget: both modes run on its loopback cluster, their
    fitness records agree, and the seeds carry a fraction of the vectors' bytes."""
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_population_transfer.py"), "--popsize", "8",
                           "--steps", "5", "--generations", "2", "--repeats", "1", "--json", str(out)],
                          capture_output=True, text=True, cwd=REPO, env=cluster_env(), timeout=560, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["records_agree"]
    sent = {mode: result["summary"][mode]["bytes_to_actors"] for mode in ("seeds", "vectors")}
    assert sent["vectors"] == 8 * 458_002 * 4 and sent["seeds"] < sent["vectors"] / 4


@pytest.mark.timeout(240)
def test_a_head_lost_between_batches_is_noticed_before_any_ray_call(tmp_path):
    """The head dies between two batches: the next batch's first Ray calls (the object store, the GCS) would
    hang until Ray ends the process; the pool probes the head first and raises ClusterLost within
    head_lost_after_s, and its shutdown does not wait for the dead head either."""
    script = textwrap.dedent("""
        import sys, time
        from functools import partial
        import torch
        from evoforge.experiments.function import FunctionEvaluator, FunctionSettings
        from evoforge.search.genome import SeededPopulation
        from evoforge.search.loopback import LocalCluster
        from evoforge.search.pool import ClusterLost, EvaluatorPool

        cluster = LocalCluster()
        try:
            cluster.start(workers=0)
            cluster.wait_for_nodes(1)
            pool = EvaluatorPool(partial(FunctionEvaluator, FunctionSettings(dim=3)), address=cluster.address,
                                 num_workers=1, head_lost_after_s=2, heartbeat_s=0.5)
            population = SeededPopulation(torch.zeros(3), 0.1, (1, 1, 2, 2), (1, -1, 1, -1))
            print("first batch", len(pool.evaluate(population, [0, 1, 2, 3])), flush=True)
            cluster.kill_head()
            began = time.monotonic()
            try:
                pool.evaluate(population, [0, 1, 2, 3])
            except ClusterLost as exc:
                print(f"ClusterLost after {time.monotonic() - began:.1f} s: {exc}", flush=True)
            pool.shutdown()
            print("shut down", flush=True)
        finally:
            cluster.stop()
        sys.stdout.flush()
    """)
    done = subprocess.run(dies_with_this_process([sys.executable, "-c", script], signal.SIGKILL),
                          capture_output=True, text=True, cwd=REPO, env=cluster_env(), timeout=200, check=False)
    lines = [line for line in done.stdout.splitlines() if not line.startswith("[")]
    assert lines and lines[0] == "first batch 4", done.stdout + done.stderr[-3000:]
    assert lines[1].startswith("ClusterLost after ") and "has not answered for 2 s" in lines[1], lines
    assert float(lines[1].split()[2]) < 30 and lines[2] == "shut down", lines  # not Ray's own 60 s
