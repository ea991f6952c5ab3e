"""scripts/adaptation_table.py on real (short) runs: per-map returns, the oracle, switches and recovery, the
Hebbian controls, and its files."""

import json
import runpy
import subprocess

import numpy as np

from .conftest import CONFIGS, REPO, cli_env, evoforge_cmd


def test_the_adaptation_table_plays_every_arm_on_every_map(tmp_path):
    for arm in ("hebbian", "static", "gru"):
        result = subprocess.run(evoforge_cmd("run", str(CONFIGS / f"{arm}_navigation.yaml"), "--serial", "--quiet",
                                             "--out", str(tmp_path / arm), "--set", "search.generations=2",
                                             "--set", "search.popsize=4", "--set", "center_eval.every=1",
                                             "--set", "center_eval.evaluations=2"),
                                capture_output=True, text=True, env=cli_env(), timeout=300)
        assert result.returncode == 0, result.stderr
    script = runpy.run_path(str(REPO / "scripts" / "adaptation_table.py"))
    assert script["main"]([str(tmp_path), "--episodes", "2"]) == 0
    results = json.loads((tmp_path / "adaptation.json").read_text())
    assert sorted(r["arm"] for r in results) == ["gru", "hebbian", "static"]
    for r in results:
        assert set(r["train"]) == {"0", "4"} and set(r["held_out"]) == {"3", "7"}  # I, -I; the two rotations
        assert r["family"] == "navigation" and len(r["recovery_steps"]) == 4 and 0 <= r["recovered"] <= 1
        # the oracle undoes every map equally well: the same return for I and -I on the same episodes
        assert r["oracle"]["0"] == r["oracle"]["4"] > 50
    hebbian = next(r for r in results if r["arm"] == "hebbian")
    assert hebbian["params"] == 640 and set(hebbian["controls"]) >= {"evolved", "constant_only", "shuffled"}
    assert np.isfinite(hebbian["activity_share"])
    table = (tmp_path / "adaptation.md").read_text()
    assert "### navigation" in table and "| oracle (knows the map) |" in table and "| Hebbian control |" in table
    assert (tmp_path / "recovery.png").read_bytes()[:4] == b"\x89PNG"
    assert script["main"]([str(tmp_path / "hebbian" / "checkpoints")]) == 2  # no runs there: exit 2
    # again: every run's measures come from its adaptation_run.json (none is played), the same table
    assert all((tmp_path / arm / "adaptation_run.json").is_file() for arm in ("hebbian", "static", "gru"))
    script["main"].__globals__["evaluate_run"] = None  # playing a run now would fail
    assert script["main"]([str(tmp_path), "--episodes", "2"]) == 0
    assert (tmp_path / "adaptation.md").read_text() == table


def test_the_adaptation_table_fails_a_quadruped_leg_mid_episode(tmp_path):
    """Short quadruped runs (30-step episodes, the failure moved to steps 5-15), laid out as an ablation's
    VARIANT/seed-N: the standard ant, the held-out damage and the leg failure with its recovery, for a Hebbian
    and a static agent."""
    for config in ("hebbian_quadruped_quick.yaml", "static_quadruped_quick.yaml"):
        result = subprocess.run(evoforge_cmd("run", str(CONFIGS / config), "--serial", "--quiet",
                                             "--out", str(tmp_path / config.split("_")[0] / "seed-0"),
                                             "--set", "search.generations=1", "--set", "search.popsize=2",
                                             "--set", "env.max_episode_steps=30", "--set", "center_eval.every=1",
                                             "--set", "center_eval.evaluations=1",
                                             "--set", "env.kwargs={burn_in_steps: 0, early_stop_after: 30}"),
                                capture_output=True, text=True, env=cli_env(), timeout=300)
        assert result.returncode == 0, result.stderr
    script = runpy.run_path(str(REPO / "scripts" / "adaptation_table.py"))
    assert script["main"]([str(tmp_path), "--episodes", "2", "--change-at", "5", "15"]) == 0
    results = json.loads((tmp_path / "adaptation.json").read_text())
    assert sorted(r["arm"] for r in results) == ["hebbian", "static"]
    for r in results:
        assert r["family"] == "quadruped" and len(r["recovery_steps"]) == 2
        assert np.isfinite([r["standard"], r["held_out_mean"], r["change_return"]]).all()
    assert "### quadruped" in (tmp_path / "adaptation.md").read_text()
