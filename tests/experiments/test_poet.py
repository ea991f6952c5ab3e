"""POET on walker terrains end to end: a tiny run through the CLI, environments admitted, resume = uninterrupted."""

import json

import pytest
import torch

from evoforge.cli import main

from ..conftest import CONFIGS

# tiny and permissive: short episodes, 4 rollouts per ES step, every child passes the minimal criterion
TINY = ["--set", "agent.max_episode_steps=40", "--set", "search.popsize=4", "--set", "poet.reproduce_every=2",
        "--set", "poet.transfer_every=2", "--set", "poet.repro_threshold=-1000", "--set", "poet.mc_low=-1000",
        "--set", "poet.mc_high=1000", "--set", "poet.children=3", "--set", "poet.capacity=2"]


def _records(run_dir):
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for line in lines:
        line.pop("wall_s")
    return lines


def test_poet_admits_environments_transfers_and_writes_its_files(tmp_path):
    out = tmp_path / "run"
    assert main(["run", str(CONFIGS / "poet_quick.yaml"), "--serial", "--quiet", "--out", str(out),
                 "--set", "poet.iterations=5", *TINY]) == 0
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
    assert main(["run", config, "--serial", "--quiet", "--out", str(straight), "--set", "poet.iterations=6",
                 *TINY]) == 0
    assert main(["run", config, "--serial", "--quiet", "--out", str(split), "--set", "poet.iterations=3",
                 *TINY]) == 0
    assert main(["resume", str(split), "--generations", "6", "--quiet"]) == 0  # serial: saved in its config
    assert _records(split) == _records(straight)
    from evoforge.experiments.runs import run_experiment

    a, b = (run_experiment(d).load_poet(d) for d in (straight, split))
    assert [p.id for p in a.pairs] == [p.id for p in b.pairs]
    for x, y in zip(a.pairs + a.archive, b.pairs + b.archive):
        torch.testing.assert_close(x.searcher.center, y.searcher.center, rtol=0, atol=0)


def test_inspect_draws_the_environment_tree_and_replay_runs_any_agent_anywhere(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", str(CONFIGS / "poet_quick.yaml"), "--serial", "--quiet", "--out", str(out),
                 "--set", "poet.iterations=5", *TINY]) == 0
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
                 "--set", "poet.iterations=5", *TINY, "--set", "agent.kind=hebbian", "--set", "agent.hidden=[8]",
                 "--set", "poet.transfer_rule=enhanced"]) == 0
    from evoforge.experiments.poet import WalkerAgent
    from evoforge.experiments.runs import run_experiment

    experiment = run_experiment(out)
    poet = experiment.load_poet(out)
    agent = WalkerAgent(experiment.config.agent)
    assert agent.num_params == 5 * (24 * 8 + 8 * 4)  # ABCD + eta per synapse, bias-free
    assert all(p.searcher.center.numel() == agent.num_params for p in poet.pairs + poet.archive)
    assert poet.settings.transfer_rule == "enhanced" and len(poet.envs) >= 3
    assert _records(out)[-1]["transfers_attempted"] > 0
    assert main(["replay", str(out), "--agent", "0", "--on", "1"]) == 0
    assert "agent #0 on environment #1: return" in capsys.readouterr().out


def test_the_direct_es_control_runs_plain_es_on_the_hardest_solved_terrain(tmp_path, monkeypatch, capsys):
    import runpy
    import sys

    from evoforge.experiments.poet import es_steps_until, hardest_solved
    from evoforge.experiments.runs import run_experiment

    from ..conftest import REPO

    out = tmp_path / "run"
    assert main(["run", str(CONFIGS / "poet_quick.yaml"), "--serial", "--quiet", "--out", str(out),
                 "--set", "poet.iterations=4", *TINY, "--set", "poet.solved=-1000"]) == 0  # all count as solved
    poet = run_experiment(out).load_poet(out)
    record = hardest_solved(poet)
    assert record is not None and record.parent is not None  # never the flat start
    budget = es_steps_until(poet.history, record.solved_at)
    assert budget == sum(r["active"] for r in poet.history[:record.solved_at + 1])
    control = tmp_path / "control"
    monkeypatch.setattr(sys, "argv", ["poet_direct_es.py", str(out), "--run", "--serial", "--out", str(control)])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(REPO / "scripts" / "poet_direct_es.py"), run_name="__main__")
    assert done.value.code == 0
    assert f"environment #{record.id}" in capsys.readouterr().out
    direct = run_experiment(control).load_poet(control)
    assert direct.iteration == budget and len(direct.envs) == 1  # plain ES: one pair, no children
    assert direct.envs[0].env == record.env  # the same terrain, seed included
