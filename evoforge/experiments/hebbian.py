"""Evolve Hebbian rules (not weights) for a gymnasium task by ES on the pool (Najarro & Risi 2020).

A genome holds one rule per synapse (and optionally the initial weights); every episode starts from fresh
random weights drawn from the episode seed, and the rules rewrite them at every step. Fitness is the mean
episode return minus ``coefficient_penalty * mean(coefficients^2)``, the L2 term the reference puts inside
the fitness.

``evoforge inspect`` draws the weights during one episode and the recovery from weights zeroed or re-randomised
mid-episode (:mod:`evoforge.experiments.hebbian_inspect`); for the same ``--seed`` it plays episode 0 of
``evoforge replay``. ``evoforge attribute`` plays the plasticity attribution controls
(:mod:`evoforge.experiments.hebbian_attribution`: is the agent's plasticity doing the work?); inspect prints
their table too. ``evoforge report`` shows the best agent, its video, both pictures and the controls.
"""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path
from typing import Any, Literal

import gymnasium
import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from evoforge.devices import resolve_device
from evoforge.envs import make_env
from evoforge.envs.rollout import BatchPolicy
from evoforge.errors import UserError
from evoforge.experiments.base import REPLAY_SEED, AttributeOptions, Experiment, InspectOptions
from evoforge.experiments.config import BaseRunConfig
from evoforge.experiments.gym_control import (
    ActionMap,
    EnvSettings,
    GymEpisodesEvaluator,
    _observation_size,
    best_agent_section,
    initial_obs_context,
    merge_obs_context,
    flat_genome,
    replay_env_settings,
    resolve_stop_fitness,
)
from evoforge.plasticity.rules import Normalisation, RuleName, Sharing
from evoforge.policies.conv import ConvFeatures
from evoforge.policies.hebbian import HebbianMLP, WeightInit
from evoforge.search.es import ESSearcher, ESSettings
from evoforge.search.run import RunOutcome
from evoforge.search.rundir import RunDir
from evoforge.search.seeds import EpisodeStream, RunStream, derive_seed, run_seed


class HebbianNetworkSettings(BaseModel):
    """The ``network:`` section: layers, optional CNN, plasticity rule and sharing, initial weights, normalisation."""

    model_config = ConfigDict(extra="forbid")

    hidden: list[int] = Field(default_factory=lambda: [128, 64], description="hidden widths (paper: 128, 64)")
    conv: bool = Field(False, description="pixel observations (C, H, W) through the paper's fixed, evolved CNN")
    action_map: Literal["default", "car_racing"] = Field(
        "default", description="default: argmax / outputs scaled to the bounds; car_racing: tanh, sigmoid, sigmoid"
    )
    rule: RuleName = "ABCD_lr"
    sharing: Sharing = Field("synapse", description="one rule per synapse, post_neuron, layer, layer_modulo "
                            "(R rules per layer) or global_modulo (one table of R rules for the network)")
    shared_rules: int = Field(128, ge=1, description="R: rules cycled over synapses when sharing is layer_modulo "
                              "or global_modulo")
    init: WeightInit = Field("uniform", description="initial weights each episode; coevolve = evolved")
    normalisation: Normalisation = "none"
    output_activation: Literal["tanh", "linear"] = "tanh"
    coefficient_std: float = Field(1.0, gt=0, description="initial center ~ N(0, std^2) (reference: 1)")
    coefficient_penalty: float = Field(0.01, ge=0, description="fitness -= penalty * mean(coefficients^2)")


class AttributionSettings(BaseModel):
    """The ``attribution:`` section of a Hebbian config (also the defaults of ``evoforge attribute``)."""

    model_config = ConfigDict(extra="forbid")

    episodes: int = Field(20, ge=2, description="episodes per control (the same seeds for every control)")
    freeze_at: list[PositiveInt] = Field(default_factory=lambda: [1, 10, 100], description="steps T of frozen_at_T")
    fixed_point_steps: int | None = Field(None, ge=1, description="steps of constant drift for fixed_point "
                                          "(default: 1000 with normalisation, converged; 100 without)")
    after_run: bool = Field(False, description="run the controls when the search ends; their means go to "
                            "summary.json as attribution_<control> (for ablations over seeds)")


class HebbianConfig(BaseRunConfig):
    """Config of ``experiment: hebbian``: ES on plasticity rules (Najarro & Risi 2020) for gymnasium envs."""

    experiment: Literal["hebbian"]
    env: EnvSettings
    network: HebbianNetworkSettings = HebbianNetworkSettings()
    search: ESSettings = ESSettings()
    stop_fitness: float | Literal["env"] | None = None
    attribution: AttributionSettings = AttributionSettings()


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

    def __init__(self, env: EnvSettings, network: HebbianNetworkSettings, render_mode: str | None = None,
                 device: str = "auto") -> None:
        super().__init__(env, render_mode)
        self.network_settings, self.device_spec = network, device

    def build(self, env: gymnasium.Env) -> None:
        self.net, self.action_map = build_network(env, self.network_settings)
        self.device = str(resolve_device(self.device_spec)) if self.net.conv is not None else "cpu"

    def make_policy(self, genomes: torch.Tensor, seeds: list[list[int]]) -> BatchPolicy:
        count, episodes = len(seeds), len(seeds[0])
        # Initial weights come from a stream of their own, apart from the env's reset seed.
        weight_seeds = [[derive_seed(s, EpisodeStream.WEIGHTS) for s in row] for row in seeds]
        state = self.net.start(genomes.numpy(), weight_seeds, self.device)
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


class HebbianExperiment(Experiment):
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
        return partial(HebbianEvaluator, self.config.env, self.config.network, device=self.config.device)

    def make_searcher(self) -> ESSearcher:
        """The configured ES from a seeded N(0, ``coefficient_std``^2) center."""
        generator = torch.Generator().manual_seed(run_seed(self.config.seed, RunStream.INITIAL_GENOME))
        center = torch.randn(self.net.num_params, generator=generator) * self.config.network.coefficient_std
        return ESSearcher.for_run(self.config.search, center, run_seed(self.config.seed, RunStream.SEARCHER),
                                  self.config.pool)

    def initial_context(self) -> Any:
        """An empty observation normaliser with ``env.normalize_observations`` (else no context)."""
        return initial_obs_context(self.config.env)

    def update_context(self, context: Any, evaluations: list[Any]) -> Any:
        """The normaliser with this generation's observations added."""
        return merge_obs_context(context, evaluations)

    def replay(
        self, genome: torch.Tensor, episodes: int, seed: int, record: bool = False, env_id: str | None = None,
        context: Any = None,
    ) -> tuple[list[float], list[Any]]:
        """Returns of ``episodes`` episodes of ``genome`` (episode k from seed ``episode_seeds(seed, episodes)[k]``,
        its initial weights from ``derive_seed(that seed, EpisodeStream.WEIGHTS)``); their frames if ``record``."""
        env = replay_env_settings(self.config.env, env_id)
        evaluator = HebbianEvaluator(env, self.config.network, render_mode="rgb_array" if record else None,
                                     device=self.config.device)
        evaluator.setup()
        evaluator.set_context(context)  # the observation normaliser the genome was scored with, if any
        return evaluator.replay(flat_genome(genome), episodes, seed, record)

    def inspect(self, run_dir: RunDir, options: InspectOptions) -> list[str]:
        """The best genome's weights during one episode (seed ``options.seed``, env ``options.env_id``) and the
        same episode with all weights zeroed or re-randomised at ``options.perturb_at``: RUN/weights.png,
        RUN/perturbation.png and each variant's return."""
        from evoforge.experiments.hebbian_inspect import PERTURBATION_PLOT, WEIGHTS_PLOT, inspect_hebbian

        best = run_dir.read_best(prefer="center")
        if best is None:
            return [f"no {RunDir.BEST} yet: no genome to inspect"]
        try:
            returns = inspect_hebbian(self, flat_genome(best.genome), run_dir.path, options.seed, options.env_id,
                                      options.perturb_at)
        except ValueError as exc:
            raise UserError(str(exc).splitlines()[0]) from None
        lines = [*(f"episode return, {label}: {value:.2f}" for label, value in returns.items()),
                 f"weights during the episode -> {run_dir.artifact(WEIGHTS_PLOT)}",
                 f"perturbation replay -> {run_dir.artifact(PERTURBATION_PLOT)}"]
        return lines + self.attribute(run_dir, AttributeOptions(seed=options.seed, env_id=options.env_id))

    def attribution_settings(self, options: AttributeOptions) -> AttributionSettings:
        """The config's ``attribution`` section with the command line's choices applied."""
        settings = self.config.attribution
        changes = {key: value for key, value in
                   (("episodes", options.episodes), ("freeze_at", options.freeze_at)) if value is not None}
        return settings.model_copy(update=changes) if changes else settings

    def attribute(self, run_dir: RunDir, options: AttributeOptions) -> list[str]:
        """The plasticity attribution table of the best genome (:mod:`evoforge.experiments.hebbian_attribution`),
        also written to RUN/attribution.json."""
        from evoforge.experiments.hebbian_attribution import ATTRIBUTION_FILE, attribute
        from evoforge.search.storage import write_json

        if self.config.env.normalize_observations:  # the controls step the raw network, without the normaliser
            raise UserError("evoforge attribute does not apply env.normalize_observations yet: the controls would "
                            "see other inputs than the evolved agent")
        best = run_dir.read_best(prefer="center")
        if best is None:
            return [f"no {RunDir.BEST} yet: no genome to attribute"]
        try:
            result = attribute(self, flat_genome(best.genome), options.seed, self.attribution_settings(options),
                               options.env_id)
        except ValueError as exc:
            raise UserError(str(exc).splitlines()[0]) from None
        path = run_dir.artifact(ATTRIBUTION_FILE)
        write_json(path, result.to_json())
        return [*result.lines(), f"attribution table -> {path}"]

    def final_summary(self, outcome: RunOutcome) -> dict[str, Any]:
        """With ``attribution.after_run``: the controls' mean returns for the best centre (or sample), as
        ``attribution_<control>`` (so an ablation collects them over seeds)."""
        if not self.config.attribution.after_run:
            return {}
        from evoforge.experiments.hebbian_attribution import attribute

        genome = outcome.best_center if outcome.best_center is not None else outcome.best_genome
        if genome is None:
            return {}
        return attribute(self, flat_genome(genome), REPLAY_SEED).summary_fields()

    def report_sections(self, report: Any, run_dir: RunDir, media: bool) -> None:
        """The best agent (table, histogram of its coefficients, one episode's video) and, with ``media``, the
        weights during that episode (random at step 0, then rewritten by the evolved rules; Najarro & Risi 2020,
        Fig. 4), the recovery after all weights are zeroed or re-randomised mid-episode, on the adaptation tasks
        the recovery after a mid-episode change, and the plasticity attribution table."""
        from evoforge.experiments.hebbian_inspect import CHANGED_ENVS, PERTURBATION_PLOT, WEIGHTS_PLOT, inspect_hebbian

        genome = best_agent_section(self, report, run_dir, media, "evolved Hebbian coefficients")
        if genome is None:
            return
        with tempfile.TemporaryDirectory() as tmp:  # the report never changes the run's files
            totals = inspect_hebbian(self, genome, Path(tmp), REPLAY_SEED)
            weights = report.section("Weights during an episode")
            weights.figure(Path(tmp) / WEIGHTS_PLOT, "The network starts from random weights; the evolved rules "
                           "rewrite them at every step. Top: output-layer weights at four moments; bottom: 25 "
                           "synapses per layer over time and all weights' first two principal components.")
            weights.figure(Path(tmp) / PERTURBATION_PLOT, "All plastic weights zeroed or re-randomised "
                           "mid-episode: the rules rebuild a network from there (a constant drift alone "
                           "would too; the attribution below tells them apart).")
            weights.table(["episode", "return"], list(totals.items()))
        if self.config.env.id in CHANGED_ENVS:
            self.recovery_section(report, genome)
        from evoforge.experiments.hebbian_attribution import attribute

        result = attribute(self, genome, REPLAY_SEED)
        section = report.section("Plasticity attribution")
        section.text(f"Does plasticity do the work? The best genome's {result.episodes} episodes (seed "
                     f"{REPLAY_SEED}) played with one thing taken away each (docs/hebbian.md, Attribution). "
                     f"Reading: {result.verdict()}. Share of sum |dw| from activity terms: "
                     f"{np.nanmean(result.activity_share):.3f}; cosine of the final weights with eta D: "
                     f"{np.nanmean(result.cosine_with_constant):.3f}.")
        header, rows = result.table()
        section.table(header, rows)

    def recovery_section(self, report: Any, genome: torch.Tensor, episodes: int = 5) -> None:
        """Recovery after a mid-episode change (the action map switched, a leg failing): reward-rate curves of
        ``episodes`` episodes around the change and their recovery times (evoforge.envs.adaptation)."""
        from evoforge.experiments.hebbian_inspect import CHANGED_ENVS, RECOVERY_PLOT, plot_recovery, recovery_episodes

        found = recovery_episodes(self, genome, REPLAY_SEED, episodes)
        changed = CHANGED_ENVS[self.config.env.id]
        section = report.section("Recovery after a mid-episode change")
        with tempfile.TemporaryDirectory() as tmp:
            path = plot_recovery(found, Path(tmp) / RECOVERY_PLOT, f"{changed}: reward rate around the change")
            section.figure(path, f"The best genome on {changed} ({episodes} episodes, seeds from {REPLAY_SEED}): "
                           "steps until the 20-step reward rate is back to 80 % of the same episode's rate "
                           "without the change (inf: never).")
        section.table(["change at step", "recovery (steps)", "return with the change", "return without"],
                      [[e["at"], e["recovery"], f"{e['changed_return']:.1f}", f"{e['plain_return']:.1f}"]
                       for e in found])
