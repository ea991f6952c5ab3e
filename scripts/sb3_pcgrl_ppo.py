"""PCGRL envs are plain gymnasium envs: train a generator with stable-baselines3 PPO.

Trains PPO (MlpPolicy on the flattened observation; the paper used a conv net) on one registered env, and
prints the mean episode return and valid share of the final levels of the untrained and the trained policy
over the same evaluation episodes.

    python scripts/sb3_pcgrl_ppo.py                                   # binary-narrow, 50k steps, 8 envs
    python scripts/sb3_pcgrl_ppo.py --env evoforge/pcgrl-sokoban-turtle-v0 --steps 200000

Needs stable-baselines3 (installed with the test extras).
"""

from __future__ import annotations

import argparse
import time

import gymnasium
import numpy as np

import evoforge.envs  # noqa: F401 - registers the evoforge/pcgrl-* ids


def evaluate(model, env_id: str, episodes: int, seed: int) -> tuple[float, float]:
    """Mean return and share of valid final levels over seeded episodes (stochastic actions, as in training)."""
    env = gymnasium.make(env_id)
    returns, valid = [], []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        total, done, info = 0.0, False, {}
        while not done:
            action, _ = model.predict(obs, deterministic=False)
            obs, reward, terminated, truncated, info = env.step(action)
            total += reward
            done = terminated or truncated
        returns.append(total)
        valid.append(info["valid"])
    return float(np.mean(returns)), float(np.mean(valid))


def train(env_id: str, steps: int, envs: int, seed: int, n_steps: int = 128):
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    vec = make_vec_env(env_id, n_envs=envs, seed=seed)
    # the paper's PPO2 settings where they apply: n_steps 128, 4 minibatches, 4 epochs, lr 2.5e-4, ent 0.01
    model = PPO("MlpPolicy", vec, n_steps=n_steps, batch_size=n_steps * envs // 4, n_epochs=4,
                learning_rate=2.5e-4, ent_coef=0.01, seed=seed, verbose=0)
    return model, vec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="evoforge/pcgrl-binary-narrow-v0")
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--episodes", type=int, default=20, help="evaluation episodes before and after")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    model, _ = train(args.env, args.steps, args.envs, args.seed)
    before = evaluate(model, args.env, args.episodes, seed=10_000)
    began = time.perf_counter()
    model.learn(total_timesteps=args.steps, progress_bar=False)
    wall = time.perf_counter() - began
    after = evaluate(model, args.env, args.episodes, seed=10_000)
    print(f"{args.env}: PPO {args.steps:,} steps in {wall:.0f} s")
    print(f"  untrained: mean return {before[0]:.2f}, valid {before[1]:.0%} over {args.episodes} episodes")
    print(f"  trained:   mean return {after[0]:.2f}, valid {after[1]:.0%}")


if __name__ == "__main__":
    main()
