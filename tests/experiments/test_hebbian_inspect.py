"""Inspection of Hebbian agents: weight snapshots and mid-episode perturbations."""

import numpy as np
import pytest

from evoforge.errors import UserError
from evoforge.experiments import InspectOptions
from evoforge.experiments.hebbian import CarRacingActionMap
from evoforge.experiments.hebbian_inspect import inspect_hebbian, run_episode
from evoforge.search.rundir import BestGenome, RunDir


def test_perturbation_changes_the_episode_only_from_its_step_on(pendulum):
    experiment, genome = pendulum
    plain = run_episode(experiment, genome, seed=7, record_every=10)
    assert len(plain.rewards) == 200 and plain.snapshot_steps == list(range(0, 200, 10))
    assert [w.shape for w in plain.snapshots[0]] == [(3, 16), (16, 1)]
    assert not np.allclose(plain.snapshots[0][0], plain.snapshots[-1][0])  # the rules moved the weights
    for perturbation in ("zero", "rerandomise"):
        perturbed = run_episode(experiment, genome, seed=7, perturbation=perturbation, perturb_at=50)
        assert perturbed.rewards[:50] == plain.rewards[:50]
        assert perturbed.rewards[50:] != plain.rewards[50:]
    zeroed = run_episode(experiment, genome, seed=7, perturbation="zero", perturb_at=50, record_every=50)
    assert all(np.count_nonzero(w) == 0 for w in zeroed.snapshots[1])  # snapshot taken right after zeroing


def test_inspect_writes_both_plots_and_refuses_unknown_envs(pendulum, tmp_path):
    experiment, genome = pendulum
    returns = inspect_hebbian(experiment, genome, tmp_path, seed=1, perturb_at=100)
    assert set(returns) == {"unperturbed", "weights zeroed", "weights re-randomised"}
    assert (tmp_path / "weights.png").stat().st_size > 20_000
    assert (tmp_path / "perturbation.png").stat().st_size > 10_000
    with pytest.raises(ValueError, match="unknown gymnasium env id"):
        inspect_hebbian(experiment, genome, tmp_path, seed=1, env_id="Pendulum-v9")


def test_inspect_plays_episode_0_of_replay_with_the_same_seed(pendulum):
    """`evoforge inspect --seed S` and `evoforge replay --seed S` show the same episode: same env reset, same
    initial weights, so the same return to the bit."""
    experiment, genome = pendulum
    for seed in (7, 12345):
        (replayed, *_), _ = experiment.replay(genome, 2, seed)
        assert run_episode(experiment, genome, seed).total == replayed
    assert run_episode(experiment, genome, 7).total != run_episode(experiment, genome, 8).total


def test_inspect_of_a_run_prints_the_returns_and_the_plots_and_refuses_bad_input_in_one_line(pendulum, tmp_path):
    experiment, genome = pendulum
    run_dir = RunDir(tmp_path)
    assert experiment.inspect(run_dir, InspectOptions()) == ["no best.pt yet: no genome to inspect"]
    run_dir.write_best(BestGenome("sample", genome, 1.0, 0), BestGenome("center", None, None, -1))
    lines = experiment.inspect(run_dir, InspectOptions(seed=7, perturb_at=50))
    plain = run_episode(experiment, genome, seed=7).total
    assert lines[0] == f"episode return, unperturbed: {plain:.2f}"
    assert [line.split(":")[0] for line in lines[1:3]] == ["episode return, weights zeroed",
                                                           "episode return, weights re-randomised"]
    assert lines[3:5] == [f"weights during the episode -> {tmp_path / 'weights.png'}",
                          f"perturbation replay -> {tmp_path / 'perturbation.png'}"]
    # then the plasticity attribution table of the same seed (tests/experiments/test_hebbian_attribution.py)
    assert lines[5].startswith("plasticity attribution on Pendulum-v1: 20 episodes per control (seed 7)")
    assert lines[-1] == f"attribution table -> {tmp_path / 'attribution.json'}"
    assert (tmp_path / "weights.png").is_file() and (tmp_path / "perturbation.png").is_file()
    with pytest.raises(UserError, match="^--env: unknown gymnasium env id 'Pendulum-v9'$"):
        experiment.inspect(run_dir, InspectOptions(env_id="Pendulum-v9"))


def test_car_racing_action_map_is_tanh_sigmoid_sigmoid():
    outputs = np.array([[0.5, 0.0, -1000.0], [-2.0, 1000.0, 1.0]])
    expected = [[np.tanh(0.5), 0.5, 0.0], [np.tanh(-2.0), 1.0, 1 / (1 + np.exp(-1.0))]]
    np.testing.assert_allclose(CarRacingActionMap()(outputs), expected, rtol=1e-6, atol=1e-7)
