"""Looking inside a Hebbian agent: its weights during an episode, and recovery from perturbed weights.

Najarro & Risi 2020 (arXiv 2007.02686, Sec. 5) show that the weights, random at the start of every episode,
quickly move into a stable (for the walking gait, cyclic) pattern, and that the agent recovers when its
weights are zeroed or re-randomised mid-episode. :func:`inspect_hebbian` draws both pictures for a run's best
genome:

* ``weights.png``: the weights of the last hidden->output layer at a few moments, the trajectories of sampled
  synapses of every layer, and the whole weight vector projected on its first two principal components
  (colour = time) -- the "from random init into an attractor" picture;
* ``perturbation.png``: cumulative reward of the same episode (same seed, same initial weights) unperturbed,
  with all weights zeroed at step T, and with all weights re-drawn from the initial distribution at step T.

The episode of seed S is episode 0 of ``evoforge replay --seed S``: the env is reset with
``e = episode_seeds(S, 1)[0]`` and the initial weights are drawn from ``derive_seed(e, EpisodeStream.WEIGHTS)``,
as the evaluator does for an episode of seed e; the re-randomised weights come from
``derive_seed(e, EpisodeStream.PERTURBATION)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from evoforge.envs import make_env
from evoforge.experiments.gym_control import replay_env_settings
from evoforge.experiments.hebbian import build_network
from evoforge.policies.hebbian import draw_initial_weights
from evoforge.search.seeds import EpisodeStream, derive_seed, episode_seeds

Perturbation = Literal["none", "zero", "rerandomise"]
WEIGHTS_PLOT = "weights.png"  # what inspect_hebbian writes into its directory
PERTURBATION_PLOT = "perturbation.png"


@dataclass
class EpisodeTrace:
    """One inspected episode: its rewards, and copies of the weights at the recorded steps."""

    rewards: list[float] = field(default_factory=list)
    snapshots: list[list[np.ndarray]] = field(default_factory=list)  # per recorded step, per layer (n_in, n_out)
    snapshot_steps: list[int] = field(default_factory=list)

    @property
    def total(self) -> float:
        """The episode's return, summed in step order as the rollout does (so the two agree to the bit)."""
        total = 0.0
        for reward in self.rewards:
            total += reward
        return total


def run_episode(
    experiment,
    genome: torch.Tensor,
    seed: int,
    env_id: str | None = None,
    perturbation: Perturbation = "none",
    perturb_at: int = 0,
    record_every: int = 0,
) -> EpisodeTrace:
    """One episode of ``genome`` step by step, optionally perturbing all plastic weights before step ``perturb_at``.

    The env reset and the initial weights depend only on ``seed`` -- episode 0 of ``experiment.replay(genome, n,
    seed)`` -- so variants of one seed differ only by the perturbation. ``record_every`` > 0 keeps a copy of the
    weights every that many steps (and at step 0).
    """
    settings = replay_env_settings(experiment.config.env, env_id)  # checks env_id
    env = make_env(settings.id, max_episode_steps=settings.max_episode_steps, **settings.kwargs)
    net, action_map = build_network(env, experiment.config.network)
    episode_seed = episode_seeds(seed, 1)[0]
    state = net.start(genome.reshape(1, -1).numpy(), [[derive_seed(episode_seed, EpisodeStream.WEIGHTS)]])
    observation, _ = env.reset(seed=episode_seed)
    trace = EpisodeTrace()
    t, done = 0, False
    while not done:
        if perturbation != "none" and t == perturb_at:
            rng = np.random.default_rng(derive_seed(episode_seed, EpisodeStream.PERTURBATION))
            for weights, (n_in, n_out) in zip(state.weights, net.layer_shapes):
                if perturbation == "zero":
                    weights[...] = 0.0
                else:
                    init = "uniform" if net.init == "coevolve" else net.init
                    weights[0, 0] = draw_initial_weights(init, n_in, n_out, rng)
        if record_every and t % record_every == 0:
            trace.snapshots.append([w[0, 0].copy() for w in state.weights])
            trace.snapshot_steps.append(t)
        # float32 observations and outputs, as in the batched rollout, so that both play the same episode
        outputs = net.step(state, np.asarray(observation, dtype=np.float32).astype(net.dtype)[None, None])
        action = action_map(outputs.reshape(1, -1).astype(np.float32))[0]
        observation, reward, terminated, truncated, _ = env.step(action)
        trace.rewards.append(float(reward))
        done = terminated or truncated
        t += 1
    env.close()
    return trace


def plot_weights(trace: EpisodeTrace, path: Path, title: str = "") -> Path:
    """Plot the weights of one episode into ``path``: the output layer at a few moments, 25 synapses per layer over
    time, and the weight vector's first two principal components coloured by time.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.array(trace.snapshot_steps)
    layers = len(trace.snapshots[0])
    moments = sorted({0, min(len(steps) - 1, 1), len(steps) // 4, len(steps) - 1})
    fig = plt.figure(figsize=(13, 7), dpi=110)
    grid = fig.add_gridspec(2, max(len(moments), layers + 1))
    last = [snap[-1] for snap in trace.snapshots]
    for k, index in enumerate(moments):
        ax = fig.add_subplot(grid[0, k])
        bound = float(np.abs(last[index]).max()) or 1.0  # own scale: weights may grow by orders of magnitude
        ax.imshow(last[index].T, cmap="coolwarm", vmin=-bound, vmax=bound, aspect="auto", interpolation="nearest")
        ax.set_title(f"output layer, step {steps[index]} (|w| <= {bound:.3g})", fontsize=9)
        if last[index].shape[1] <= 16:
            ax.set_yticks(range(last[index].shape[1]))
        ax.set_xlabel("pre (hidden)", fontsize=8)
        ax.set_ylabel("post (action)", fontsize=8)
    rng = np.random.default_rng(0)
    for layer in range(layers):
        ax = fig.add_subplot(grid[1, layer])
        flat = np.stack([snap[layer].ravel() for snap in trace.snapshots])
        picked = rng.choice(flat.shape[1], size=min(25, flat.shape[1]), replace=False)
        ax.plot(steps, flat[:, picked], lw=0.7)
        ax.set_title(f"layer {layer + 1}: 25 synapses", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
    ax = fig.add_subplot(grid[1, layers])
    everything = np.concatenate([np.stack([s.ravel() for s in snap_layer]) for snap_layer in zip(*trace.snapshots)],
                                axis=1)
    centred = everything - everything.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    projected = u[:, :2] * s[:2]
    ax.plot(projected[:, 0], projected[:, 1], lw=0.4, color="grey")
    points = ax.scatter(projected[:, 0], projected[:, 1], c=steps, s=6, cmap="viridis")
    fig.colorbar(points, ax=ax, label="step")
    ax.set_title("all weights, first 2 principal components", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_perturbations(traces: dict[str, EpisodeTrace], perturb_at: int, path: Path, title: str = "") -> Path:
    """Plot the cumulative reward of each trace (unperturbed, zeroed, re-randomised at ``perturb_at``) into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for label, trace in traces.items():
        ax.plot(np.cumsum(trace.rewards), lw=1.3, label=f"{label} (return {trace.total:.1f})")
    ax.axvline(perturb_at, color="k", ls="--", lw=1, label=f"perturbation at step {perturb_at}")
    return _save_line_plot(fig, ax, path, "step", "cumulative reward", title)


def inspect_hebbian(
    experiment, genome: torch.Tensor, out_dir: Path, seed: int, env_id: str | None = None, perturb_at: int | None = None
) -> dict[str, float]:
    """Writes ``weights.png`` and ``perturbation.png`` into ``out_dir``; returns each variant's episode return.

    Raises ValueError for an unknown ``env_id``."""
    env_name = env_id or experiment.config.env.id
    # About 300 weight snapshots per episode: enough for the picture, small for CarRacing's 91k weights.
    stride = max(1, (experiment.config.env.max_episode_steps or 1000) // 300)
    plain = run_episode(experiment, genome, seed, env_id, record_every=stride)
    length = len(plain.rewards)
    plot_weights(plain, Path(out_dir) / WEIGHTS_PLOT, f"{env_name}: Hebbian weights during one episode "
                 f"(random initial weights, return {plain.total:.1f})")
    at = perturb_at if perturb_at is not None else max(1, length // 2)
    traces = {"unperturbed": plain}
    for perturbation in ("zero", "rerandomise"):
        traces[f"weights {'zeroed' if perturbation == 'zero' else 're-randomised'}"] = run_episode(
            experiment, genome, seed, env_id, perturbation, at
        )
    plot_perturbations(traces, at, Path(out_dir) / PERTURBATION_PLOT,
                       f"{env_name}: all plastic weights perturbed at step {at}, same episode otherwise")
    return {label: trace.total for label, trace in traces.items()}


# Tasks whose change-mid-episode counterpart the report plays: the map switch of remapped navigation, a leg
# failing on the quadruped (evoforge.envs.adaptation).
CHANGED_ENVS = {"evoforge/RemappedNavigation-v0": "evoforge/RemappedNavigationSwitch-v0",
                "evoforge/Quadruped-v0": "evoforge/QuadrupedLegFailure-v0"}
RECOVERY_PLOT = "recovery.png"


def change_step(env_id: str, kwargs: dict, episode_seed: int) -> int:
    """The step at which ``env_id`` (a switching or failing env) changes in the episode of ``episode_seed``."""
    env = make_env(env_id, **kwargs)
    env.reset(seed=episode_seed)
    attribute = "switch_step" if "Navigation" in env_id else "damage_step"
    step = int(env.get_wrapper_attr(attribute))
    env.close()
    return step


def recovery_episodes(experiment, genome: torch.Tensor, seed: int, episodes: int = 5, fraction: float = 0.8,
                      window: int = 20) -> list[dict]:
    """``episodes`` episodes of ``genome`` on the config env's changing counterpart (:data:`CHANGED_ENVS`) and the
    same episodes unchanged: per episode the change step, the recovery time (steps until the ``window``-step
    reward rate is back to ``fraction`` of the unchanged episode's; :func:`evoforge.envs.adaptation.recovery_time`),
    the reward-rate curve from 40 steps before the change, and both returns. Episode k has seed
    ``seed + k`` in the sense of ``evoforge inspect --seed``."""
    from evoforge.envs.adaptation import recovery_curve, recovery_time

    changed = CHANGED_ENVS[experiment.config.env.id]
    kwargs = dict(experiment.config.env.kwargs)
    found = []
    for k in range(episodes):
        episode_seed = episode_seeds(seed + k, 1)[0]
        at = change_step(changed, kwargs, episode_seed)
        plain = run_episode(experiment, genome, seed + k)
        hit = run_episode(experiment, genome, seed + k, env_id=changed)
        before = max(0, at - 40)
        ended_first = at >= len(hit.rewards)  # the episode ended before the change: nothing to recover from
        found.append({"at": at,
                      "recovery": math.nan if ended_first else recovery_time(hit.rewards, plain.rewards, at,
                                                                             fraction, window),
                      "curve": recovery_curve(hit.rewards[before:], 0, window).tolist(), "offset": at - before,
                      "reference_rate": float(np.mean(plain.rewards[at:])) if len(plain.rewards) > at else 0.0,
                      "changed_return": hit.total, "plain_return": plain.total})
    return found


def plot_recovery(episodes: list[dict], path: Path, title: str = "", window: int = 20) -> Path:
    """Reward rate around the change, one line per episode, with the unchanged episodes' mean rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for e in episodes:
        steps = np.arange(len(e["curve"])) - e["offset"] + window - 1  # each point: the window ending there
        if math.isnan(e["recovery"]):
            label = f"change at {e['at']}: the episode ended before it"
        else:
            label = f"change at {e['at']}: " + ("never recovered" if math.isinf(e["recovery"])
                                                else f"recovered after {e['recovery']:.0f} steps")
        ax.plot(steps, e["curve"], lw=1.0, label=label)
    ax.axhline(float(np.mean([e["reference_rate"] for e in episodes])), color="grey", ls=":",
               label="unchanged episodes' reward rate after that step")
    ax.axvline(0, color="k", ls="--", lw=1)
    return _save_line_plot(fig, ax, path, "steps from the change", f"reward per step (the {window} steps up to here)",
                           title, legend_size=7)


def _save_line_plot(fig, ax, path: Path, xlabel: str, ylabel: str, title: str, legend_size: int = 8) -> Path:
    """Labels, legend and grid of the inspect line plots, then the PNG at ``path``."""
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=legend_size)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
