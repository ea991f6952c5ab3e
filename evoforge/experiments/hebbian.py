"""Evolve Hebbian rules (not weights) for a gymnasium task by ES on the pool (Najarro & Risi 2020).

A genome holds one rule per synapse (and optionally the initial weights); every episode starts from fresh
random weights drawn from the episode seed, and the rules rewrite them at every step. Fitness is the mean
episode return minus ``coefficient_penalty * mean(coefficients^2)``, the L2 term the reference puts inside
the fitness.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

import gymnasium
import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from evoforge.envs import make_env
from evoforge.envs.rollout import BatchPolicy
from evoforge.experiments.config import BaseRunConfig
from evoforge.experiments.gym_control import (
    ActionMap,
    EnvSettings,
    GymEpisodesEvaluator,
    _observation_size,
    replay_env_settings,
    resolve_stop_fitness,
)
from evoforge.plasticity.rules import Normalisation, RuleName, Sharing
from evoforge.policies.conv import ConvFeatures
from evoforge.policies.hebbian import HebbianMLP, WeightInit
from evoforge.search.es import ESSearcher, ESSettings
from evoforge.search.seeds import derive_seed


class HebbianNetworkSettings(BaseModel):
    """The ``network:`` section: layers, optional CNN, plasticity rule and sharing, initial weights, normalisation."""

    model_config = ConfigDict(extra="forbid")

    hidden: list[int] = Field(default_factory=lambda: [128, 64], description="hidden widths (paper: 128, 64)")
    conv: bool = Field(False, description="pixel observations (C, H, W) through the paper's fixed, evolved CNN")
    action_map: Literal["default", "car_racing"] = Field(
        "default", description="default: argmax / outputs scaled to the bounds; car_racing: tanh, sigmoid, sigmoid"
    )
    rule: RuleName = "ABCD_lr"
    sharing: Sharing = Field("synapse", description="one rule per synapse, post_neuron, layer, or modulo")
    shared_rules: int = Field(128, ge=1, description="rules cycled over synapses when sharing=modulo")
    init: WeightInit = Field("uniform", description="initial weights each episode; coevolve = evolved")
    normalisation: Normalisation = "none"
    output_activation: Literal["tanh", "linear"] = "tanh"
    coefficient_std: float = Field(1.0, gt=0, description="initial centre ~ N(0, std^2) (reference: 1)")
    coefficient_penalty: float = Field(0.01, ge=0, description="fitness -= penalty * mean(coefficients^2)")


class HebbianConfig(BaseRunConfig):
    """Config of ``experiment: hebbian``: ES on plasticity rules (Najarro & Risi 2020) for gymnasium envs."""

    experiment: Literal["hebbian"]
    env: EnvSettings
    network: HebbianNetworkSettings = HebbianNetworkSettings()
    search: ESSettings = ESSettings()
    stop_fitness: float | Literal["env"] | None = None


class CarRacingActionMap:
    """Najarro & Risi's CarRacing outputs: steer tanh(o0) in [-1, 1], gas sigmoid(o1), brake sigmoid(o2)."""

    size = 3

    def __call__(self, outputs: np.ndarray) -> np.ndarray:
        squashed = 0.5 * (1.0 + np.tanh(0.5 * outputs))  # the logistic sigmoid, without exp overflow
        squashed[:, 0] = np.tanh(outputs[:, 0])
        return squashed.astype(np.float32)


def build_network(
    env: gymnasium.Env, settings: HebbianNetworkSettings
) -> tuple[HebbianMLP, ActionMap | CarRacingActionMap]:
    """The Hebbian network (with the CNN for pixels) for ``env``'s spaces and the map from its outputs to actions."""
    if settings.action_map == "car_racing":
        space = env.action_space
        if not (isinstance(space, gymnasium.spaces.Box) and space.shape == (3,)):
            raise ValueError(f"network.action_map car_racing needs a 3-d Box action space, got {space}")
        action_map: ActionMap | CarRacingActionMap = CarRacingActionMap()
    else:
        action_map = ActionMap(env.action_space)
    conv = None
    if settings.conv:
        shape = env.observation_space.shape
        if len(shape) != 3 or shape[1] != shape[2]:
            raise ValueError(f"network.conv needs square (C, H, W) pixel observations, got shape {shape}")
        conv = ConvFeatures(in_channels=shape[0], image_size=shape[1])
        inputs = conv.num_features
    else:
        inputs = _observation_size(env.observation_space)
    net = HebbianMLP(
        sizes=(inputs, *settings.hidden, action_map.size),
        conv=conv,
        rule=settings.rule,
        sharing=settings.sharing,
        shared_rules=settings.shared_rules,
        init=settings.init,
        normalisation=settings.normalisation,
        output_activation=settings.output_activation,
    )
    return net, action_map


class HebbianEvaluator(GymEpisodesEvaluator):
    """One Hebbian step (act, then update every layer) for all G x E networks of a chunk per env step."""

    def __init__(self, env: EnvSettings, network: HebbianNetworkSettings, render_mode: str | None = None) -> None:
        super().__init__(env, render_mode)
        self.network_settings = network

    def build(self, env: gymnasium.Env) -> None:
        self.net, self.action_map = build_network(env, self.network_settings)

    def make_policy(self, genomes: torch.Tensor, seeds: list[list[int]]) -> BatchPolicy:
        count, episodes = len(seeds), len(seeds[0])
        # Initial weights come from a stream of their own, apart from the env's reset seed.
        state = self.net.start(genomes.numpy(), [[derive_seed(s, 1) for s in row] for row in seeds])
        observations = np.zeros((count * episodes, *self.net.observation_shape), dtype=self.net.dtype)

        def act(live_obs: np.ndarray, alive: list[int]) -> np.ndarray:
            # Finished episodes keep stepping on their last observation: their networks are never read again.
            observations[alive] = live_obs
            outputs = self.net.step(state, observations.reshape(count, episodes, *self.net.observation_shape))
            return self.action_map(outputs.reshape(count * episodes, -1)[alive].astype(np.float32))

        return act

    def fitness_penalty(self, genomes: torch.Tensor) -> np.ndarray:
        """``network.coefficient_penalty`` x mean(coefficients^2) per genome (the reference's penalty on the rules)."""
        coefficients = genomes[:, : self.net.num_coefficients].double()
        return (self.network_settings.coefficient_penalty * (coefficients**2).mean(dim=1)).numpy()


class HebbianExperiment:
    """``experiment: hebbian``: ES on the rule coefficients, starting from N(0, ``coefficient_std``^2)."""

    config_class = HebbianConfig

    def __init__(self, config: HebbianConfig) -> None:
        self.config = config
        stop = resolve_stop_fitness(config.stop_fitness, config.env.id)
        self.settings = config.run_settings(config.search.generations, stop)
        probe = make_env(config.env.id, **config.env.kwargs)
        self.net, _ = build_network(probe, config.network)
        probe.close()

    def evaluator_factory(self) -> partial[HebbianEvaluator]:
        """A picklable factory of :class:`HebbianEvaluator` with this config's env and network sections."""
        return partial(HebbianEvaluator, self.config.env, self.config.network)

    def make_searcher(self) -> ESSearcher:
        """The configured ES from a seeded N(0, ``coefficient_std``^2) centre."""
        generator = torch.Generator().manual_seed(derive_seed(self.config.seed, 2))
        center = torch.randn(self.net.num_params, generator=generator) * self.config.network.coefficient_std
        return ESSearcher(self.config.search, center, seed=derive_seed(self.config.seed, 1))

    def replay(
        self, genome: torch.Tensor, episodes: int, seed: int, record: bool, env_id: str | None = None
    ) -> tuple[list[float], list[Any]]:
        """Returns of ``episodes`` episodes of ``genome`` (seeds derived from ``seed``); their frames if ``record``."""
        env = replay_env_settings(self.config.env, env_id)
        evaluator = HebbianEvaluator(env, self.config.network, render_mode="rgb_array" if record else None)
        evaluator.setup()
        return evaluator.replay(genome, episodes, seed, record)
