"""CarRacing from pixels: the reference preprocessing and early stop, gymnasium-conformant."""

import gymnasium
import numpy as np
from gymnasium.utils.env_checker import check_env

from evoforge.envs import make_env
from evoforge.envs.carracing import make_carracing_pixels, preprocess_frame


def test_passes_the_gymnasium_checker():
    env = make_carracing_pixels()
    check_env(env, skip_render_check=True)
    env.close()


def test_observation_is_84x84_rgb_in_unit_range():
    frame = np.zeros((96, 96, 3), dtype=np.uint8)
    frame[:, :, 0] = 255
    obs = preprocess_frame(frame)
    assert obs.shape == (3, 84, 84) and obs.dtype == np.float32
    assert np.allclose(obs[0], 1.0) and np.allclose(obs[1:], 0.0)


def test_standing_still_stops_after_twenty_negative_steps_and_resets_deterministically():
    env = make_env("evoforge/CarRacingPixels-v0")
    assert isinstance(env.observation_space, gymnasium.spaces.Box) and env.observation_space.shape == (3, 84, 84)
    observations = []
    for _ in range(2):
        obs, _ = env.reset(seed=3)
        first = obs
        for step in range(1, 200):
            obs, reward, terminated, truncated, info = env.step(np.zeros(3, dtype=np.float32))
            if terminated or truncated:
                break
        observations.append((first, obs, step))
    # The first step collects the tile under the car (+reward); from there every idle step costs 0.1.
    assert observations[0][2] <= 25 and info["early_stop"] == "negative reward streak"
    assert np.array_equal(observations[0][0], observations[1][0]) and observations[0][2] == observations[1][2]
    env.close()
