"""scripts/ablation_hebbian_static.py end to end on a tiny budget (serial, 1 generation, short episodes)."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_script():
    spec = importlib.util.spec_from_file_location("ablation", ROOT / "scripts" / "ablation_hebbian_static.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ablation_trains_evaluates_and_reuses_finished_runs(tmp_path, capsys):
    ablation = load_script()
    tiny = ["search.popsize=4", "search.generations=1", "env.max_episode_steps=12", "pool.backend=serial",
            "center_eval.evaluations=1"]
    args = ["--seeds", "0", "1", "--out", str(tmp_path), "--episodes", "2", "--workers", "2", "--quiet"]
    assert ablation.main(args + [x for o in tiny for x in ("--set", o)]) == 0
    for method in ("hebbian", "static"):
        for seed in (0, 1):
            summary = json.loads((tmp_path / f"{method}-seed{seed}" / "summary.json").read_text())
            assert summary["status"] == "completed" and summary["seed"] == seed
    with open(tmp_path / "ablation.csv") as f:
        rows = list(csv.DictReader(f))
    # 2 methods x 2 genomes (evolved, generation 0) x 2 seeds x 3 morphologies.
    assert len(rows) == 24
    assert {r["env_id"] for r in rows} == set(ablation.MORPHOLOGIES)
    for r in rows:
        returns = [float(x) for x in r["returns"].split()]
        assert len(returns) == 2 and abs(sum(returns) / 2 - float(r["mean_return"])) < 0.006  # 2 decimals
    table = (tmp_path / "ablation.md").read_text()
    assert table.count("\n| ") == 5 and "held out" in table  # header + 4 agents
    assert (tmp_path / "ablation.png").stat().st_size > 10_000
    # Started again: every finished run is reused, nothing retrains, same evaluation numbers.
    capsys.readouterr()
    assert ablation.main(args) == 0
    assert capsys.readouterr().out.count("reused") == 4
    with open(tmp_path / "ablation.csv") as f:
        assert list(csv.DictReader(f)) == rows
