"""PCGRL environments from Python: one env, the batched vector env, and a picture of a level.

    python docs/examples/pcgrl_envs.py
"""

import gymnasium
import numpy as np

import evoforge.envs  # noqa: F401 - registers evoforge/pcgrl-{problem}-{representation}-v0
from evoforge.envs.pcgrl import PCGRLVectorEnv


def main() -> dict:
    env = gymnasium.make("evoforge/pcgrl-zelda-turtle-v0", render_mode="rgb_array")
    obs, info = env.reset(seed=0)  # obs: (8, 22, 22), the one-hot crop centred on the turtle
    total, done = 0.0, False
    while not done:  # random edits until the change budget (15 tile changes) or success ends the episode
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        total += reward
        done = terminated or truncated
    print(f"zelda-turtle: return {total:.1f}, final stats {info['stats']}, valid {info['valid']}")
    image = env.render()  # (7 * 16, 11 * 16, 3) RGB, the turtle outlined in red

    batch = PCGRLVectorEnv("binary", "narrow", num_envs=512)  # gymnasium VectorEnv, next-step auto-reset
    obs, infos = batch.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(100):
        obs, rewards, terminated, truncated, infos = batch.step(rng.integers(3, size=512))
    print(f"binary-narrow x512 after 100 steps: mean regions {infos['stats']['regions'].mean():.1f}, "
          f"{int(infos['valid'].sum())} valid maps")
    return {"obs_shape": obs.shape, "image_shape": image.shape, "changes": infos["changes"]}


if __name__ == "__main__":
    main()
