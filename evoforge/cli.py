"""The ``evoforge`` command: run | resume | inspect | attribute | levels | replay | report | ablate.

Exit codes: 0 done, 1 the search failed (too many failed evaluations, workers keep dying), 2 bad input
(config, checkpoint, arguments), 128 + signal number when interrupted (after checkpointing).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from evoforge.errors import ConfigError, SearchFailed, UserError

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def _add_cluster_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, help="evaluation actors (default: one per CPU of the Ray cluster)")
    parser.add_argument("--address", help="join a Ray cluster: 'auto' or HOST:PORT (default: start a local Ray)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand (``evoforge --help`` prints it)."""
    parser = argparse.ArgumentParser(prog="evoforge", description="Distributed evolutionary and meta-learning search.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start a search from a YAML config")
    run.add_argument("config", type=Path)
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config value, e.g. --set search.popsize=32 (repeatable)")
    run.add_argument("--out", type=Path, help="run directory (default: runs/NAME-TIMESTAMP)")
    run.add_argument("--serial", action="store_true", help="evaluate in this process instead of Ray actors")
    _add_cluster_args(run)

    resume = sub.add_parser("resume", help="continue an interrupted run from its newest usable checkpoint")
    resume.add_argument("run_dir", type=Path)
    resume.add_argument("--checkpoint", type=Path, help="resume from this checkpoint file instead")
    resume.add_argument("--generations", type=int, metavar="N",
                        help="extend the run to N generations in all (also a finished one); saved in its config.yaml")
    _add_cluster_args(resume)

    inspect = sub.add_parser("inspect", help="print a run's summary and plot its fitness curve (Hebbian runs: "
                             "also the weights during an episode and recovery from perturbed weights)")
    inspect.add_argument("run_dir", type=Path)
    inspect.add_argument("--plot", type=Path, help="where to write the PNG (default: RUN_DIR/fitness.png)")
    inspect.add_argument("--env", help="Hebbian runs: episode on another env id, e.g. a held-out morphology")
    inspect.add_argument("--seed", type=int, default=12345, help="Hebbian runs: seed of the inspected episode")
    inspect.add_argument("--perturb-at", type=int, help="Hebbian runs: step of the perturbation (default: mid-episode)")

    attribute = sub.add_parser("attribute", help="play the best genome with parts of it taken away (Hebbian runs: "
                               "does plasticity do the work?) and print the table of controls")
    attribute.add_argument("run_dir", type=Path)
    attribute.add_argument("--episodes", type=int, help="episodes per control (default: the config's, 20)")
    attribute.add_argument("--seed", type=int, default=12345, help="seed of the episodes (as evoforge replay's)")
    attribute.add_argument("--env", help="play on another env id, e.g. a held-out variant")
    attribute.add_argument("--freeze-at", type=int, nargs="+", metavar="T", help="steps of the frozen_at_T controls")

    levels = sub.add_parser("levels", help="judge a PCGRL level generator (a run's, or a stable-baselines3 model) by "
                            "the reference's evaluation protocol: early stop off, change-percentage sweep")
    levels.add_argument("source", type=Path,
                        help="a PCGRL run directory, or a stable-baselines3 model .zip (with --env)")
    levels.add_argument("--env", help="the PCGRL env id a stable-baselines3 model was trained on")
    levels.add_argument("--algorithm", default="ppo", help="the model's stable-baselines3 algorithm (ppo, a2c, dqn)")
    levels.add_argument("--seeds", type=int, default=5, help="protocol seeds, each its own starting maps")
    levels.add_argument("--maps", type=int, default=50, help="starting maps per seed")
    levels.add_argument("--change", type=float, nargs="+", metavar="P",
                        help="change percentages (default 0.0 0.1 ... 1.0; the NCA has none)")
    levels.add_argument("--start", choices=["reference", "problem"], default="reference",
                        help="starting-map densities: the reference's (binary p(empty) ~ U[0, 1)) or the problem's")
    levels.add_argument("--genome", choices=["center", "sample"], default="center")
    levels.add_argument("--max-iterations", type=int, metavar="N",
                        help="cap on steps per episode (default: the reference's max_changes x W x H)")
    levels.add_argument("--out", type=Path, help="the JSON table (default RUN/level_protocol.json); plot beside")
    levels.add_argument("--deterministic", action="store_true",
                        help="stable-baselines3 models: argmax actions (default: sampled, as the reference's "
                        "inference)")
    levels.add_argument("--quiet", action="store_true", help="no progress bar")

    replay = sub.add_parser("replay", help="run a run's best genome and optionally record a video")
    replay.add_argument("run_dir", type=Path)
    replay.add_argument("--episodes", type=int, default=3)
    replay.add_argument("--seed", type=int, default=12345, help="replay seed (episodes get seeds derived from it)")
    replay.add_argument("--genome", choices=["center", "sample"], default="center",
                        help="the best-scoring search center (default, when the run has one) or the best sample")
    replay.add_argument("--video", type=Path, help="write the episodes as .mp4 or .gif")
    replay.add_argument("--env", help="replay on another env id, e.g. a held-out morphology")
    replay.add_argument("--levels", type=int, default=32,
                        help="PCGRL runs: levels to generate for the image grid and its statistics")
    replay.add_argument("--grid", type=Path, help="PCGRL runs: where to write the level grid (default RUN/levels.png)")
    replay.add_argument("--agent", type=int, help="POET runs: the agent (pair id; default the best active one)")
    replay.add_argument("--on", type=int, help="POET runs: the environment id to run it on (default its own)")

    report = sub.add_parser("report", help="write a self-contained HTML report of a run or an ablation "
                            "(open it in any browser)")
    report.add_argument("run_dir", type=Path)
    report.add_argument("--out", type=Path, help="where to write it (default: RUN_DIR/report.html)")
    report.add_argument("--no-media", action="store_true",
                        help="skip what needs new rollouts (agent videos, weight trajectories, generated levels)")

    ablate = sub.add_parser("ablate", help="run every variant x seed of an ablation spec, then tabulate and plot")
    ablate.add_argument("spec", type=Path)
    ablate.add_argument("--out", type=Path, help="ablation directory (default: runs/ablations/NAME); "
                        "running again on it resumes where it stopped")
    ablate.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value in every variant, e.g. --set search.generations=2 (repeatable)")
    ablate.add_argument("--max-concurrent", type=int, metavar="N",
                        help="runs at once (default: as many as the Ray cluster's CPUs allow)")
    ablate.add_argument("--address", help="join a Ray cluster: 'auto' or HOST:PORT (default: start a local Ray)")
    ablate.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _load_experiment(source: Path, overrides: list[str]) -> Any:
    from evoforge.experiments import load_experiment

    return load_experiment(source, overrides)


def _cluster_overrides(args: argparse.Namespace) -> list[str]:
    overrides = []
    if args.workers is not None:
        overrides.append(f"pool.workers={args.workers}")
    if getattr(args, "serial", False):
        overrides.append("pool.backend=serial")
    return overrides


def _execute(run: Any) -> int:
    from evoforge.search.run import RunInterrupted

    try:
        summary = run.execute()
    except KeyboardInterrupt:
        print("evoforge: interrupted while starting the workers", file=sys.stderr)
        return 130
    except RunInterrupted as exc:
        if run.files.checkpoints():
            print(f"evoforge: {exc}; checkpoint written, continue with: evoforge resume {run.run_dir}", file=sys.stderr)
        else:
            print(f"evoforge: {exc} before the first generation ended; nothing to resume", file=sys.stderr)
        return 128 + exc.signum
    except SearchFailed as exc:
        from evoforge.search.pool import ClusterLost

        reason = str(exc).splitlines()[0]
        if isinstance(exc, ClusterLost) and run.files.checkpoints():
            again = f"evoforge resume {run.run_dir}" + (f" --address {run.address}" if run.address else "")
            reason += (f"; generation {run.state.generation} is checkpointed, continue once the cluster is back "
                       f"with: {again}")
        print(f"evoforge: run failed: {reason}", file=sys.stderr)
        if isinstance(exc, ClusterLost):  # the run's files are written; Ray's exit handler would wait for the head
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_FAILED)
        return EXIT_FAILED
    best = summary["best_center_eval"] if summary["best_center_eval"] is not None else summary["best_fitness"]
    print(
        f"{summary['status']}: {summary['generations_completed']} generations"
        + ("" if best is None else f", best {best:.2f}")
        + (f", solved at generation {summary['solved_generation']}" if summary["solved"] else "")
        + f", {summary['wall_time_s']:.0f} s -> {run.run_dir}"
    )
    if summary.get("headline"):
        print(summary["headline"])
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """``evoforge run CONFIG``: validate the config, make the run directory, run the search."""
    from evoforge.experiments.config import dump_yaml
    from evoforge.search.run import Run
    from evoforge.search.rundir import RunDir

    experiment = _load_experiment(args.config, args.overrides + _cluster_overrides(args))
    run_dir = RunDir(args.out or Path("runs") / f"{experiment.config.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    if run_dir.is_run():
        raise UserError(f"{run_dir} already holds a run; continue it with: evoforge resume {run_dir}")
    run_dir.write_config(dump_yaml(experiment.config))
    return _execute(Run(experiment, run_dir.path, address=args.address, progress=not args.quiet))


def cmd_resume(args: argparse.Namespace) -> int:
    """``evoforge resume RUN_DIR``: continue from the newest valid checkpoint (or ``--checkpoint``), optionally
    extended to ``--generations N`` (the experiment's budget key; saved in the run's config.yaml)."""
    from evoforge.experiments import build_experiment
    from evoforge.experiments.config import apply_overrides, dump_yaml
    from evoforge.search.run import Run
    from evoforge.search.rundir import RunDir

    run_dir = RunDir(args.run_dir).require()
    saved = _load_experiment(run_dir.config_path, [])
    config = saved.config if args.generations is None else saved.with_generations(args.generations)
    experiment = build_experiment(apply_overrides(config.model_dump(mode="json"), _cluster_overrides(args)))
    run = Run(experiment, run_dir.path, address=args.address, progress=not args.quiet)
    path, payload, skipped = run_dir.load_checkpoint(args.checkpoint)
    for bad, reason in skipped:
        print(f"evoforge: warning: skipping {bad.name}: {reason}", file=sys.stderr)
    run.restore(payload)
    if args.generations is not None:
        if experiment.settings.generations <= run.state.generation:
            raise UserError(f"--generations {args.generations}: the run already has {run.state.generation}")
        run_dir.write_config(dump_yaml(config))  # later resumes and replays read the extended budget
    print(f"resuming {run_dir} from {path.name} (generation {run.state.generation})", file=sys.stderr)
    return _execute(run)


def cmd_inspect(args: argparse.Namespace) -> int:
    """``evoforge inspect RUN_DIR``: print the summary, plot the fitness curve, then what the run's kind adds
    (its ``Experiment.inspect``)."""
    from evoforge.experiments import InspectOptions
    from evoforge.media import plot_fitness
    from evoforge.search.rundir import RunDir

    run_dir = RunDir(args.run_dir).require()
    summary = run_dir.read_summary()
    if summary is None:
        raise UserError(f"{run_dir} has no summary.json (the run never started)")
    width = max(len(key) for key in summary)
    for key, value in summary.items():
        print(f"{key:<{width}}  {value}")
    records = [r for r in run_dir.read_metrics() if "fitness_mean" in r]
    if records:
        out = plot_fitness(records, args.plot or run_dir.artifact("fitness.png"), title=summary.get("name", ""),
                           threshold=summary.get("stop_fitness"))
        print(f"fitness curve -> {out}")
    experiment = _load_experiment(run_dir.config_path, [])
    options = InspectOptions(seed=args.seed, env_id=args.env, perturb_at=args.perturb_at, plot=args.plot)
    for line in experiment.inspect(run_dir, options):
        print(line)
    return 0


def cmd_attribute(args: argparse.Namespace) -> int:
    """``evoforge attribute RUN_DIR``: the run's kind's controls (its ``Experiment.attribute``)."""
    from evoforge.experiments import AttributeOptions
    from evoforge.search.rundir import RunDir

    if args.episodes is not None and args.episodes < 2:
        raise UserError(f"--episodes must be at least 2 (for an interval), got {args.episodes}")
    if args.freeze_at is not None and min(args.freeze_at) < 1:
        raise UserError(f"--freeze-at steps must be >= 1, got {args.freeze_at}")
    run_dir = RunDir(args.run_dir).require()
    experiment = _load_experiment(run_dir.config_path, [])
    options = AttributeOptions(episodes=args.episodes, seed=args.seed, env_id=args.env,
                               freeze_at=None if args.freeze_at is None else tuple(args.freeze_at))
    for line in experiment.attribute(run_dir, options):
        print(line)
    return 0


def cmd_levels(args: argparse.Namespace) -> int:
    """``evoforge levels SOURCE``: a level generator through the reference's evaluation protocol (the run's
    kind's ``Experiment.levels``; a stable-baselines3 model goes to the PCGRL module)."""
    from evoforge.experiments import LevelOptions
    from evoforge.search.rundir import RunDir

    if args.max_iterations is not None and args.max_iterations < 1:
        raise UserError(f"--max-iterations must be >= 1, got {args.max_iterations}")
    options = LevelOptions(seeds=args.seeds, maps=args.maps, start=args.start, genome=args.genome,
                           max_iterations=args.max_iterations, out=args.out, quiet=args.quiet,
                           deterministic=args.deterministic,
                           change_percentages=tuple(args.change) if args.change else None)
    if args.source.suffix == ".zip":
        from evoforge.experiments.pcgrl import sb3_level_protocol

        if args.env is None:
            raise UserError("a stable-baselines3 model needs --env, the PCGRL env id it was trained on")
        lines = sb3_level_protocol(args.source, args.env, args.algorithm, options)
    else:
        run_dir = RunDir(args.source).require()
        lines = _load_experiment(run_dir.config_path, []).levels(run_dir, options)
    for line in lines:
        print(line)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """``evoforge replay RUN_DIR``: what the run's kind replays (its ``Experiment.replay_run``): by default the
    best genome for some episodes, optionally as a video."""
    from evoforge.experiments import ReplayOptions
    from evoforge.search.rundir import RunDir

    run_dir = RunDir(args.run_dir).require()
    experiment = _load_experiment(run_dir.config_path, [])
    options = ReplayOptions(episodes=args.episodes, seed=args.seed, genome=args.genome, video=args.video,
                            env_id=args.env, levels=args.levels, grid=args.grid, agent=args.agent, on=args.on)
    for line in experiment.replay_run(run_dir, options):
        print(line)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``evoforge report RUN_DIR``: one self-contained HTML page of a run or an ablation (docs/reports.md)."""
    from rich.console import Console

    from evoforge.report import build_report, save_report
    from evoforge.report.ablation import is_ablation_dir
    from evoforge.search.rundir import RunDir

    if not RunDir(args.run_dir).is_run() and not is_ablation_dir(args.run_dir):
        raise UserError(f"{args.run_dir} is not a run directory (no config.yaml) or an ablation (no plan.json)")

    try:
        with Console(stderr=True).status(f"writing the report of {args.run_dir} (replays the best genome)"
                                         if not args.no_media else f"writing the report of {args.run_dir}"):
            report = build_report(args.run_dir, media=not args.no_media)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    for problem in report.problems:
        print(f"evoforge: warning: {problem}", file=sys.stderr)
    print(f"report -> {save_report(report, args.out or args.run_dir / 'report.html')}")
    return 0


def cmd_ablate(args: argparse.Namespace) -> int:
    """``evoforge ablate SPEC``: every variant x seed of an ablation spec, then statistics (docs/ablations.md)."""
    from evoforge.ablation import run_ablation_command

    return run_ablation_command(args)


COMMANDS = {"run": cmd_run, "resume": cmd_resume, "inspect": cmd_inspect, "attribute": cmd_attribute,
            "levels": cmd_levels, "replay": cmd_replay, "report": cmd_report, "ablate": cmd_ablate}


def main(argv: list[str] | None = None) -> int:
    """The ``evoforge`` console script; returns the exit code (see the module docstring)."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"evoforge: config error: {exc}", file=sys.stderr)
    except UserError as exc:
        print(f"evoforge: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
    except SearchFailed as exc:  # outside a run (e.g. the pool of a comparison)
        print(f"evoforge: failed: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
