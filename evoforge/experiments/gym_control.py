"""Neuroevolution of a fixed-weight policy on a gymnasium task with vector observations, by ES on the pool.

Config sections: ``env`` (id, episodes per evaluation, episode cap), ``policy`` (kind, hidden sizes, activation,
initialisation) and ``search`` (:class:`~evoforge.search.es.ESSettings`). A genome is the flat weight vector
of a :class:`~evoforge.policies.mlp.BatchedMLP` (``policy.kind: mlp``) or of a
:class:`~evoforge.policies.recurrent.BatchedGRU` (``policy.kind: gru``, whose state starts at zero every
episode); its fitness is the mean undiscounted return over ``env.episodes`` episodes, each reset with a seed
derived from (run seed, generation, genome index, episode).

Actions: argmax of the outputs for Discrete action spaces; tanh outputs rescaled to the bounds for Box.
``evoforge replay --seed S`` plays episode k from seed ``episode_seeds(S, n)[k]``, the episodes an evaluation
with genome seed S would play; ``evoforge report`` adds the best agent's genome statistics and one episode's video.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal

import gymnasium
import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, FilePath, ValidationInfo, field_validator, model_validator

from evoforge.envs import is_registered, make_env
from evoforge.envs.rollout import BatchPolicy, RolloutResult, rollout_batch
from evoforge.experiments.base import REPLAY_SEED, Experiment
from evoforge.experiments.config import BaseRunConfig
from evoforge.policies.mlp import Activation, BatchedMLP
from evoforge.policies.obs_norm import ObsNormalizer, ObsRecorder
from evoforge.policies.recurrent import BatchedGRU
from evoforge.search.es import ESSearcher, ESSettings
from evoforge.search.evaluation import Evaluation, Evaluator
from evoforge.search.rundir import RunDir
from evoforge.search.seeds import RunStream, episode_seeds, run_seed


class EnvSettings(BaseModel):
    """The ``env:`` section: gymnasium env id(s), episodes per evaluation, episode cap and ``gymnasium.make`` kwargs."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="gymnasium env id, e.g. CartPole-v1")
    episodes: int = Field(1, ge=1, description="episodes per evaluation (fitness is their mean return)")
    max_episode_steps: int | None = Field(None, ge=1, description="episode cap; default the env's own")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of gymnasium.make")
    also_ids: list[str] = Field(
        default_factory=list,
        description="more env ids evaluated with the same genome and seeds; fitness is the mean over all ids "
        "(e.g. several morphologies)",
    )
    normalize_observations: bool = Field(
        False, description="feed the policy clip((obs - mean) / std, -5, 5) with running statistics of every "
        "observation seen so far, merged each generation (Salimans et al. 2017; evoforge.policies.obs_norm)")

    @field_validator("id")
    @classmethod
    def _registered(cls, env_id: str) -> str:
        if not is_registered(env_id):
            raise ValueError(f"unknown gymnasium env id {env_id!r}")
        return env_id

    @field_validator("also_ids")
    @classmethod
    def _all_registered(cls, env_ids: list[str]) -> list[str]:
        for env_id in env_ids:
            cls._registered(env_id)
        return env_ids

    @property
    def all_ids(self) -> list[str]:
        """The main env id followed by ``also_ids``: every env an evaluation runs on."""
        return [self.id, *self.also_ids]


class PolicySettings(BaseModel):
    """The ``policy:`` section: the network kind, its hidden widths, activation, bias, initial center and weight
    penalty. ``activation`` and ``bias`` apply to ``kind: mlp`` only (a GRU always has its gates' biases)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["mlp", "gru"] = Field(
        "mlp", description="mlp: a feed-forward MLP; gru: one GRU layer of width hidden[0] and a linear readout; "
        "its state starts at zero every episode and carries information across steps")
    # validate_default: the default [64, 64] is checked against kind too (a gru takes one width).
    hidden: list[int] = Field(default_factory=lambda: [64, 64], validate_default=True,
                              description="hidden layer widths (mlp); the state size, one entry (gru)")
    activation: Activation = Field("tanh", description="hidden-layer nonlinearity (mlp only)")
    bias: bool = Field(True, description="layers have biases (mlp only)")
    init: Literal["default", "zeros"] = Field("default", description="initial center: torch-style uniform (Linear / "
                                              "GRUCell init) or zeros")
    init_from: FilePath | None = Field(None, description="start the center from a saved genome (a run's best.pt)")
    weight_penalty: float = Field(0.0, ge=0, description="fitness -= penalty * mean(weights^2) (static baselines "
                                  "of Najarro & Risi 2020 use 0.01)")

    @field_validator("hidden")
    @classmethod
    def _positive(cls, hidden: list[int], info: ValidationInfo) -> list[int]:
        if any(h < 1 for h in hidden):
            raise ValueError(f"hidden sizes must be >= 1, got {hidden}")
        if info.data.get("kind") == "gru" and len(hidden) != 1:
            raise ValueError(f"a gru policy takes exactly one hidden width (its state size), got {hidden}")
        return hidden


class GymControlConfig(BaseRunConfig):
    """Config of ``experiment: gym_control``: ES on the weights of a batched MLP or GRU policy for gymnasium envs."""

    experiment: Literal["gym_control"]
    env: EnvSettings
    policy: PolicySettings = PolicySettings()
    search: ESSettings = ESSettings()
    stop_fitness: float | Literal["env"] | None = Field(
        None, description="stop when the center's mean evaluation reaches this; 'env' = the env's reward_threshold"
    )

    @model_validator(mode="after")
    def _threshold_known(self) -> "GymControlConfig":
        if self.stop_fitness == "env" and gymnasium.spec(self.env.id).reward_threshold is None:
            raise ValueError(f"stop_fitness: {self.env.id} has no reward_threshold; give a number")
        return self


def _observation_size(space: gymnasium.Space) -> int:
    if not isinstance(space, gymnasium.spaces.Box) or len(space.shape) != 1:
        raise ValueError(f"gym_control needs a 1-D Box observation space, got {space}")
    return int(space.shape[0])


class ActionMap:
    """Turns raw network outputs (n, out) into env actions."""

    def __init__(self, space: gymnasium.Space) -> None:
        if isinstance(space, gymnasium.spaces.Discrete):
            self.kind, self.size = "discrete", int(space.n)
            self.start = int(space.start)
        elif isinstance(space, gymnasium.spaces.Box) and len(space.shape) == 1:
            self.kind, self.size = "box", int(space.shape[0])
            low, high = space.low.astype(np.float32), space.high.astype(np.float32)
            unit = np.all(low == -1) and np.all(high == 1)
            bounded = np.all(np.isfinite(low)) and np.all(np.isfinite(high))
            self.scale = None if unit or not bounded else ((high - low) / 2, (high + low) / 2)
            self.dtype = space.dtype
        else:
            raise ValueError(f"gym_control supports Discrete and 1-D Box action spaces, got {space}")

    @property
    def output_activation(self) -> Activation:
        """The network's output activation that suits the action space: linear for argmax, tanh for boxes."""
        return "linear" if self.kind == "discrete" else "tanh"

    def __call__(self, outputs: np.ndarray) -> np.ndarray:
        if self.kind == "discrete":
            return outputs.argmax(axis=-1) + self.start
        if self.scale is not None:
            half_range, mid = self.scale
            outputs = outputs * half_range + mid
        return outputs.astype(self.dtype, copy=False)


def build_policy(env: gymnasium.Env, policy: PolicySettings) -> tuple[BatchedMLP | BatchedGRU, ActionMap]:
    """The batched network of ``policy.kind`` (MLP or GRU) for ``env``'s observation and action spaces, and the
    map from its outputs to actions."""
    action_map = ActionMap(env.action_space)
    if policy.kind == "gru":
        gru = BatchedGRU(_observation_size(env.observation_space), policy.hidden[0], action_map.size,
                         output_activation=action_map.output_activation)
        return gru, action_map
    mlp = BatchedMLP(
        sizes=(_observation_size(env.observation_space), *policy.hidden, action_map.size),
        activation=policy.activation,
        output_activation=action_map.output_activation,
        bias=policy.bias,
    )
    return mlp, action_map


class GymEpisodesEvaluator(Evaluator):
    """Base of the gymnasium evaluators: a reused pool of envs, derived episode seeds, batched rollouts.

    A chunk of G genomes runs G x ``env.episodes`` episodes side by side; subclasses build their network from
    the env's spaces (:meth:`build`) and turn a chunk of genomes into one batched policy (:meth:`make_policy`).
    Fitness is the mean episode return minus :meth:`fitness_penalty`.
    """

    def __init__(self, env: EnvSettings, render_mode: str | None = None) -> None:
        self.env_settings = env
        self.render_mode = render_mode
        self.envs: dict[str, list[gymnasium.Env]] = {}
        self.normalizer: ObsNormalizer | None = None  # the run's context, with env.normalize_observations
        self.recorders: list[ObsRecorder] = []  # the raw observations of the plays since the last evaluate

    def set_context(self, context: Any) -> None:
        """The run's observation normaliser (``env.normalize_observations``), applied from the next play on."""
        if isinstance(context, ObsNormalizer):
            self.normalizer = context

    def _make_env(self, env_id: str) -> gymnasium.Env:
        s = self.env_settings
        return make_env(env_id, max_episode_steps=s.max_episode_steps, render_mode=self.render_mode, **s.kwargs)

    def setup(self) -> None:
        self.envs = {env_id: [self._make_env(env_id)] for env_id in self.env_settings.all_ids}
        first = self.envs[self.env_settings.id][0]
        for env_id, (env,) in self.envs.items():
            if env.observation_space.shape != first.observation_space.shape or env.action_space != first.action_space:
                raise ValueError(f"env.also_ids: {env_id} has other observation or action spaces than {first.spec.id}")
        self.build(first)

    def build(self, env: gymnasium.Env) -> None:
        """Build the policy's network for ``env``'s spaces (called once per worker by :meth:`setup`)."""
        raise NotImplementedError

    def make_policy(self, genomes: torch.Tensor, seeds: list[list[int]]) -> BatchPolicy:
        """A policy for rows ``g * episodes + e``; ``seeds[g][e]`` is that episode's seed."""
        raise NotImplementedError

    def fitness_penalty(self, genomes: torch.Tensor) -> np.ndarray:
        """What is subtracted from each genome's mean return (none here; subclasses penalise weights or rules)."""
        return np.zeros(genomes.shape[0])

    def rollout(
        self, genomes: torch.Tensor, seeds: Sequence[int], frames: list | None = None, env_id: str | None = None
    ) -> RolloutResult:
        """Episodes of every genome on ``env_id`` (default ``env.id``), ``env.episodes`` each: genome g's episode
        e from seed ``episode_seeds(seeds[g], episodes)[e]``."""
        episodes = self.env_settings.episodes
        return self.play(genomes, [episode_seeds(int(seed), episodes) for seed in seeds], frames, env_id)

    def play(
        self, genomes: torch.Tensor, seeds: list[list[int]], frames: list | None = None, env_id: str | None = None
    ) -> RolloutResult:
        """Genome g's episodes from the reset seeds ``seeds[g]`` (the same number for every genome), side by side
        on ``env_id`` (default ``env.id``); frames of the first episode if ``frames`` is a list."""
        name = env_id or self.env_settings.id
        envs = self.envs[name]
        while len(envs) < len(seeds) * len(seeds[0]):  # created once, reused by every later chunk
            envs.append(self._make_env(name))
        policy = self.make_policy(genomes, seeds)
        if self.normalizer is not None:  # normalise what the policy sees; record what the env gave
            normalise, inner = self.normalizer.prepared(), policy  # mean and std once, not every step
            recorder = ObsRecorder(len(seeds), len(seeds[0]), self.normalizer.total.shape)
            self.recorders.append(recorder)

            def policy(observations: np.ndarray, alive: list[int]) -> np.ndarray:
                recorder.add(observations, np.asarray(alive))
                return inner(normalise(observations), alive)

        return rollout_batch(envs, policy, [s for row in seeds for s in row], frames=frames)

    def evaluate(self, genomes: torch.Tensor, seeds: Sequence[int]) -> list[Evaluation]:
        episodes = self.env_settings.episodes
        ids = self.env_settings.all_ids
        self.recorders = []
        results = {env_id: self.rollout(genomes, seeds, env_id=env_id) for env_id in ids}
        returns = {env_id: r.returns.reshape(-1, episodes).mean(axis=1) for env_id, r in results.items()}
        lengths = np.concatenate([r.lengths.reshape(-1, episodes) for r in results.values()], axis=1)
        mean_return = np.mean(list(returns.values()), axis=0)
        fitness = mean_return - self.fitness_penalty(genomes)
        evaluations = []
        for g in range(len(seeds)):
            metrics = {
                "steps": float(lengths[g].sum()),
                "episode_length": float(lengths[g].mean()),
                "episode_return": float(mean_return[g]),
            }
            if len(ids) > 1:
                metrics.update({f"return:{env_id}": float(returns[env_id][g]) for env_id in ids})
            # this genome's raw observations over all its envs, for the next generation's normaliser
            extras = {"obs_stats": ObsNormalizer.empty(self.normalizer.total.shape).merged(
                [r.stats(g) for r in self.recorders])} if self.normalizer is not None else {}
            evaluations.append(Evaluation(fitness=float(fitness[g]), metrics=metrics, extras=extras))
        self.recorders = []
        return evaluations

    def replay(self, genome: torch.Tensor, episodes: int, seed: int, record: bool) -> tuple[list[float], list]:
        """Episodes of one genome one after another, episode k from seed ``episode_seeds(seed, episodes)[k]``
        (as genome seed ``seed`` would be evaluated with ``episodes`` episodes); frames if ``record``."""
        returns: list[float] = []
        frames: list = []
        for episode_seed in episode_seeds(seed, episodes):
            result = self.play(genome.reshape(1, -1), [[episode_seed]], frames if record else None)
            returns.append(float(result.returns[0]))
        return returns, frames


class GymPolicyEvaluator(GymEpisodesEvaluator):
    """Fixed-weight genomes (an MLP, or a GRU with a state per episode): one batched forward per step over the
    live episodes of the chunk."""

    def __init__(self, env: EnvSettings, policy: PolicySettings, render_mode: str | None = None) -> None:
        super().__init__(env, render_mode)
        self.policy_settings = policy

    def build(self, env: gymnasium.Env) -> None:
        self.network, self.action_map = build_policy(env, self.policy_settings)

    def make_policy(self, genomes: torch.Tensor, seeds: list[list[int]]) -> BatchPolicy:
        if isinstance(self.network, BatchedGRU):
            return self._recurrent_policy(self.network, genomes, len(seeds) * len(seeds[0]), len(seeds[0]))
        episodes = len(seeds[0])
        layers = self.network.numpy_layers(genomes)
        live_layers: dict[str, Any] = {"rows": None}

        def act(observations: np.ndarray, alive: list[int]) -> np.ndarray:
            if live_layers["rows"] != alive:
                # Episodes ended: keep only the weights of the live rows (row i runs genome i // episodes).
                owners = np.asarray(alive) // episodes
                live_layers["rows"] = list(alive)
                live_layers["layers"] = [(w[owners], None if b is None else b[owners]) for w, b in layers]
            outputs = self.network.forward_numpy(live_layers["layers"], observations[:, None, :])
            return self.action_map(outputs[:, 0, :])

        return act

    def _recurrent_policy(self, gru: BatchedGRU, genomes: torch.Tensor, rows: int, episodes: int) -> BatchPolicy:
        """A GRU policy for ``rows`` episodes (row i runs genome i // episodes), each with its own state, zero at
        the start; a step advances the live rows' states only (those of ended episodes are kept, unused)."""
        params = gru.numpy_params(genomes)
        state = gru.initial_state(rows)
        live: dict[str, Any] = {"rows": None}

        def act(observations: np.ndarray, alive: list[int]) -> np.ndarray:
            if live["rows"] != alive:
                # Episodes ended: keep only the weights of the live rows, gathered once per change.
                live["rows"] = list(alive)
                live["index"] = np.asarray(alive, dtype=np.intp)
                live["params"] = params.take(live["index"] // episodes)
            index = live["index"]
            h_new, outputs = gru.step(live["params"], state[index], observations)
            state[index] = h_new
            return self.action_map(outputs)

        return act

    def fitness_penalty(self, genomes: torch.Tensor) -> np.ndarray:
        """``policy.weight_penalty`` x mean(w^2) per genome, the static baselines' penalty of Najarro & Risi 2020."""
        return (self.policy_settings.weight_penalty * (genomes.double() ** 2).mean(dim=1)).numpy()


class GymControlExperiment(Experiment):
    """Wires a GymControlConfig to the engine: evaluator factory, ES searcher, replay, report section."""

    config_class = GymControlConfig

    def __init__(self, config: GymControlConfig) -> None:
        self.config = config
        stop = resolve_stop_fitness(config.stop_fitness, config.env.id)
        self.settings = config.run_settings(config.search.generations, stop)
        self.center_init = self.initial_center()  # also checks policy.init_from before anything starts

    def evaluator_factory(self) -> partial[GymPolicyEvaluator]:
        """A picklable factory of :class:`GymPolicyEvaluator` with this config's env and policy sections."""
        return partial(GymPolicyEvaluator, self.config.env, self.config.policy)

    def make_searcher(self) -> ESSearcher:
        """The configured ES from :meth:`initial_center`."""
        seed = run_seed(self.config.seed, RunStream.SEARCHER)
        return ESSearcher.for_run(self.config.search, self.center_init.clone(), seed, self.config.pool)

    def initial_center(self) -> torch.Tensor:
        """The ES's starting weights: from ``policy.init_from``, zeros, or a seeded Linear-style (GRUCell-style
        for a GRU) initialisation."""
        env = self.config.env
        probe = make_env(env.id, max_episode_steps=env.max_episode_steps, **env.kwargs)
        network, _ = build_policy(probe, self.config.policy)
        probe.close()
        policy = self.config.policy
        if policy.init_from is not None:
            genome = load_genome(policy.init_from)
            if genome.numel() != network.num_params:
                raise ValueError(f"policy.init_from: genome has {genome.numel()} parameters, the "
                                 f"{policy.kind.upper()} needs {network.num_params}")
            return genome.flatten().to(torch.float32)
        if policy.init == "zeros":
            return torch.zeros(network.num_params)
        return network.initial_genome(torch.Generator().manual_seed(run_seed(self.config.seed, RunStream.INITIAL_GENOME)))

    def initial_context(self) -> ObsNormalizer | None:
        """An empty observation normaliser with ``env.normalize_observations`` (else no context)."""
        return initial_obs_context(self.config.env)

    def update_context(self, context: Any, evaluations: list[Evaluation]) -> Any:
        """The normaliser with this generation's observations added (:func:`merge_obs_context`)."""
        return merge_obs_context(context, evaluations)

    def replay(
        self, genome: torch.Tensor, episodes: int, seed: int, record: bool = False, env_id: str | None = None,
        context: Any = None,
    ) -> tuple[list[float], list]:
        """Run ``genome`` for ``episodes`` episodes (seeds ``episode_seeds(seed, episodes)``) on ``env_id``
        (default the config's); frames if ``record``. ``context``: the observation normaliser the genome was
        scored with (best.pt keeps it)."""
        env = replay_env_settings(self.config.env, env_id)
        evaluator = GymPolicyEvaluator(env, self.config.policy, render_mode="rgb_array" if record else None)
        evaluator.setup()
        evaluator.set_context(context)
        return evaluator.replay(flat_genome(genome), episodes, seed, record)

    def report_sections(self, report: Any, run_dir: RunDir, media: bool) -> None:
        """The best agent: its genome's statistics and value histogram, and one episode's video."""
        best_agent_section(self, report, run_dir, media, "policy weights")


def initial_obs_context(env: EnvSettings) -> ObsNormalizer | None:
    """With ``env.normalize_observations``: an empty normaliser of the env's observation shape; else None."""
    if not env.normalize_observations:
        return None
    probe = make_env(env.id, max_episode_steps=env.max_episode_steps, **env.kwargs)
    shape = probe.observation_space.shape
    probe.close()
    return ObsNormalizer.empty(tuple(shape))


def merge_obs_context(context: Any, evaluations: list[Evaluation]) -> Any:
    """``context`` plus the observations every evaluation recorded (``extras["obs_stats"]``), in order;
    anything else unchanged."""
    if not isinstance(context, ObsNormalizer):
        return context
    stats = [e.extras["obs_stats"] for e in evaluations if "obs_stats" in e.extras]
    return context.merged([(s.count, s.total, s.squares) for s in stats])


def resolve_stop_fitness(stop: float | str | None, env_id: str) -> float | None:
    """A config's ``stop_fitness``: a number, None, or ``"env"`` for the env's published reward_threshold."""
    if stop != "env":
        return stop
    threshold = gymnasium.spec(env_id).reward_threshold
    if threshold is None:
        raise ValueError(f"stop_fitness: {env_id} has no reward_threshold; give a number")
    return float(threshold)


def replay_env_settings(env: EnvSettings, env_id: str | None) -> EnvSettings:
    """One episode at a time on one env: the config's, or ``env_id`` (e.g. a held-out morphology)."""
    if env_id is not None and not is_registered(env_id):
        raise ValueError(f"--env: unknown gymnasium env id {env_id!r}")
    return env.model_copy(update={"episodes": 1, "also_ids": [], "id": env_id or env.id})


def load_genome(path: Path) -> torch.Tensor:
    """A genome from a run's best.pt (its best center if there is one, else its best sample) or a tensor file."""
    path = Path(path)
    if path.name == RunDir.BEST:
        best = RunDir(path.parent).read_best(prefer="center")
        if best is None:
            raise ValueError(f"{path}: no genome in it yet")
        return torch.as_tensor(best.genome)
    blob = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(blob, dict):
        raise ValueError(f"{path}: not a tensor; give a run's {RunDir.BEST} or a file holding one genome tensor")
    return torch.as_tensor(blob)


def flat_genome(genome: Any) -> torch.Tensor:
    """A vector genome read back from a run (a tensor, or anything tensor-like) as a flat float tensor; a float
    genome keeps its dtype, so that a replay computes what the evaluation did."""
    flat = torch.as_tensor(genome).detach().flatten()
    return flat if flat.is_floating_point() else flat.to(torch.float32)


def best_agent_section(experiment: Any, report: Any, run_dir: RunDir, media: bool, label: str
                       ) -> torch.Tensor | None:
    """The report's "Best agent" section for a vector-genome control run: a table of the best genome (the best
    center when the run has one), a histogram of its values (``label``) and, with ``media``, one episode's video
    (seed :data:`REPLAY_SEED`). Returns the genome when media sections may follow, else None."""
    best = run_dir.read_best(prefer="center")
    section = report.section("Best agent")
    if best is None:
        section.note(f"no {RunDir.BEST} yet: nothing to replay")
        return None
    genome = flat_genome(best.genome)
    section.table(["genome", "parameters", "score", "generation", "min", "max", "mean |value|"],
                  [(best.kind, genome.numel(), best.score, best.generation, float(genome.min()),
                    float(genome.max()), float(genome.abs().mean()))])
    section.figure(histogram(genome.numpy(), label), "Distribution of the genome's values.")
    if not media:
        section.note("videos and weight trajectories left out (--no-media)")
        return None
    context = {"context": best.context} if best.context is not None else {}  # an observation normaliser
    returns, frames = experiment.replay(genome, 1, REPLAY_SEED, record=True, **context)
    section.animation(frames, f"One episode of the best {best.kind} genome (seed {REPLAY_SEED}): return "
                              f"{returns[0]:.1f}.", fps=experiment.video_fps)
    return genome


def histogram(values: np.ndarray, label: str) -> Any:
    """A small matplotlib histogram of ``values`` (60 bins), for a report figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2.6))
    ax.hist(values, bins=60, color="#2b8cbe")
    ax.set_xlabel(label)
    ax.set_ylabel("count")
    return fig
