"""The reference's evaluation protocol for level generators (Khalifa et al. 2020): early stop off, the change
budget swept, starting maps at the reference's densities, per-seed statistics; any policy, including a
stable-baselines3 model, and `evoforge levels` end to end."""

import json

import gymnasium
import numpy as np
import pytest
import torch

import evoforge.envs  # registers the ids
from evoforge.envs.pcgrl.batched_metrics import hamming_diversity
from evoforge.envs.pcgrl.problems import make_problem
from evoforge.envs.pcgrl.representations import make_representation
from evoforge.envs.pcgrl.simulator import PCGRLSimulator
from evoforge.policies.level_generation import LevelGeneration, play_episodes
from evoforge.policies.level_protocol import (
    PROTOCOL_SEED,
    GenomeLevels,
    PolicyLevels,
    ProtocolResult,
    ProtocolRow,
    evaluate_levels,
    start_probabilities,
)
from evoforge.search.seeds import derive_seed, episode_seeds

from ..conftest import CONFIGS


def paint_empty(observations: np.ndarray) -> np.ndarray:
    """A narrow policy that sets tile 0 (empty) wherever it stands."""
    return np.ones(len(observations), dtype=np.int64)


@pytest.mark.parametrize("early_stop", [True, False])
def test_without_early_stop_only_the_budgets_end_an_episode(early_stop):
    # every starting tile empty and no improvement asked for: the success test holds from the first step on
    problem = make_problem("binary", probs=[1.0, 0.0], random_probs=False, path_improvement=0)
    sim = PCGRLSimulator(problem, make_representation("narrow"), 6, change_percentage=0.1)
    sim.early_stop = early_stop
    sim.reset(np.arange(6), list(range(6)))
    _, _, steps = play_episodes(sim, paint_empty)
    if early_stop:
        assert steps.tolist() == [1] * 6
    else:  # painting empty on empty changes nothing: the iteration budget max_changes x W x H ends it
        assert sim.max_changes == 19 and steps.tolist() == [19 * 196] * 6


def test_change_percentage_zero_leaves_the_references_single_change():
    sim = PCGRLSimulator(make_problem("binary"), make_representation("narrow"), 1, change_percentage=0.0)
    assert (sim.max_changes, sim.max_iterations) == (1, 196)


def test_reference_densities_draw_binary_p_empty_uniformly_and_keep_fixed_tables():
    binary, zelda = make_problem("binary"), make_problem("zelda")
    probs = start_probabilities(binary, 400, np.random.default_rng(0), "reference")
    assert probs.shape == (400, 2) and np.allclose(probs.sum(axis=1), 1)
    assert 0 <= probs[:, 0].min() < 0.05 and 0.95 < probs[:, 0].max() < 1  # spread over [0, 1)
    assert start_probabilities(binary, 4, np.random.default_rng(0), "problem") is None
    assert start_probabilities(zelda, 4, np.random.default_rng(0), "reference") is None
    # the simulator draws each map at its own density
    sim = PCGRLSimulator(binary, make_representation("wide"), 400)
    sim.reset(np.arange(400), list(range(400)), probs=probs)
    empty = (sim.levels == 0).mean(axis=(1, 2))
    assert np.corrcoef(empty, probs[:, 0])[0, 1] > 0.95


def test_each_seeds_statistics_are_those_of_its_documented_maps():
    problem = make_problem("binary")
    generation = LevelGeneration(problem, "nca", nca_steps=10, early_stop=False)
    genome = torch.randn(generation.num_params, generator=torch.Generator().manual_seed(1))
    result = evaluate_levels(GenomeLevels(problem, "nca", genome, nca_steps=10), problem, seeds=3, maps=5)
    assert len(result.rows) == 1 and result.rows[0].change_percentage is None  # the NCA: no change budget
    for seed in range(3):
        probs = start_probabilities(problem, 5, np.random.default_rng(derive_seed(PROTOCOL_SEED, seed, 1)),
                                    "reference")
        out = generation.generate(genome[None], [episode_seeds(derive_seed(PROTOCOL_SEED, seed), 5)],
                                  start_probs=probs)
        # the control row: the same statistics of the untouched starting maps
        start = [{k: int(v[i]) for k, v in out.initial.items()} for i in range(5)]
        assert result.starting_maps.valid[seed] == pytest.approx(np.mean([problem.valid(s) for s in start]))
        assert result.starting_maps.path[seed] == pytest.approx(np.mean([s["path-length"] for s in start]))
        per_map = [problem.stats(level) for level in out.levels[0]]
        valid = [bool(problem.valid(s)) for s in per_map]
        row = result.rows[0]
        assert row.valid[seed] == pytest.approx(np.mean(valid))
        assert row.diversity[seed] == pytest.approx(hamming_diversity(out.levels[0]))
        assert row.path[seed] == pytest.approx(np.mean([s["path-length"] for s in per_map]))
        assert row.distinct_valid[seed] == len({lv.tobytes() for lv, ok in zip(out.levels[0], valid) if ok})


def test_a_policy_judged_in_the_batch_acts_as_in_the_single_env():
    from stable_baselines3 import PPO

    env = gymnasium.make("evoforge/pcgrl-zelda-turtle-v0", change_percentage=0.2)
    model = PPO("MlpPolicy", env, seed=0, n_steps=16, batch_size=16)
    problem = make_problem("zelda")
    act = lambda obs: model.predict(obs, deterministic=True)[0]
    levels, final = PolicyLevels(problem, "turtle", act, max_iterations=60).generate(0.2, [[11, 12], [13, 14]], None)
    assert levels.shape == (2, 2, 7, 11)
    for k, seed in enumerate([11, 12, 13, 14]):
        obs, _ = env.reset(seed=seed)
        env.unwrapped.sim.early_stop, env.unwrapped.sim.max_iterations = False, 60
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(int(model.predict(obs, deterministic=True)[0]))
            done = terminated or truncated
        np.testing.assert_array_equal(env.unwrapped.level, levels.reshape(4, 7, 11)[k])
        assert info["stats"] == {key: int(values[k]) for key, values in final.items()}


def test_levels_command_judges_runs_and_sb3_models_and_refuses_bad_input(tmp_path, capsys):
    from stable_baselines3 import PPO

    from evoforge.cli import main

    nca, narrow = tmp_path / "nca", tmp_path / "narrow"
    tiny = ["--set", "search.popsize=4", "--set", "search.generations=1", "--set", "generator.maps=2",
            "--set", "center_eval.every=0"]
    assert main(["run", str(CONFIGS / "pcgrl_binary_nca.yaml"), "--serial", "--quiet", "--out", str(nca), *tiny,
                 "--set", "generator.nca_steps=5", "--set", "generator.init_samples=0"]) == 0
    assert main(["levels", str(nca), "--seeds", "2", "--maps", "3", "--quiet"]) == 0
    saved = json.loads((nca / "level_protocol.json").read_text())
    assert saved["genome"] == "sample" and [r["change_percentage"] for r in saved["rows"]] == [None]
    assert (nca / "level_protocol.png").is_file()  # no centre evaluations: the best sample is judged
    printed = capsys.readouterr().out
    assert "whole rewrite" in printed and "starting maps" in printed
    assert saved["starting_maps"]["change_percentage"] is None and len(saved["starting_maps"]["valid"]) == 2

    assert main(["run", str(CONFIGS / "pcgrl_binary_narrow.yaml"), "--serial", "--quiet", "--out", str(narrow),
                 *tiny, "--set", "generator.max_iterations=20"]) == 0
    assert main(["levels", str(narrow), "--seeds", "2", "--maps", "2", "--change", "0.0", "0.5", "--max-iterations",
                 "30", "--quiet", "--out", str(tmp_path / "narrow.json")]) == 0
    result = ProtocolResult.from_json(json.loads((tmp_path / "narrow.json").read_text()))
    assert [r.change_percentage for r in result.rows] == [0.0, 0.5] and result.seeds == 2
    assert all(len(r.valid) == 2 and 0 <= min(r.valid) <= max(r.valid) <= 1 for r in result.rows)

    model_path = tmp_path / "ppo.zip"
    PPO("MlpPolicy", gymnasium.make("evoforge/pcgrl-binary-narrow-v0"), seed=0).save(str(model_path))
    assert main(["levels", str(model_path), "--env", "evoforge/pcgrl-binary-narrow-v0", "--seeds", "2", "--maps",
                 "2", "--change", "0.1", "--max-iterations", "20", "--quiet"]) == 0
    first = json.loads((tmp_path / "ppo.level_protocol.json").read_text())
    assert first["algorithm"] == "ppo" and first["actions"] == "sampled"
    assert main(["levels", str(model_path), "--env", "evoforge/pcgrl-binary-narrow-v0", "--seeds", "2", "--maps",
                 "2", "--change", "0.1", "--max-iterations", "20", "--quiet",
                 "--out", str(tmp_path / "again.json")]) == 0
    assert json.loads((tmp_path / "again.json").read_text())["rows"] == first["rows"]  # sampled, yet reproducible
    assert main(["levels", str(model_path), "--env", "evoforge/pcgrl-binary-narrow-v0", "--seeds", "2", "--maps",
                 "2", "--change", "0.1", "--max-iterations", "20", "--quiet", "--deterministic", "--out",
                 str(tmp_path / "argmax.json")]) == 0
    assert json.loads((tmp_path / "argmax.json").read_text())["actions"] == "argmax"

    capsys.readouterr()
    quick = tmp_path / "quick"
    assert main(["run", str(CONFIGS / "function_sphere.yaml"), "--serial", "--quiet", "--out", str(quick),
                 "--set", "search.generations=1"]) == 0
    capsys.readouterr()
    for argv, message in [
        (["levels", str(nca), "--seeds", "0"], "the protocol needs seeds >= 1 and maps >= 2"),
        (["levels", str(narrow), "--change", "1.5"], "change percentages must be in [0, 1], got 1.5"),
        (["levels", str(quick)], "is a 'function' run; evoforge levels judges PCGRL level generators"),
        (["levels", str(model_path)], "a stable-baselines3 model needs --env"),
        (["levels", str(model_path), "--env", "CartPole-v1"], "CartPole-v1 is not a PCGRL env"),
        (["levels", str(model_path), "--env", "evoforge/pcgrl-binary-narrow-v0", "--algorithm", "sac"],
         "--algorithm must be one of ppo, a2c, dqn"),
    ]:
        assert main([*argv, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


def test_the_table_clips_intervals_to_what_a_measure_can_take():
    row = ProtocolRow(0.2, valid=[0.0, 0.0, 0.5], diversity=[0.99, 1.0, 0.95], distinct_valid=[0, 0, 3],
                      path=[10.0, 12.0, 14.0])
    header, body = ProtocolResult("zelda", "narrow", "reference", 3, 4, [row]).table()
    assert header[0] == "change %" and body[0][0] == "20%" and len(body) == 1  # no control row given
    assert body[0][1].startswith("16.7 [0.0, ") and body[0][3].startswith("1.0 [0.0, ")
    assert body[0][2].endswith(", 1.000]") and body[0][4] == "12.0 [7.0, 17.0]"  # path: t(2) * 2 / sqrt(3)
