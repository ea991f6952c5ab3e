"""Adaptation within an episode: evolved Hebbian rules vs static networks vs GRUs, on remapped navigation and
on the quadruped whose leg fails mid-episode.

Reads finished runs (any directory holding them, e.g. an ablation directory) and plays every run's best centre
on the same episodes (seeds ``episode_seeds(--seed, --episodes)``). Runs of
configs/{hebbian,static,gru}_navigation.yaml (ablations/navigation_adaptation.yaml):

* on each training map of its env (I and -I for ``variants: flip``), forced, and on each held-out map (the two
  90-degree rotations); the mean over the training maps and the *worst* training map say whether an agent
  serves every map (a memoryless agent cannot: it sees the same observations under M and -M);
* with the map switched to another training map at a random step in [60, 140) (as
  ``evoforge/RemappedNavigationSwitch-v0``), and the recovery time: steps after the switch until the 20-step
  reward rate is back to 80 % of the same episode's rate without the switch
  (:func:`evoforge.envs.adaptation.recovery_time`; inf when it never is);
* an oracle that knows the map, ``a = clip(3 M^T (g - p))``, on the same episodes: what knowing the map is worth;
* for Hebbian runs, the plasticity attribution controls (:mod:`evoforge.experiments.hebbian_attribution`) on
  the run's own env.

Runs on evoforge/Quadruped-v0 (configs/{hebbian,static,gru}_quadruped_quick.yaml): the return on the standard
ant, on the held-out front-left damage, and on evoforge/QuadrupedLegFailure-v0 (the front-right leg's motors
fail at a random step in [200, 600)) with its recovery time against the same episode without the failure;
Hebbian runs also get their controls. ``--change-at LO HI`` moves the switch / failure window (short test runs).

Prints a markdown table (means over seeds with Student-t 95 % intervals, Welch p against the Hebbian arm), and
writes adaptation.json, adaptation.md and recovery.png (reward rate around the switch) into ``--out`` (default:
the first directory given). Each run's measures are kept in RUN/adaptation_run.json, so running the table again
over a growing ablation plays only the runs finished since (for the same --episodes, --seed and --change-at).

    python scripts/adaptation_table.py runs/ablations/navigation_adaptation
    python scripts/adaptation_table.py runs/navigation --episodes 10
    python scripts/adaptation_table.py runs/ablations/quadruped_adaptation/*/seed-0 --out runs/quadruped-seed0
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import gymnasium
import numpy as np
import torch

from evoforge.ablation.results import is_finished
from evoforge.envs import make_env
from evoforge.envs.adaptation import recovery_curve, recovery_time, signed_permutation, split_variants
from evoforge.envs.rollout import rollout_batch
from evoforge.experiments import load_experiment
from evoforge.experiments.gym_control import flat_genome
from evoforge.search.rundir import RunDir
from evoforge.search.seeds import episode_seeds
from evoforge.stats import summarise, welch_p

SWITCH_AT = (60, 140)  # as evoforge/RemappedNavigationSwitch-v0
DAMAGE_AT = (200, 600)  # as evoforge/QuadrupedLegFailure-v0
WINDOW, FRACTION = 20, 0.8
BEFORE = 40  # steps of the curves before the change
FAILING_QUADRUPED = "evoforge/QuadrupedLegFailure-v0"
RUN_CACHE = "adaptation_run.json"  # one finished run's measures under one protocol


class ForcedMap(gymnasium.Wrapper):
    """Resets the remapped env with one map (and optionally a switch step range) whatever the seed."""

    def __init__(self, env: gymnasium.Env, variant: int) -> None:
        super().__init__(env)
        self.variant = variant

    def reset(self, *, seed=None, options=None):
        return self.env.reset(seed=seed, options={"variant": self.variant})


def play(evaluator, genome: torch.Tensor, envs: list, seeds: list[int]) -> np.ndarray:
    """Per-step rewards (episodes, steps) of ``genome`` on ``envs`` (one episode each, side by side)."""
    policy = evaluator.make_policy(genome.reshape(1, -1), [list(seeds)])
    return rollout_rewards(envs, policy, seeds)


def rollout_rewards(envs: list, policy, seeds: list[int]) -> np.ndarray:
    """(episodes, steps) rewards of one episode per env, zero after an episode ended."""
    return rollout_batch(envs, policy, seeds, keep_step_rewards=True).step_rewards


def oracle_policy(maps: list[np.ndarray]):
    """``a = clip(3 M^T (g - p), -1, 1)`` per row: proportional control that undoes the row's map."""
    def act(observations: np.ndarray, alive: list[int]) -> np.ndarray:
        return np.stack([np.clip(3.0 * maps[i].T @ observations[row, :2], -1, 1) for row, i in enumerate(alive)]
                        ).astype(np.float32)
    return act


def arm_of(config) -> str:
    if config.experiment == "hebbian":
        return "hebbian"
    return "gru" if getattr(config.policy, "kind", "mlp") == "gru" else "static"


def evaluate_run(run: RunDir, episodes: int, seed: int, change_at: tuple[int, int] | None = None) -> dict:
    """Every measure of the module docstring for one run's best centre."""
    from evoforge.experiments.hebbian import AttributionSettings
    from evoforge.experiments.hebbian_attribution import attribute

    experiment = load_experiment(run.config_path, [])
    config = experiment.config
    genome = flat_genome(run.read_best(prefer="center").genome)
    evaluator = experiment.evaluator_factory()()
    evaluator.setup()
    seeds = episode_seeds(seed, episodes)
    result = {"run": str(run.path), "arm": arm_of(config), "seed": config.seed, "params": int(genome.numel())}
    if config.env.id.startswith("evoforge/Quadruped"):
        measures = quadruped_measures(evaluator, genome, config, seeds, change_at or DAMAGE_AT)
        result.update(family="quadruped", **measures)
    else:
        measures = navigation_measures(evaluator, genome, config, seeds, change_at or SWITCH_AT)
        result.update(family="navigation", **measures)
    if result["arm"] == "hebbian":
        attribution = attribute(experiment, genome, seed, AttributionSettings(episodes=max(episodes, 2),
                                                                                freeze_at=[10]))
        result["controls"] = attribution.means()
        result["activity_share"] = float(np.nanmean(attribution.activity_share))
    return result


def recovery_measures(changed: np.ndarray, plain: np.ndarray, steps: list[int]) -> dict:
    """Recovery times, the share recovered, the mean reward-rate curve (from BEFORE steps before the change) and
    the mean return with the change, from per-step rewards with and without the change."""
    times, curves = [], []
    for row, at in enumerate(steps):
        if at + WINDOW > changed.shape[1]:  # every episode ended before the change: nothing to recover from
            times.append(math.nan)
            continue
        times.append(recovery_time(changed[row], plain[row], at, FRACTION, WINDOW))
        curves.append(recovery_curve(changed[row, max(0, at - BEFORE):], 0, WINDOW))
    length = min((len(c) for c in curves), default=0)
    return {"change_return": float(changed.sum(axis=1).mean()), "recovery_steps": [float(t) for t in times],
            "recovered": float(np.mean([math.isfinite(t) for t in times])),
            "curve": np.mean([c[:length] for c in curves], axis=0).tolist() if curves else []}


def navigation_measures(evaluator, genome: torch.Tensor, config, seeds: list[int], switch_at: tuple[int, int]
                        ) -> dict:
    """Remapped navigation: each training and held-out map, the oracle, and a map switch in ``switch_at``."""
    kwargs = dict(config.env.kwargs)
    family = kwargs.pop("variants", "train")
    train = [0, 4] if family == "flip" else split_variants(2)[0]
    held_out = split_variants(2)[1]

    def envs(variant: int, switch: bool = False) -> list:
        made = [make_env(config.env.id, variants=family if switch else "all",
                         switch_at=switch_at if switch else None, **kwargs) for _ in seeds]
        return [ForcedMap(e, variant) for e in made]

    found = {"train": {}, "held_out": {}, "oracle": {}}
    for variant in train + held_out:
        rewards = play(evaluator, genome, envs(variant), seeds)
        found["train" if variant in train else "held_out"][variant] = float(rewards.sum(axis=1).mean())
        oracle = rollout_rewards(envs(variant), oracle_policy([signed_permutation(2, variant)] * len(seeds)), seeds)
        found["oracle"][variant] = float(oracle.sum(axis=1).mean())
    # start on each training map, switch to another at a random step; the reference is the episode without it
    parts = []
    for variant in train:
        switched = envs(variant, switch=True)
        rewards = play(evaluator, genome, switched, seeds)
        steps = [int(env.get_wrapper_attr("switch_step")) for env in switched]
        parts.append(recovery_measures(rewards, play(evaluator, genome, envs(variant), seeds), steps))
    length = min(len(part["curve"]) for part in parts)
    found.update(change_return=float(np.mean([part["change_return"] for part in parts])),
                 recovery_steps=[t for part in parts for t in part["recovery_steps"]],
                 curve=np.mean([part["curve"][:length] for part in parts], axis=0).tolist())
    found["recovered"] = float(np.mean([math.isfinite(t) for t in found["recovery_steps"]]))
    found["train_mean"] = float(np.mean(list(found["train"].values())))
    found["train_worst"] = float(min(found["train"].values()))
    found["held_out_mean"] = float(np.mean(list(found["held_out"].values())))
    return found


def quadruped_measures(evaluator, genome: torch.Tensor, config, seeds: list[int], damage_at: tuple[int, int]
                       ) -> dict:
    """The quadruped: the standard ant, the held-out front-left damage, and a leg failing in ``damage_at``."""
    settings = config.env

    def envs(env_id: str, **extra) -> list:
        return [make_env(env_id, max_episode_steps=settings.max_episode_steps, **settings.kwargs, **extra)
                for _ in seeds]

    plain = play(evaluator, genome, envs("evoforge/Quadruped-v0"), seeds)
    held = play(evaluator, genome, envs("evoforge/QuadrupedDamagedLeftFront-v0"), seeds)
    failing = envs(FAILING_QUADRUPED, damage_at=damage_at)
    changed = play(evaluator, genome, failing, seeds)
    steps = [int(env.get_wrapper_attr("damage_step")) for env in failing]
    return {"standard": float(plain.sum(axis=1).mean()), "held_out_mean": float(held.sum(axis=1).mean()),
            **recovery_measures(changed, plain, steps)}


def cell(values: list[float], digits: int = 1) -> str:
    s = summarise(values)
    if s.n < 2:
        return f"{s.mean:.{digits}f}"
    return f"{s.mean:.{digits}f} [{s.ci_low:.{digits}f}, {s.ci_high:.{digits}f}]"


def p_value(a: list[float], b: list[float]) -> str:
    p = welch_p(a, b)
    return "" if math.isnan(p) else (f"{p:.2g}" if p >= 1e-3 else "<0.001")


MEASURES = {
    "navigation": [("train_mean", "mean over training maps"), ("train_worst", "worst training map"),
                   ("held_out_mean", "held-out maps"), ("change_return", "map switched mid-episode"),
                   ("recovered", "share of switches recovered")],
    "quadruped": [("standard", "standard ant"), ("held_out_mean", "front-left damage (held out)"),
                  ("change_return", "front-right leg failing mid-episode"), ("recovered", "share recovered")],
}


def tables(results: list[dict]) -> list[str]:
    """Per task family: the arms' measures (means over seeds, Welch p against the Hebbian arm), then the
    Hebbian arm's controls."""
    lines: list[str] = []
    for family, measures in MEASURES.items():
        found = [r for r in results if r["family"] == family]
        if found:
            lines += [f"### {family}", "", *family_table(found, measures), ""]
    return lines[:-1]


def family_table(results: list[dict], measures: list[tuple[str, str]]) -> list[str]:
    arms = [a for a in ("hebbian", "static", "gru") if any(r["arm"] == a for r in results)]
    by_arm = {a: [r for r in results if r["arm"] == a] for a in arms}
    header = " | ".join(label for _, label in measures)
    lines = [f"| arm | parameters | seeds | {header} | median recovery (steps) |", "|---" * (len(measures) + 4) + "|"]
    for arm in arms:
        rows = by_arm[arm]
        cells = []
        for key, _ in measures:
            values = [r[key] for r in rows]
            reference = [r[key] for r in by_arm.get("hebbian", [])]
            p = "" if arm == "hebbian" or not reference else p_value(values, reference)
            cells.append(cell(values, 2 if key == "recovered" else 1) + (f" (p {p})" if p else ""))
        finite = [x for r in rows for x in r["recovery_steps"] if math.isfinite(x)]
        median = f"{np.median(finite):.0f} (n = {len(finite)})" if finite else "never"
        lines.append(f"| {arm} | {rows[0]['params']} | {len(rows)} | " + " | ".join(cells) + f" | {median} |")
    if results[0]["family"] == "navigation":
        oracle_train = [np.mean([r["oracle"][v] for v in r["train"]]) for r in results]
        oracle_held = [np.mean([r["oracle"][v] for v in r["held_out"]]) for r in results]
        lines.append(f"| oracle (knows the map) | 0 | - | {np.mean(oracle_train):.1f} | | {np.mean(oracle_held):.1f} "
                     "| | | |")
    hebbian = by_arm.get("hebbian", [])
    if hebbian:
        names = list(hebbian[0]["controls"])
        lines += ["", "| Hebbian control | mean return over seeds [95 % CI] | Welch p vs evolved |", "|---|---|---|"]
        evolved = [r["controls"]["evolved"] for r in hebbian]
        for name in names:
            values = [r["controls"][name] for r in hebbian]
            lines.append(f"| {name} | {cell(values)} | {'' if name == 'evolved' else p_value(values, evolved)} |")
        share = cell([r["activity_share"] for r in hebbian], 3)
        lines.append(f"| share of sum \\|dw\\| from activity terms | {share} | |")
    return lines


TITLES = {"navigation": "Remapped navigation: reward rate around a mid-episode map switch",
          "quadruped": "Quadruped: reward rate around a mid-episode leg failure"}


def plot(results: list[dict], path: Path) -> None:
    """Reward rate around the change, mean over each arm's seeds (band: min to max), one panel per family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = [f for f in MEASURES if any(r["family"] == f for r in results)]
    fig, axes = plt.subplots(1, len(families), figsize=(7 * len(families), 4), dpi=120, squeeze=False)
    for ax, family in zip(axes[0], families):
        for arm, colour in (("hebbian", "tab:green"), ("static", "tab:blue"), ("gru", "tab:orange")):
            curves = [r["curve"] for r in results if r["arm"] == arm and r["family"] == family and r["curve"]]
            if not curves:
                continue
            length = min(len(c) for c in curves)
            data = np.array([c[:length] for c in curves])
            steps = np.arange(length) - BEFORE + WINDOW - 1  # each point: the window that ends there
            ax.plot(steps, data.mean(axis=0), color=colour, label=f"{arm} ({len(curves)} seeds)")
            ax.fill_between(steps, data.min(axis=0), data.max(axis=0), color=colour, alpha=0.15)
        ax.axvline(0, color="k", ls="--", lw=1, label="the change")
        ax.set_xlabel("steps from the change")
        ax.set_ylabel(f"reward per step (the {WINDOW} steps up to here)")
        ax.set_title(TITLES[family], fontsize=9)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", type=Path, nargs="+", help="run directories, or directories holding finished "
                        "runs at any depth (e.g. an ablation's)")
    parser.add_argument("--out", type=Path, help="where the tables and the plot go (default: the first source)")
    parser.add_argument("--episodes", type=int, default=10, help="episodes per map and measure")
    parser.add_argument("--seed", type=int, default=12345, help="seed of the evaluation episodes")
    parser.add_argument("--change-at", type=int, nargs=2, metavar=("LO", "HI"),
                        help="window of the switch / failure step (default: the registered envs', 60-140 / 200-600)")
    args = parser.parse_args(argv)
    # runs at any depth (an ablation keeps them as VARIANT/seed-N); unfinished ones are left for later
    paths = sorted({p.parent for source in args.sources if source.is_dir() for p in source.rglob(RunDir.CONFIG)})
    runs = [RunDir(p) for p in paths if is_finished(p) and RunDir(p).read_best() is not None]
    if not runs:
        print(f"adaptation_table: no finished runs under {', '.join(map(str, args.sources))}", file=sys.stderr)
        return 2
    out = args.out or args.sources[0]
    out.mkdir(parents=True, exist_ok=True)
    results = []
    change_at = tuple(args.change_at) if args.change_at else None
    protocol = {"episodes": args.episodes, "seed": args.seed, "change_at": list(change_at) if change_at else None}
    for k, run in enumerate(runs, 1):
        # a finished run never changes: its measures are kept in RUN/adaptation_run.json for the same protocol,
        # so a table over a growing ablation only plays the runs that are new
        cached = run.artifact(RUN_CACHE)
        stored = json.loads(cached.read_text()) if cached.is_file() else {}
        if stored.get("protocol") == protocol:
            result = stored["result"]
        else:
            result = evaluate_run(run, args.episodes, args.seed, change_at)
            cached.write_text(json.dumps({"protocol": protocol, "result": result}))
        results.append(result)
        print(f"[{k}/{len(runs)}] {run.path}: held out {result['held_out_mean']:.1f}, with the change "
              f"{result['change_return']:.1f}", file=sys.stderr)
    lines = tables(results)
    print("\n".join(lines))
    (out / "adaptation.json").write_text(json.dumps(results, indent=1))
    (out / "adaptation.md").write_text("\n".join(lines) + "\n")
    plot(results, out / "recovery.png")
    print(f"-> {out / 'adaptation.md'}, adaptation.json, recovery.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
