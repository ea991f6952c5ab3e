"""PCGRL envs train with stable-baselines3 PPO (a short run: compatibility, not learning)."""

import runpy

import numpy as np
import pytest

from .conftest import REPO

pytest.importorskip("stable_baselines3")


@pytest.mark.parametrize("env_id", ["evoforge/pcgrl-binary-narrow-v0", "evoforge/pcgrl-zelda-wide-v0"])
def test_ppo_trains_on_a_pcgrl_env(env_id):
    import gymnasium
    import evoforge.envs  # noqa: F401 - registers the ids
    from stable_baselines3.common.env_checker import check_env

    check_env(gymnasium.make(env_id).unwrapped, warn=True)
    script = runpy.run_path(str(REPO / "scripts" / "sb3_pcgrl_ppo.py"))
    model, _ = script["train"](env_id, steps=256, envs=2, seed=0, n_steps=64)
    before = model.policy.state_dict()["action_net.weight"].clone()
    model.learn(total_timesteps=256)
    assert model.num_timesteps >= 256
    assert not np.allclose(before.numpy(), model.policy.state_dict()["action_net.weight"].numpy())  # it updated
    mean_return, valid = script["evaluate"](model, env_id, episodes=1, seed=0)
    assert np.isfinite(mean_return) and 0.0 <= valid <= 1.0
