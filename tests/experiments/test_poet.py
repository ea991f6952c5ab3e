"""POET on walker terrains end to end: a tiny run through the CLI, environments admitted, resume = uninterrupted,
Ctrl-C and resume, injected evaluation failures, old run directories refused."""

import json
import signal
import subprocess
import time

import pytest
import torch

from evoforge.cli import main
from evoforge.experiments import load_experiment
from evoforge.search.rundir import RunDir

from ..conftest import CONFIGS, cli_env, evoforge_cmd

# tiny and permissive: short episodes, 4 rollouts per ES step, every child passes the minimal criterion
TINY = ["--set", "agent.max_episode_steps=40", "--set", "search.popsize=4", "--set", "poet.reproduce_every=2",
        "--set", "poet.transfer_every=2", "--set", "poet.repro_threshold=-1000", "--set", "poet.mc_low=-1000",
        "--set", "poet.mc_high=1000", "--set", "poet.children=3", "--set", "poet.capacity=2"]


TIMING = ("wall_s", "evals_per_s", "env_steps_per_s", "nodes", "bytes_to_actors")  # differ between runs of the same search


def _records(run_dir):
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for line in lines:
        for key in TIMING:
            line.pop(key)
    return lines


def run_experiment(run_dir):
    """The experiment of a run directory, from its saved config."""
    return load_experiment(RunDir(run_dir).config_path)


def test_poet_admits_environments_transfers_and_writes_its_files(tmp_path):
    out = tmp_path / "run"
    assert main(["run", str(CONFIGS / "poet_quick.yaml"), "--serial", "--quiet", "--out", str(out),
                 "--set", "poet.generations=5", *TINY]) == 0
    records = _records(out)
    assert [r["iteration"] for r in records] == [1, 2, 3, 4, 5]
    assert records[-1]["environments"] >= 3 and records[-1]["active"] == 2 and records[-1]["archived"] >= 1
    assert records[-1]["transfers_attempted"] > 0 and records[-1]["env_steps"] > 0
    environments = json.loads((out / "environments.json").read_text())
    assert environments[0]["name"] == "r0" and environments[0]["parent"] is None
    assert all(e["parent"] is not None for e in environments[1:])
    assert environments[1]["env"]["pit_gap"] == [0.0, 0.8]  # the first mutation enables pits and stumps
    summary = json.loads((out / "summary.json").read_text())
    assert summary["iterations"] == 5 and summary["status"] == "completed"


def test_poet_resume_equals_the_uninterrupted_run(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    config = str(CONFIGS / "poet_quick.yaml")
    assert main(["run", config, "--serial", "--quiet", "--out", str(straight), "--set", "poet.generations=6",
                 *TINY]) == 0
    assert main(["run", config, "--serial", "--quiet", "--out", str(split), "--set", "poet.generations=3",
                 *TINY]) == 0
    assert main(["resume", str(split), "--generations", "6", "--quiet"]) == 0  # serial: saved in its config
    assert _records(split) == _records(straight)
    a, b = (run_experiment(d).load_poet(d) for d in (straight, split))
    assert [p.id for p in a.pairs] == [p.id for p in b.pairs]
    for x, y in zip(a.pairs + a.archive, b.pairs + b.archive):
        torch.testing.assert_close(x.searcher.center, y.searcher.center, rtol=0, atol=0)


def test_inspect_draws_the_environment_tree_and_replay_runs_any_agent_anywhere(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", str(CONFIGS / "poet_quick.yaml"), "--serial", "--quiet", "--out", str(out),
                 "--set", "poet.generations=5", *TINY]) == 0
    assert main(["inspect", str(out)]) == 0
    import imageio.v2 as imageio

    tree = imageio.imread(out / "environments.png")
    assert tree.shape[0] > 100 and tree.shape[1] >= 250
    assert (out / "poet.png").is_file()
    assert main(["replay", str(out), "--agent", "0", "--on", "2", "--video", str(tmp_path / "walk.gif")]) == 0
    assert "agent #0 on environment #2: return" in capsys.readouterr().out
    assert len(imageio.mimread(tmp_path / "walk.gif")) >= 2
    assert main(["replay", str(out), "--agent", "99"]) == 2  # no such agent: one line, exit 2


def test_hebbian_agents_with_the_enhanced_transfer_rule(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", str(CONFIGS / "poet_quick.yaml"), "--serial", "--quiet", "--out", str(out),
                 "--set", "poet.generations=5", *TINY, "--set", "agent.kind=hebbian", "--set", "agent.hidden=[8]",
                 "--set", "poet.transfer_rule=enhanced"]) == 0
    from evoforge.policies.walker import WalkerAgent

    experiment = run_experiment(out)
    poet = experiment.load_poet(out)
    agent = WalkerAgent(experiment.config.agent)
    assert agent.num_params == 5 * (24 * 8 + 8 * 4)  # ABCD + eta per synapse, bias-free
    assert all(p.searcher.center.numel() == agent.num_params for p in poet.pairs + poet.archive)
    assert poet.settings.transfer_rule == "enhanced" and len(poet.envs) >= 3
    assert _records(out)[-1]["transfers_attempted"] > 0
    assert main(["replay", str(out), "--agent", "0", "--on", "1"]) == 0
    assert "agent #0 on environment #1: return" in capsys.readouterr().out


def _run_where_everything_is_solved(out):
    """A tiny POET run in ``out`` whose every environment counts as solved (threshold -1000)."""
    assert main(["run", str(CONFIGS / "poet_quick.yaml"), "--serial", "--quiet", "--out", str(out),
                 "--set", "poet.generations=4", *TINY, "--set", "poet.solved=-1000"]) == 0


def _run_script(monkeypatch, name, *args):
    """scripts/NAME run as ``python scripts/NAME ARGS``; its exit code."""
    import runpy
    import sys

    from ..conftest import REPO

    monkeypatch.setattr(sys, "argv", [name, *args])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(REPO / "scripts" / name), run_name="__main__")
    return done.value.code


def test_the_direct_es_control_runs_plain_es_on_the_hardest_solved_terrain(tmp_path, monkeypatch, capsys):
    from evoforge.experiments.poet import es_steps_until, hardest_solved

    out = tmp_path / "run"
    _run_where_everything_is_solved(out)
    poet = run_experiment(out).load_poet(out)
    record = hardest_solved(poet)
    assert record is not None and record.parent is not None  # never the flat start
    budget = es_steps_until(poet.history, record.solved_at)
    assert budget == sum(r["active"] for r in poet.history[:record.solved_at + 1])
    control = tmp_path / "control"
    assert _run_script(monkeypatch, "poet_direct_es.py", str(out), "--run", "--serial", "--out", str(control)) == 0
    assert f"environment #{record.id}" in capsys.readouterr().out
    direct = run_experiment(control).load_poet(control)
    assert direct.iteration == budget and len(direct.envs) == 1  # plain ES: one pair, no children
    assert direct.envs[0].env == record.env  # the same terrain, seed included


def test_solved_agents_are_re_tested_on_fresh_terrain_seeds(tmp_path, monkeypatch, capsys):
    """scripts/poet_generalisation.py: every solved environment's solving agent replays its own terrain to the
    recorded best score (deterministic episodes) and plays the same parameters with fresh terrain seeds."""
    out = tmp_path / "run"
    _run_where_everything_is_solved(out)
    poet = run_experiment(out).load_poet(out)
    solved = sorted(r.id for r in poet.envs.values() if r.solved_at is not None)
    report = tmp_path / "generalisation.json"
    assert _run_script(monkeypatch, "poet_generalisation.py", str(out), "--episodes", "3", "--json", str(report)) == 0
    assert f"{len(solved)} solved environments, 3 fresh terrain seeds each" in capsys.readouterr().out
    rows = json.loads(report.read_text())["environments"]
    assert [row["env"] for row in rows] == solved and len(solved) >= 2
    for row in rows:
        assert row["own_terrain"] == pytest.approx(row["recorded_best"], abs=1e-6)
        assert len(row["fresh"]) == 3 and poet.envs[row["env"]].env["seed"] not in row["terrain_seeds"]
        assert row["fresh_solved_share"] == 1.0  # the threshold is -1000 here
    # the fresh seeds are other terrains: some episode differs from the own terrain's
    assert any(score != pytest.approx(row["own_terrain"]) for row in rows for score in row["fresh"])
    assert _run_script(monkeypatch, "poet_generalisation.py", str(out), "--episodes", "1") == 2


def _centres(run_dir):
    poet = run_experiment(run_dir).load_poet(run_dir)
    return [(p.id, p.searcher.center) for p in poet.pairs + poet.archive]


def test_ctrl_c_reports_interrupted_and_resume_reaches_the_uninterrupted_result(tmp_path):
    config, stopped = str(CONFIGS / "poet_quick.yaml"), tmp_path / "stopped"
    process = subprocess.Popen(evoforge_cmd("run", config, "--serial", "--quiet", "--out", str(stopped),
                                            "--set", "poet.generations=1000", *TINY),
                               env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list((stopped / "checkpoints").glob("ckpt-*.ckpt")):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[1]
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    summary = RunDir(stopped).read_summary()
    assert summary["status"] == "interrupted"
    done = summary["generations_completed"]
    assert 1 <= done < 1000
    assert main(["resume", str(stopped), "--generations", str(done + 2), "--quiet"]) == 0
    straight = tmp_path / "straight"
    assert main(["run", config, "--serial", "--quiet", "--out", str(straight), "--set",
                 f"poet.generations={done + 2}", *TINY]) == 0
    assert _records(stopped) == _records(straight)
    assert RunDir(stopped).read_summary()["status"] == "completed"
    for (a_id, a), (b_id, b) in zip(_centres(stopped), _centres(straight), strict=True):
        assert a_id == b_id
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def _inject_failures(monkeypatch):
    """The walker evaluator, except that the first job of every batch of 4 or more fails (an exception in the
    worker), and so does that job whenever it is retried alone: one failure per batch, at most 25 %."""
    from evoforge.experiments.poet import WalkerEvaluator

    evaluate = WalkerEvaluator.evaluate

    def key(job):
        terrain, genome = job
        return json.dumps(terrain, sort_keys=True), genome.numpy().tobytes()

    def flaky(self, genomes, seeds):
        doomed = self.__dict__.setdefault("doomed", set())
        if len(genomes) >= 4:
            doomed.add(key(genomes[0]))
        if any(key(job) in doomed for job in genomes):
            raise RuntimeError("injected failure")
        return evaluate(self, genomes, seeds)

    monkeypatch.setattr(WalkerEvaluator, "evaluate", flaky)


def test_failed_evaluations_below_the_limit_are_survived_above_it_stop_the_run(tmp_path, monkeypatch, capsys):
    _inject_failures(monkeypatch)
    config, survived, stopped = str(CONFIGS / "poet_quick.yaml"), tmp_path / "survived", tmp_path / "stopped"
    assert main(["run", config, "--serial", "--quiet", "--out", str(survived), "--set", "poet.generations=5",
                 *TINY]) == 0  # the default limit, 25 %
    summary = RunDir(survived).read_summary()
    assert summary["status"] == "completed" and summary["failed_evaluations"] > 0 and summary["iterations"] == 5
    assert sum(r["failed"] for r in _records(survived)) == summary["failed_evaluations"]
    capsys.readouterr()
    assert main(["run", config, "--serial", "--quiet", "--out", str(stopped), "--set", "poet.generations=5",
                 "--set", "pool.max_failure_fraction=0.1", *TINY]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "evaluations failed" in err[0] and "injected failure" in err[0]
    assert RunDir(stopped).read_summary()["status"] == "failed"


def test_a_run_directory_of_the_old_own_loop_is_refused_with_one_line(tmp_path, capsys):
    from evoforge.experiments.config import dump_yaml

    old = RunDir(tmp_path / "old")
    old.write_config(dump_yaml(load_experiment(CONFIGS / "poet_quick.yaml").config))
    old.artifact("poet_state.ckpt").write_bytes(b"a POET state of evoforge 0.1")
    assert main(["resume", str(old.path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "poet_state.ckpt" in err[0]


def test_environments_are_counted_by_the_papers_difficulty_classes():
    import numpy as np

    from evoforge.envs.cppn import CPPN
    from evoforge.envs.poet_walker import TerrainConfig
    from evoforge.experiments.poet import class_counts
    from evoforge.search.poet import EnvRecord

    class Loop:  # class_counts reads only the environment records
        envs = {
            0: EnvRecord(0, TerrainConfig().to_dict(), None, 0, solved_at=3),
            1: EnvRecord(1, TerrainConfig(stump_height=(0.4, 2.4)).to_dict(), 0, 5),
            2: EnvRecord(2, TerrainConfig(roughness=5.0, pit_gap=(2.0, 6.0)).to_dict(), 0, 6, solved_at=9),
            3: EnvRecord(3, TerrainConfig(roughness=4.5, pit_gap=(2.0, 6.4), stump_height=(1.0, 3.0)).to_dict(),
                         2, 8),
            4: EnvRecord(4, TerrainConfig(cppn=CPPN.root(np.random.default_rng(0)).to_dict()).to_dict(), 0, 9),
        }

    counts = class_counts(Loop())
    assert [counts[c, "created"] for c in ("not challenging", "challenging", "very challenging",
                                           "extremely challenging", "unclassified (CPPN)")] == [1, 1, 1, 1, 1]
    assert counts["not challenging", "solved"] == counts["very challenging", "solved"] == 1
    assert counts["extremely challenging", "solved"] == 0
