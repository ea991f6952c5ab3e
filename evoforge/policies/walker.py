"""The agents of POET's walker pairs: the reference's 24-40-40-4 all-tanh MLP, or a Hebbian network of the same
shape whose genome is its plasticity rules (Najarro & Risi 2020, arXiv 2007.02686).

A genome (an ES center or a perturbation of it) becomes a controller for one episode of
:class:`~evoforge.envs.poet_walker.POETWalker`; :meth:`WalkerAgent.episode` plays that episode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from evoforge.envs.poet_walker import POETWalker
from evoforge.plasticity.rules import RuleName, Sharing
from evoforge.policies.hebbian import HebbianMLP, WeightInit
from evoforge.policies.mlp import BatchedMLP

OBSERVATIONS, ACTIONS = 24, 4  # BipedalWalker's observation and action sizes


class AgentSettings(BaseModel):
    """The ``agent:`` section: a static MLP or a Hebbian network of the reference's shape, and the episode cap."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["mlp", "hebbian"] = Field(
        "mlp", description="mlp: the reference's static 24-40-40-4 tanh MLP; hebbian: a bias-free network whose "
                           "random weights are rewritten every step by evolved Hebbian rules (Najarro & Risi 2020)")
    hidden: list[int] = Field(default_factory=lambda: [40, 40])
    max_episode_steps: int = Field(2000, ge=1, description="the reference's cap, in training and evaluation")
    rule: RuleName = Field("ABCD_lr", description="hebbian: the rule family")
    sharing: Sharing = Field("synapse", description="hebbian: one rule per synapse, post_neuron, layer, "
                             "layer_modulo or global_modulo")
    init: WeightInit = Field("uniform", description="hebbian: initial weights, drawn from the terrain seed")


def walker_mlp(settings: AgentSettings) -> BatchedMLP:
    """The reference's all-tanh MLP for BipedalWalker: 24 inputs, ``settings.hidden``, 4 outputs."""
    return BatchedMLP((OBSERVATIONS, *settings.hidden, ACTIONS), activation="tanh", output_activation="tanh")


class WalkerAgent:
    """A POET pair's policy: a genome (the ES center or a perturbation of it) turned into a controller for one
    episode. ``mlp``: the genome is the weights; ``hebbian``: it is the rule coefficients, and the weights start
    random (from the episode seed) and change at every step."""

    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        if settings.kind == "mlp":
            self.mlp = walker_mlp(settings)
            self.num_params = self.mlp.num_params
        else:
            self.hebbian = HebbianMLP(sizes=(OBSERVATIONS, *settings.hidden, ACTIONS), rule=settings.rule,
                                      sharing=settings.sharing, init=settings.init, output_activation="tanh")
            self.num_params = self.hebbian.num_params

    def controller(self, genome: torch.Tensor, seed: int) -> Callable[[np.ndarray], np.ndarray]:
        """A function from one observation to one action for ``genome``; Hebbian agents start from weights drawn
        from ``seed``.
        """
        genome = torch.as_tensor(genome, dtype=torch.float32).reshape(1, -1)
        if self.settings.kind == "mlp":
            layers = self.mlp.numpy_layers(genome)
            return lambda obs: self.mlp.forward_numpy(layers, obs.reshape(1, 1, -1).astype(np.float32))[0, 0]
        state = self.hebbian.start(genome.numpy(), [[seed]])
        return lambda obs: self.hebbian.step(state, obs.reshape(1, 1, -1))[0, 0]

    def episode(self, genome: torch.Tensor, env: POETWalker, seed: int, frames: list | None = None
                ) -> tuple[float, int]:
        """One episode reset with ``seed`` (POET uses the terrain's own, so that every rollout of an environment
        is the same episode); returns the return and the number of steps, and appends rendered frames to
        ``frames``."""
        act = self.controller(genome, seed)
        obs, _ = env.reset(seed=seed)
        total, steps = 0.0, 0
        for steps in range(1, self.settings.max_episode_steps + 1):
            if frames is not None:
                frames.append(env.render())
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += float(reward)
            if terminated or truncated:
                break
        return total, steps
