"""PPO on PCGRL as the paper ran it, with stable-baselines3: the batched simulator as an sb3 vector env and the
paper's conv policy (Khalifa et al. 2020, sec. IV; gym-pcgrl ``model.py``).

* :class:`PCGRLSB3VecEnv` -- M maps of one :class:`~evoforge.envs.pcgrl.simulator.PCGRLSimulator` behind sb3's
  ``VecEnv`` interface: a finished map is reset at once, its last observation in ``info["terminal_observation"]``
  and ``info["TimeLimit.truncated"]`` set when the iteration budget (not a change budget or success) ended it,
  as sb3's ``DummyVecEnv`` over :class:`~evoforge.envs.pcgrl.env.PCGRLEnv` does (tested) -- one batched step
  instead of M Python envs. ``seed(s)`` gives map i the seed s + i at the next reset, as sb3's vector envs.
* :class:`PaperConvExtractor` -- narrow / turtle: conv 32 3x3 stride 2 -> conv 64 3x3 stride 2 -> conv 64 3x3
  stride 1 -> dense 512, ReLU after each (Sokoban's small crops: stride 1 throughout). sb3's actor-critic puts a
  linear policy head and a linear value head on the 512 features. The paper's wide policy is fully
  convolutional (logits straight from a conv, no dense layer); sb3's actor-critic has no such head, so wide
  uses this extractor too -- a difference, named.
* :func:`make_ppo` -- PPO with the paper's PPO2 settings where sb3 has them: n_steps 128, 4 minibatches,
  4 epochs, lr 2.5e-4, gamma 0.99, GAE lambda 0.95, clip 0.2, entropy 0.01, value 0.5, max grad norm 0.5.

stable-baselines3 is an optional dependency (in the test extras): import this module only where it is installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env.base_vec_env import VecEnv
from torch import nn

from evoforge.envs.pcgrl.problems import make_problem
from evoforge.envs.pcgrl.representations import make_representation
from evoforge.envs.pcgrl.simulator import PCGRLSimulator

__all__ = ["PCGRLSB3VecEnv", "PaperConvExtractor", "make_ppo"]


class PCGRLSB3VecEnv(VecEnv):
    """``num_envs`` PCGRL maps stepped as one batch under sb3's ``VecEnv`` contract (module docstring)."""

    def __init__(self, problem: str = "binary", representation: str = "narrow", num_envs: int = 50,
                 change_percentage: float = 0.2, **problem_options: Any) -> None:
        self.problem = make_problem(problem, **problem_options)
        self.representation = make_representation(representation)
        self.sim = PCGRLSimulator(self.problem, self.representation, num_envs, change_percentage)
        self.render_mode = None  # no rendering through sb3 (evoforge replay / levels draw the maps)
        super().__init__(num_envs, self.representation.observation_space(self.problem),
                         self.representation.action_space(self.problem))
        self.next_seeds: list[int | None] = [None] * num_envs
        self.actions = np.zeros(num_envs, dtype=np.int64)
        self.everyone = np.arange(num_envs)

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Map i gets ``seed + i`` at the next reset (None: fresh entropy)."""
        self.next_seeds = [None if seed is None else seed + i for i in range(self.num_envs)]
        return self.next_seeds

    def reset(self) -> np.ndarray:
        self.sim.reset(self.everyone, self.next_seeds)
        self.next_seeds = [None] * self.num_envs
        return self.sim.observe()

    def step_async(self, actions: np.ndarray) -> None:
        self.actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict]]:
        rewards, terminated, truncated = self.sim.step(self.everyone, self.actions)
        done = terminated | truncated
        infos: list[dict] = [{} for _ in range(self.num_envs)]
        finished = np.flatnonzero(done)
        if len(finished):
            last = self.sim.observe(finished)
            for k, i in enumerate(finished):
                infos[i].update(self.sim.info(int(i)), terminal_observation=last[k],
                                **{"TimeLimit.truncated": bool(truncated[i])})
            self.sim.reset(finished)
        return self.sim.observe(), rewards.astype(np.float32), done, infos

    def close(self) -> None:
        pass

    # sb3's pass-through to the per-process envs: there are none, the maps live in one simulator
    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        raise NotImplementedError("PCGRLSB3VecEnv has no per-map env objects to call methods on")

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._indices(indices))

    def _indices(self, indices: Any) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)


class PaperConvExtractor(BaseFeaturesExtractor):
    """The paper's narrow / turtle network up to its 512 features (module docstring)."""

    def __init__(self, observation_space: Any, features_dim: int = 512) -> None:
        super().__init__(observation_space, features_dim)
        channels, size = observation_space.shape[0], observation_space.shape[1]
        stride = 1 if size <= 10 else 2  # Sokoban's 10 x 10 crops: the reference keeps stride 1
        self.convs = nn.Sequential(
            nn.Conv2d(channels, 32, 3, stride=stride), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=stride), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(), nn.Flatten())
        with torch.no_grad():
            flat = self.convs(torch.zeros(1, *observation_space.shape)).shape[1]
        self.dense = nn.Sequential(nn.Linear(flat, features_dim), nn.ReLU())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.dense(self.convs(observations.float()))


def make_ppo(env: VecEnv, seed: int = 0, device: str = "cpu", **overrides: Any) -> PPO:
    """PPO with the paper's conv policy and PPO2 settings (module docstring); ``overrides`` go to PPO."""
    n_steps = overrides.pop("n_steps", 128)
    settings = {"n_steps": n_steps, "batch_size": n_steps * env.num_envs // 4, "n_epochs": 4, "learning_rate": 2.5e-4,
                "gamma": 0.99, "gae_lambda": 0.95, "clip_range": 0.2, "ent_coef": 0.01, "vf_coef": 0.5,
                "max_grad_norm": 0.5}
    settings.update(overrides)
    policy_kwargs = {"features_extractor_class": PaperConvExtractor, "normalize_images": False,
                     "net_arch": {"pi": [], "vf": []}}
    return PPO("MlpPolicy", env, policy_kwargs=policy_kwargs, seed=seed, device=device, verbose=0, **settings)
