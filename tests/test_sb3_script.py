"""The paper's PPO baseline with stable-baselines3: the batched simulator as an sb3 vector env behaves as sb3's
DummyVecEnv over the single envs, PPO with the paper's conv policy trains on it, and the script trains, resumes
and judges the policy by the reference protocol."""

import json
import runpy

import gymnasium
import numpy as np
import pytest

from .conftest import REPO

pytest.importorskip("stable_baselines3")


@pytest.mark.parametrize("env_id", ["evoforge/pcgrl-binary-narrow-v0", "evoforge/pcgrl-zelda-wide-v0"])
def test_the_single_envs_pass_sb3s_checker(env_id):
    from stable_baselines3.common.env_checker import check_env

    import evoforge.envs  # registers the ids

    check_env(gymnasium.make(env_id).unwrapped, warn=True)


def test_the_batched_vec_env_steps_as_dummy_vec_env_over_single_envs():
    from stable_baselines3.common.vec_env import DummyVecEnv

    import evoforge.envs  # registers the ids
    from evoforge.policies.sb3_pcgrl import PCGRLSB3VecEnv

    batched = PCGRLSB3VecEnv("sokoban", "turtle", 4)
    reference = DummyVecEnv([lambda: gymnasium.make("evoforge/pcgrl-sokoban-turtle-v0") for _ in range(4)])
    batched.seed(7), reference.seed(7)
    np.testing.assert_array_equal(batched.reset(), reference.reset())
    rng, finished = np.random.default_rng(0), 0
    for _ in range(300):  # episodes of 5 changes / 125 steps: several end and reset on the way
        actions = rng.integers(batched.action_space.n, size=4)
        obs_a, rew_a, done_a, info_a = batched.step(actions)
        obs_b, rew_b, done_b, info_b = reference.step(actions)
        np.testing.assert_array_equal(obs_a, obs_b)
        np.testing.assert_allclose(rew_a, rew_b)
        np.testing.assert_array_equal(done_a, done_b)
        for a, b, done in zip(info_a, info_b, done_a):
            if done:
                finished += 1
                np.testing.assert_array_equal(a["terminal_observation"], b["terminal_observation"])
                assert a["TimeLimit.truncated"] == b.get("TimeLimit.truncated", False)
                assert a["stats"] == b["stats"] and a["valid"] == b["valid"]
    assert finished >= 8


def test_the_script_trains_resumes_and_judges_the_paper_policy(tmp_path, capsys):
    script = runpy.run_path(str(REPO / "scripts" / "sb3_pcgrl_ppo.py"))
    out = tmp_path / "ppo"
    args = ["--problem", "binary", "--envs", "4", "--save-every", "512", "--seeds", "2", "--maps", "2",
            "--change", "0.1", "--max-iterations", "20", "--out", str(out)]
    script["main"](["--steps", "512", *args])
    model_path = out / "model.zip"
    from stable_baselines3 import PPO

    first = PPO.load(str(model_path))
    assert first.num_timesteps == 512
    assert type(first.policy.features_extractor).__name__ == "PaperConvExtractor"
    capsys.readouterr()
    script["main"](["--steps", "1024", *args])  # continues from the saved model
    assert PPO.load(str(model_path)).num_timesteps == 1024
    assert "PPO binary-narrow: 512 steps in" in capsys.readouterr().out  # it trained only the missing 512
    result = json.loads((out / "model.level_protocol.json").read_text())
    assert result["training"]["steps"] == 1024 and result["env"] == "evoforge/pcgrl-binary-narrow-v0"
    assert [row["change_percentage"] for row in result["rows"]] == [0.1]
