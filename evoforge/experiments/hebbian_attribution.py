"""Plasticity attribution: does a Hebbian genome's plasticity do the work, or is it a fixed network in disguise?

Najarro & Risi 2020 evolve rules ``dw = eta (A o_i o_j + B o_i + C o_j + D)`` that rewrite random weights within
every episode. A genome can score well without any activity-driven learning: the constant eta D alone drives
max-|w|-normalised weights to one fixed network (:mod:`evoforge.plasticity.attribution`). The controls below
play the same episodes (same env resets, same random initial weights) with one thing taken away each:

=================  ============================================================================================
evolved            the genome as evolved
constant_only      A = B = C = 0: only the constant drift eta D moves the weights
activity_only      D = 0: only the activity terms eta (A o_i o_j + B o_i + C o_j) do
fixed_point        no plasticity; the weights are, from step 0, where the constant drift alone takes the episode's
                   initial weights in ``fixed_point_steps`` steps (with max-|w| normalisation: its fixed point
                   eta D / max|eta D|; without: w0 + K eta D, "the weights at a chosen step")
frozen_at_T        the evolved rules until step T, then the weights stay as they are
no_plasticity      the random initial weights, never changed
shuffled           the forward pass as evolved, but every update is driven by the pre- and post-synaptic activities
                   of another step of the evolved episode (its steps in shuffled order): the same activity
                   statistics, decoupled from what the network sees now
=================  ============================================================================================

and the evolved episodes also measure the share of sum |dw| the activity terms contribute and how close the
final weights are to the constant term's pattern (cosine of w with eta D). :func:`attribute` returns an
:class:`Attribution`; ``evoforge attribute RUN`` prints its table, ``evoforge inspect`` and the report show it,
and ``attribution.after_run`` puts its numbers into summary.json so an ablation can collect them over seeds.

Episode k of a control is episode k of ``evoforge replay --seed S --episodes N`` for the evolved genome.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from evoforge.experiments.gym_control import EnvSettings, replay_env_settings
from evoforge.experiments.hebbian import AttributionSettings, HebbianEvaluator, HebbianNetworkSettings
from evoforge.plasticity.attribution import DeltaShare, constant_drift, cosine, zero_terms
from evoforge.search.seeds import EpisodeStream, derive_seed, episode_seeds
from evoforge.stats import summarise, welch_p

ATTRIBUTION_FILE = "attribution.json"  # what `evoforge attribute` writes into the run directory


@dataclass(frozen=True)
class Control:
    """One way of playing a genome's episodes: terms zeroed in the genome, and how the weights may change."""

    name: str
    zeroed: tuple[str, ...] = ()  # rule terms set to 0 in the genome
    freeze_at: int | None = None  # no updates from this step on (0: never)
    fixed_point: bool = False  # start from the constant drift's weights, never update
    shuffled: bool = False  # updates driven by the evolved episode's activities in shuffled step order

    @property
    def description(self) -> str:
        """What the control takes away, in a few words (the table's second column)."""
        if self.zeroed == ("a", "b", "c"):
            return "A = B = C = 0 (only eta D)"
        if self.zeroed == ("d",):
            return "D = 0 (only activity terms)"
        if self.fixed_point:
            return "static: the constant drift's weights, frozen"
        if self.shuffled:
            return "updates from shuffled activities"
        if self.freeze_at == 0:
            return "static: the random initial weights"
        if self.freeze_at is not None:
            return f"plastic until step {self.freeze_at}, then frozen"
        return "the genome as evolved"


def controls(freeze_at: list[int]) -> list[Control]:
    """The controls of the module docstring, ``evolved`` first (the shuffled control replays its activities)."""
    return [Control("evolved"), Control("constant_only", zeroed=("a", "b", "c")),
            Control("activity_only", zeroed=("d",)), Control("fixed_point", fixed_point=True),
            *(Control(f"frozen_at_{t}", freeze_at=t) for t in sorted(set(freeze_at))),
            Control("no_plasticity", freeze_at=0), Control("shuffled", shuffled=True)]


@dataclass
class ControlResult:
    name: str
    description: str
    returns: list[float]


@dataclass
class Attribution:
    """The controls' returns on the same episodes, and the evolved episodes' |dw| share and cosine with eta D."""

    env_id: str
    seed: int
    episodes: int
    normalisation: str
    fixed_point_steps: int
    controls: list[ControlResult]
    activity_share: list[float]  # per evolved episode: the activity terms' share of sum |dw|
    cosine_with_constant: list[float]  # per evolved episode: cosine(w at its last step, eta D), mean over layers
    extra: dict[str, Any] = field(default_factory=dict)

    def returns(self, name: str) -> list[float]:
        """The episode returns of control ``name``."""
        return next(c.returns for c in self.controls if c.name == name)

    def means(self) -> dict[str, float]:
        """Mean return per control."""
        return {c.name: float(np.mean(c.returns)) for c in self.controls}

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Header and rows: control, what it is, mean return with its 95 % interval, and the difference from
        the evolved genome with Welch's p."""
        evolved = self.returns("evolved")
        rows = []
        for c in self.controls:
            s = summarise(c.returns)
            p = "" if c.name == "evolved" else _p(welch_p(c.returns, evolved), c.returns == evolved)
            diff = "" if c.name == "evolved" else f"{s.mean - float(np.mean(evolved)):+.1f}"
            rows.append([c.name, c.description, f"{s.mean:.1f} [{s.ci_low:.1f}, {s.ci_high:.1f}]", diff, p])
        return ["control", "what", "mean return [95 % CI]", "vs evolved", "Welch p"], rows

    def lines(self) -> list[str]:
        """The table as aligned text, then the |dw| share, the cosine and the verdict."""
        header, rows = self.table()
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        text = [(f"plasticity attribution on {self.env_id}: {self.episodes} episodes per control (seed {self.seed}), "
                 f"normalisation {self.normalisation}")]
        text += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]]
        share, cos = summarise(self.activity_share), summarise(self.cosine_with_constant)
        text.append(f"share of sum |dw| from activity terms (evolved): {share.mean:.3f} [{share.ci_low:.3f}, "
                    f"{share.ci_high:.3f}]; cosine of the final weights with eta D: {cos.mean:.3f}")
        text.append(f"reading: {self.verdict()}")
        return text

    def verdict(self) -> str:
        """One sentence on what the controls say (margin: the evolved mean's 95 % half-width, at least 5 %)."""
        means, evolved = self.means(), summarise(self.returns("evolved"))
        margin = max(evolved.mean - evolved.ci_low if not math.isnan(evolved.ci_low) else 0.0, 0.05 * abs(evolved.mean))
        fixed = max(means["constant_only"], means["fixed_point"])
        if fixed >= evolved.mean - margin:
            return (f"a fixed network encoded in the constant term: without any activity-driven change the agent "
                    f"scores {fixed:.1f} against the evolved {evolved.mean:.1f}")
        if means["shuffled"] >= evolved.mean - margin:
            return (f"the weight changes matter but not their coupling to the current activities: shuffled "
                    f"updates score {means['shuffled']:.1f} against {evolved.mean:.1f}")
        return (f"activity-driven plasticity does work: constant term alone {means['constant_only']:.1f}, static "
                f"fixed point {means['fixed_point']:.1f}, shuffled updates {means['shuffled']:.1f}, evolved "
                f"{evolved.mean:.1f}")

    def summary_fields(self) -> dict[str, float]:
        """``attribution_<control>`` mean returns and ``attribution_activity_share``, for summary.json."""
        fields = {f"attribution_{name}": value for name, value in self.means().items()}
        fields["attribution_activity_share"] = float(np.nanmean(self.activity_share))
        return fields

    def to_json(self) -> dict[str, Any]:
        """Everything, plus the means and the verdict (what attribution.json holds)."""
        return {**asdict(self), "means": self.means(), "verdict": self.verdict()}


def _p(value: float, identical: bool = False) -> str:
    if math.isnan(value):
        return "identical" if identical else "n/a"  # Welch's test needs spread on at least one side
    return f"{value:.2g}" if value >= 1e-3 else "<0.001"


class AttributionEvaluator(HebbianEvaluator):
    """A Hebbian evaluator whose policy plays one :class:`Control`; the evolved control also records what the
    others need (the activities, for ``shuffled``) and measures the |dw| share and the final cosine."""

    def __init__(self, env: EnvSettings, network: HebbianNetworkSettings, fixed_point_steps: int) -> None:
        super().__init__(env, network)
        self.fixed_point_steps = fixed_point_steps
        self.control = Control("evolved")
        self.recorded: list[np.ndarray] | None = None  # per layer (T, E, n): the evolved episodes' activities
        self.lengths: np.ndarray | None = None
        self.share: DeltaShare | None = None
        self.final_cosine: np.ndarray | None = None
        self._finish: Any = None

    def play_control(self, control: Control, genome: np.ndarray, seeds: list[int]) -> list[float]:
        """Returns of ``control`` on the episodes of ``seeds`` (one genome, episodes side by side)."""
        self.control = control
        genomes = torch.as_tensor(genome, dtype=torch.float32).reshape(1, -1)
        result = self.play(genomes, [list(seeds)])
        if self._finish is not None:
            self._finish()
            self._finish = None
        if control.name == "evolved":
            self.lengths = result.lengths.copy()
        return [float(r) for r in result.returns]

    def make_policy(self, genomes: torch.Tensor, seeds: list[list[int]]) -> Any:
        control, net = self.control, self.net
        episodes = len(seeds[0])
        weight_seeds = [[derive_seed(s, EpisodeStream.WEIGHTS) for s in row] for row in seeds]
        state = net.start(genomes.numpy(), weight_seeds)
        if control.fixed_point:
            state.weights[:] = [w.astype(net.dtype) for w in constant_drift(
                state.weights, state.rules, net.normalisation, self.fixed_point_steps)]
        observations = np.zeros((episodes, *net.observation_shape), dtype=net.dtype)
        evolved = control.name == "evolved"
        recording: list[list[np.ndarray]] = [[] for _ in state.weights] + [[]]
        if evolved:
            self.share = DeltaShare(episodes)
            self.final_cosine = np.full(episodes, np.nan)
        if control.shuffled:
            if self.recorded is None or self.lengths is None:
                raise RuntimeError("the shuffled control replays the evolved control's activities: play that first")
            orders = [np.random.default_rng(derive_seed(s, EpisodeStream.SHUFFLE)).permutation(int(n))
                      for s, n in zip(seeds[0], self.lengths)]
        step, previous = [0], [list(range(episodes))]

        def final_cosines(rows: list[int]) -> None:
            for row in rows:
                values = [cosine(w[0, row], rule.db[0]) for w, rule in zip(state.weights, state.rules)
                          if rule.db is not None]
                self.final_cosine[row] = float(np.mean(values)) if values else math.nan

        def act(live_obs: np.ndarray, alive: list[int]) -> np.ndarray:
            t = step[0]
            if evolved:  # rows that just ended: their weights are final now
                final_cosines(sorted(set(previous[0]) - set(alive)))
                previous[0] = list(alive)
            observations[alive] = live_obs
            activities = net.forward(state, observations[None])
            if evolved:
                for layer, activity in enumerate(activities):
                    recording[layer].append(activity[0].copy())
                for layer, rule in enumerate(state.rules):
                    self.share.add(activities[layer], activities[layer + 1], rule, alive)
            plastic = not control.fixed_point and (control.freeze_at is None or t < control.freeze_at)
            if plastic and control.shuffled:
                picks = [int(order[t % len(order)]) for order in orders]  # row e replays its step picks[e]
                rows = np.arange(episodes)
                net.update(state, [recorded[picks, rows][None] for recorded in self.recorded])
            elif plastic:
                net.update(state, activities)
            step[0] += 1
            return self.action_map(activities[-1][0, alive].astype(np.float32))

        def finish() -> None:
            if evolved:
                final_cosines(previous[0])
                self.recorded = [np.stack(layer) for layer in recording]

        self._finish = finish
        return act


def attribute(experiment: Any, genome: torch.Tensor, seed: int, settings: AttributionSettings | None = None,
              env_id: str | None = None) -> Attribution:
    """Play every control of ``genome`` on ``settings.episodes`` episodes (seeds ``episode_seeds(seed, n)``) of
    ``env_id`` (default the config's env) and return the table's numbers."""
    settings = settings or experiment.config.attribution
    network = experiment.config.network
    steps = settings.fixed_point_steps or (100 if network.normalisation == "none" else 1000)
    env = replay_env_settings(experiment.config.env, env_id)
    evaluator = AttributionEvaluator(env, network, steps)
    evaluator.setup()
    flat = genome.detach().double().numpy().reshape(-1)
    layers = evaluator.net.coefficient_columns()
    seeds = episode_seeds(seed, settings.episodes)
    results = []
    for control in controls(settings.freeze_at):
        played = zero_terms(flat, layers, network.rule, control.zeroed) if control.zeroed else flat
        results.append(ControlResult(control.name, control.description,
                                     evaluator.play_control(control, played, seeds)))
    return Attribution(env_id=env.id, seed=seed, episodes=settings.episodes, normalisation=network.normalisation,
                       fixed_point_steps=steps, controls=results,
                       activity_share=[float(x) for x in evaluator.share.share()],
                       cosine_with_constant=[float(x) for x in evaluator.final_cosine])
