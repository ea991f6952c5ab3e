"""Plasticity attribution on real episodes: the controls play the same episodes as replay, differ from the
evolved genome only in what they take away, and reach the run's summary, the CLI and inspect."""

import json
import subprocess

import numpy as np
import pytest
import torch

from evoforge.errors import UserError
from evoforge.experiments import AttributeOptions, load_experiment
from evoforge.experiments.hebbian import AttributionSettings
from evoforge.experiments.hebbian_attribution import attribute
from evoforge.search.rundir import BestGenome, RunDir

from ..conftest import CONFIGS, cli_env, evoforge_cmd


def test_controls_play_replays_episodes_and_differ_only_in_what_they_take_away(pendulum):
    experiment, genome = pendulum
    settings = AttributionSettings(episodes=3, freeze_at=[5, 200])
    result = attribute(experiment, genome, seed=7, settings=settings)
    names = [c.name for c in result.controls]
    assert names == ["evolved", "constant_only", "activity_only", "fixed_point", "frozen_at_5", "frozen_at_200",
                     "no_plasticity", "shuffled"]
    replayed, _ = experiment.replay(genome, 3, 7)
    np.testing.assert_allclose(result.returns("evolved"), replayed, rtol=1e-6)  # episode k = replay's episode k
    # frozen after the last of 200 steps is no freeze at all; frozen at 5 and the others do change the episodes
    assert result.returns("frozen_at_200") == result.returns("evolved")
    for name in ("constant_only", "activity_only", "fixed_point", "frozen_at_5", "no_plasticity", "shuffled"):
        assert result.returns(name) != result.returns("evolved"), name
    assert len(result.activity_share) == 3 and all(0 < s < 1 for s in result.activity_share)
    assert all(-1 <= c <= 1 for c in result.cosine_with_constant)
    header, rows = result.table()
    assert header[2] == "mean return [95 % CI]" and len(rows) == len(names)
    fields = result.summary_fields()
    assert fields["attribution_evolved"] == pytest.approx(float(np.mean(replayed)), rel=1e-6)


def test_a_genome_without_activity_terms_is_its_own_fixed_point_control(pendulum):
    """With A = B = C = 0 the evolved genome *is* the constant-only control, and after its weights have converged
    (max-|w| normalisation) freezing them changes nothing more than the static fixed point does."""
    experiment, genome = pendulum
    from evoforge.plasticity.attribution import zero_terms

    net = experiment.net
    constant = torch.as_tensor(zero_terms(genome.numpy(), net.coefficient_columns(), net.rule, ("a", "b", "c")))
    result = attribute(experiment, constant, seed=3, settings=AttributionSettings(episodes=2, freeze_at=[150]))
    assert result.returns("constant_only") == result.returns("evolved")
    assert np.allclose(result.activity_share, 0.0)
    assert min(result.cosine_with_constant) > 0.999  # the weights end at eta D / max |eta D|
    np.testing.assert_allclose(result.returns("frozen_at_150"), result.returns("evolved"), rtol=1e-4)


def test_attribute_of_a_run_writes_the_json_and_other_kinds_refuse_in_one_line(pendulum, tmp_path):
    experiment, genome = pendulum
    run_dir = RunDir(tmp_path)
    assert experiment.attribute(run_dir, AttributeOptions()) == ["no best.pt yet: no genome to attribute"]
    run_dir.write_best(BestGenome("sample", genome, 1.0, 0), BestGenome("center", None, None, -1))
    lines = experiment.attribute(run_dir, AttributeOptions(episodes=2, seed=5, freeze_at=(3,)))
    assert lines[0].startswith("plasticity attribution on Pendulum-v1: 2 episodes per control (seed 5)")
    assert any(line.startswith("frozen_at_3 ") for line in lines) and lines[-2].startswith("reading: ")
    saved = json.loads((tmp_path / "attribution.json").read_text())
    assert saved["episodes"] == 2 and set(saved["means"]) >= {"evolved", "constant_only", "shuffled"}
    static = load_experiment(CONFIGS / "es_cartpole.yaml", [])
    with pytest.raises(UserError, match="^experiment 'gym_control' has no attribution controls$"):
        static.attribute(run_dir, AttributeOptions())


def test_quickstart_agent_is_a_fixed_network_and_after_run_puts_the_controls_in_the_summary(tmp_path):
    """The README's quick start, attributed: its solved agent owes its score to the constant term (the finding
    docs/hebbian.md reports); ``attribution.after_run`` writes the controls' means into summary.json."""
    run_dir = tmp_path / "quickstart"
    run = subprocess.run(evoforge_cmd("run", str(CONFIGS / "quickstart.yaml"), "--out", str(run_dir), "--serial",
                                      "--quiet", "--set", "attribution.after_run=true",
                                      "--set", "attribution.episodes=5"),
                         capture_output=True, text=True, env=cli_env(), timeout=600)
    assert run.returncode == 0, run.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["solved"]
    assert summary["attribution_constant_only"] >= 475 and summary["attribution_activity_only"] < 200
    printed = subprocess.run(evoforge_cmd("attribute", str(run_dir), "--episodes", "3"), capture_output=True,
                             text=True, env=cli_env(), timeout=300)
    assert printed.returncode == 0, printed.stderr
    assert "reading: a fixed network encoded in the constant term" in printed.stdout
    bad = subprocess.run(evoforge_cmd("attribute", str(run_dir), "--episodes", "1"), capture_output=True,
                         text=True, env=cli_env(), timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
