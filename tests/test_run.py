"""Runs end to end: resume equals an uninterrupted run, killed actors lose nothing, failures stop cleanly."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import threading
import time

import pytest

from evoforge.experiments import load_experiment
from evoforge.search import checkpoint as ckpt
from evoforge.search.metrics import read_metrics
from evoforge.search.run import Run

from .conftest import CONFIGS, cli_env, evoforge_cmd

SPHERE = CONFIGS / "function_sphere.yaml"
# Per-generation fields that depend on the clock or on where evaluations ran (serially nothing is shipped).
TIMING = {"evals_per_s", "env_steps_per_s", "wall_s", "nodes", "bytes_to_actors"}


def _summary(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    summary.pop("wall_time_s")
    return summary


def _final_state(run_dir):
    payload = ckpt.load_checkpoint(ckpt.list_checkpoints(run_dir / "checkpoints")[-1])
    state = pickle.loads(payload["searcher"])  # the sphere config's openai_es: evoforge's own OpenAIESState
    progress = {k: v for k, v in payload["progress"].items() if k != "elapsed_s"}
    return state.center.tolist(), state.sigma, state.m.tolist(), state.v.tolist(), progress


def _metrics(run_dir):
    return [{k: v for k, v in record.items() if k not in TIMING} for record in read_metrics(run_dir)]


def _assert_same_run(a, b):
    assert _summary(a) == _summary(b)
    assert _final_state(a) == _final_state(b)
    assert _metrics(a) == _metrics(b)


def _interrupt_after(process, run_dir, generations, sig=signal.SIGINT):
    deadline = time.time() + 120
    metrics = run_dir / "metrics.jsonl"
    while time.time() < deadline:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= generations:
            process.send_signal(sig)
            return process.communicate(timeout=120)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"run ended or stalled before generation {generations}: {process.communicate()}")


@pytest.mark.parametrize("backend, sig", [("serial", signal.SIGINT), ("ray", signal.SIGTERM)])
def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, backend, sig):
    overrides = [
        "--set", "search.generations=8", "--set", "stop_fitness=null", "--set", "function.noise=0.1",
        "--set", "function.faults.sleep_s=0.15", "--set", f"pool.backend={backend}", "--set", "checkpoint.every=2",
        "--set", "pool.workers=2",
    ]
    full, split = tmp_path / "full", tmp_path / "split"
    env = cli_env()
    done = subprocess.run(evoforge_cmd("run", str(SPHERE), "--out", str(full), "--quiet", *overrides),
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr

    process = subprocess.Popen(evoforge_cmd("run", str(SPHERE), "--out", str(split), "--quiet", *overrides),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    _, stderr = _interrupt_after(process, split, generations=3, sig=sig)
    assert process.returncode == 128 + sig, stderr
    assert "checkpoint written, continue with: evoforge resume" in stderr
    assert "Traceback" not in stderr
    interrupted = json.loads((split / "summary.json").read_text())
    assert interrupted["status"] == "interrupted" and 3 <= interrupted["generations_completed"] < 8
    # The last completed generation is on disk even though checkpoint.every=2.
    assert ckpt.load_checkpoint(ckpt.list_checkpoints(split / "checkpoints")[-1])["generation"] == interrupted[
        "generations_completed"]

    resumed = subprocess.run(evoforge_cmd("resume", str(split), "--quiet"), capture_output=True, text=True,
                             env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    _assert_same_run(full, split)


def test_resume_skips_a_corrupt_checkpoint_and_refuses_it_when_named(tmp_path):
    run_dir = tmp_path / "run"
    overrides = ["--set", "search.generations=5", "--set", "stop_fitness=null", "--serial", "--quiet"]
    assert subprocess.run(evoforge_cmd("run", str(SPHERE), "--out", str(run_dir), *overrides),
                          env=cli_env(), timeout=300, capture_output=True).returncode == 0
    reference = tmp_path / "reference"
    subprocess.run(["cp", "-r", str(run_dir), str(reference)], check=True)
    latest = ckpt.list_checkpoints(run_dir / "checkpoints")[-1]
    latest.write_bytes(latest.read_bytes()[:100])  # truncated, as by a crash without atomic writes

    named = subprocess.run(evoforge_cmd("resume", str(run_dir), "--checkpoint", str(latest), "--quiet"),
                           capture_output=True, text=True, env=cli_env(), timeout=300)
    assert named.returncode == 2
    assert named.stderr.strip() == f"evoforge: checkpoint {latest.name} is truncated (52 of {_payload_len(reference)} payload bytes)"

    fallback = subprocess.run(evoforge_cmd("resume", str(run_dir), "--quiet"), capture_output=True, text=True,
                              env=cli_env(), timeout=300)
    assert fallback.returncode == 0, fallback.stderr
    assert f"warning: skipping {latest.name}: checkpoint {latest.name} is truncated" in fallback.stderr
    assert "from ckpt-000004.ckpt" in fallback.stderr
    _assert_same_run(reference, run_dir)


def test_a_finished_run_extended_by_resume_equals_a_longer_run(tmp_path):
    common = ["--set", "stop_fitness=null", "--serial", "--quiet"]
    short, long = tmp_path / "short", tmp_path / "long"
    for run_dir, generations in ((short, 3), (long, 6)):
        assert subprocess.run(evoforge_cmd("run", str(SPHERE), "--out", str(run_dir), "--set",
                                           f"search.generations={generations}", *common),
                              env=cli_env(), timeout=300, capture_output=True).returncode == 0
    too_few = subprocess.run(evoforge_cmd("resume", str(short), "--generations", "3", "--quiet"),
                             capture_output=True, text=True, env=cli_env(), timeout=300)
    assert too_few.returncode == 2 and "the run already has 3" in too_few.stderr
    extended = subprocess.run(evoforge_cmd("resume", str(short), "--generations", "6", "--quiet"),
                              capture_output=True, text=True, env=cli_env(), timeout=300)
    assert extended.returncode == 0, extended.stderr
    assert "generations: 6" in (short / "config.yaml").read_text()
    _assert_same_run(long, short)


def _payload_len(run_dir):
    import struct

    data = ckpt.list_checkpoints(run_dir / "checkpoints")[-1].read_bytes()
    return struct.unpack_from(">8sQ32s", data)[1]


def test_killed_actor_mid_run_loses_no_evaluation_and_changes_nothing(ray_local, tmp_path):
    pid_dir = tmp_path / "pids"
    overrides = ["search.generations=4", "stop_fitness=null", "function.noise=0.2", "pool.chunk_size=4",
                 "pool.workers=2", "function.faults.sleep_s=0.3"]
    serial = load_experiment(SPHERE, overrides + ["pool.backend=serial"])
    Run(serial, tmp_path / "serial", progress=False).execute()

    distributed = load_experiment(SPHERE, overrides + [f"function.faults.pid_dir={pid_dir}"])
    run = Run(distributed, tmp_path / "ray", progress=False)
    killed = []

    def kill_one_actor_during_generation_two():
        deadline = time.time() + 60
        metrics = tmp_path / "ray" / "metrics.jsonl"
        while time.time() < deadline:
            if metrics.exists() and metrics.read_text().count("\n") >= 1:
                for pid_file in sorted(pid_dir.glob("*.pid")):
                    pid_file.unlink()
                time.sleep(0.05)
                busy = sorted(pid_dir.glob("*.pid"))
                if busy:
                    pid = int(busy[0].read_text())
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_actor_during_generation_two)
    killer.start()
    summary = run.execute()
    killer.join()
    assert killed, "no actor was killed"
    assert summary["status"] == "completed" and summary["failed_evaluations"] == 0
    assert summary["evaluations"] == 4 * 16
    _assert_same_run(tmp_path / "serial", tmp_path / "ray")


def test_a_population_shipped_as_seeds_gives_the_run_shipped_as_vectors(ray_local, tmp_path):
    """OpenAI-ES genomes travel to the actors as noise seeds (the center once per batch) or as whole vectors:
    the same run either way, and the seeds carry a fraction of the bytes (bytes_to_actors in metrics)."""
    overrides = ["search.generations=3", "stop_fitness=null", "pool.workers=2", "pool.chunk_size=4",
                 "function.dim=400", "center_eval.every=0"]
    for transfer in ("seeds", "vectors"):
        experiment = load_experiment(SPHERE, overrides + [f"pool.population_transfer={transfer}"])
        Run(experiment, tmp_path / transfer, progress=False).execute()
    _assert_same_run(tmp_path / "seeds", tmp_path / "vectors")
    sent = {t: [r["bytes_to_actors"] for r in read_metrics(tmp_path / t)] for t in ("seeds", "vectors")}
    assert sent["vectors"] == [16 * 400 * 4] * 3  # 16 genomes of 400 float32
    assert all(0 < seeds < vectors / 4 for seeds, vectors in zip(sent["seeds"], sent["vectors"]))


def test_too_many_failures_stop_with_a_clear_message(tmp_path):
    result = subprocess.run(
        evoforge_cmd("run", str(SPHERE), "--out", str(tmp_path / "run"), "--serial", "--quiet",
                     "--set", "function.faults.raise_above=-100"),
        capture_output=True, text=True, env=cli_env(), timeout=300,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith(
        "evoforge: run failed: generation 0: 16 of 16 evaluations failed (limit 25%); "
        "first error: ValueError: injected fault: x[0] > -100.0 at function.py:"
    )
    assert len(result.stderr.strip().splitlines()) == 1
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "failed"


def test_quickstart_solves_cartpole_then_inspect_and_replay(tmp_path):
    """The README's main job (Hebbian rules from random weights), on the embedded local Ray, reaches CartPole-v1's
    reward threshold (475); inspect draws the weights and the perturbation replay; replay records a video."""
    run_dir = tmp_path / "quickstart"
    result = subprocess.run(evoforge_cmd("run", str(CONFIGS / "quickstart.yaml"), "--out", str(run_dir), "--quiet"),
                            capture_output=True, text=True, env=cli_env(), timeout=600)
    assert result.returncode == 0, result.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["solved"] and summary["best_center_eval"] >= 475.0
    assert {"config.yaml", "metrics.jsonl", "best.pt", "summary.json", "checkpoints", "tensorboard"} <= {
        p.name for p in run_dir.iterdir()}
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))

    inspect = subprocess.run(evoforge_cmd("inspect", str(run_dir)), capture_output=True, text=True, env=cli_env(),
                             timeout=120)
    assert inspect.returncode == 0 and "solved" in inspect.stdout
    for plot in ("fitness.png", "weights.png", "perturbation.png"):
        assert (run_dir / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    variants = {line.split(":")[0]: float(line.rsplit(" ", 1)[1]) for line in inspect.stdout.splitlines()
                if line.startswith("episode return, ")}
    assert set(variants) == {"episode return, unperturbed", "episode return, weights zeroed",
                             "episode return, weights re-randomised"}
    # One episode each (the centre's mean over fresh seeds is replay's check below); a random network scores ~20.
    assert variants["episode return, unperturbed"] >= 300

    video = tmp_path / "replay.mp4"  # a GIF would merge identical frames of a perfectly balanced pole
    replay = subprocess.run(evoforge_cmd("replay", str(run_dir), "--episodes", "5", "--video", str(video)),
                            capture_output=True, text=True, env=cli_env(), timeout=300)
    assert replay.returncode == 0, replay.stderr
    returns = [float(line.split()[-1]) for line in replay.stdout.splitlines() if line.startswith("episode ")]
    assert len(returns) == 5 and sum(returns) / 5 >= 450  # the solved centre keeps balancing on new seeds
    import imageio.v2 as imageio

    with imageio.get_reader(video) as reader:
        assert reader.count_frames() == sum(int(r) + 1 for r in returns)  # reset frame + one per step (reward 1)


def test_a_torn_last_metrics_line_does_not_break_resume(tmp_path):
    """A process killed mid-write leaves half a line at the end of metrics.jsonl: resume drops it and continues
    to the uninterrupted result (it used to die with a JSONDecodeError)."""
    common = ["--set", "stop_fitness=null", "--serial", "--quiet"]
    short, long = tmp_path / "short", tmp_path / "long"
    for run_dir, generations in ((short, 3), (long, 5)):
        assert subprocess.run(evoforge_cmd("run", str(SPHERE), "--out", str(run_dir), "--set",
                                           f"search.generations={generations}", *common),
                              env=cli_env(), timeout=300, capture_output=True).returncode == 0
    with open(short / "metrics.jsonl", "a") as handle:
        handle.write('{"generation": 3, "fitness_be')
    resumed = subprocess.run(evoforge_cmd("resume", str(short), "--generations", "5", "--quiet"),
                             capture_output=True, text=True, env=cli_env(), timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert all(line.startswith("{") and line.endswith("}") for line in (short / "metrics.jsonl").read_text().splitlines())
    _assert_same_run(long, short)


def test_a_checkpoint_of_an_older_format_is_refused_with_one_line(tmp_path, capsys):
    from evoforge.cli import main

    run_dir = tmp_path / "run"
    assert main(["run", str(SPHERE), "--out", str(run_dir), "--serial", "--quiet", "--set", "search.generations=2",
                 "--set", "stop_fitness=null"]) == 0
    latest = ckpt.list_checkpoints(run_dir / "checkpoints")[-1]
    payload = ckpt.load_checkpoint(latest)
    payload["format"] = 1
    ckpt.save_checkpoint(run_dir / "checkpoints", 3, payload, keep=3)
    capsys.readouterr()
    assert main(["resume", str(run_dir), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ckpt-000003.ckpt is a checkpoint in format 1" in err
