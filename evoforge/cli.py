"""The ``evoforge`` command: run | resume | inspect | replay | report | ablate.

Exit codes: 0 done, 1 the search failed (too many failed evaluations, workers keep dying), 2 bad input
(config, checkpoint, arguments), 128 + signal number when interrupted (after checkpointing).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class UserError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


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

    replay = sub.add_parser("replay", help="run a run's best genome and optionally record a video")
    replay.add_argument("run_dir", type=Path)
    replay.add_argument("--episodes", type=int, default=3)
    replay.add_argument("--seed", type=int, default=12345, help="replay seed (episodes get seeds derived from it)")
    replay.add_argument("--genome", choices=["center", "sample"], default="center",
                        help="the best-scoring search centre (default, when the run has one) or the best sample")
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
    from evoforge.search.pool import PoolError
    from evoforge.search.run import RunInterrupted, TooManyFailures

    try:
        summary = run.execute()
    except KeyboardInterrupt:
        print("evoforge: interrupted while starting the workers", file=sys.stderr)
        return 130
    except RunInterrupted as exc:
        from evoforge.search.checkpoint import list_checkpoints

        if list_checkpoints(run.checkpoint_dir):
            print(f"evoforge: {exc}; checkpoint written, continue with: evoforge resume {run.run_dir}", file=sys.stderr)
        else:
            print(f"evoforge: {exc} before the first generation ended; nothing to resume", file=sys.stderr)
        return 128 + exc.signum
    except (TooManyFailures, PoolError) as exc:
        print(f"evoforge: run failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    best = summary["best_center_eval"] if summary["best_center_eval"] is not None else summary["best_fitness"]
    print(
        f"{summary['status']}: {summary['generations_completed']} generations, best {best:.2f}"
        + (f", solved at generation {summary['solved_generation']}" if summary["solved"] else "")
        + f", {summary['wall_time_s']:.0f} s -> {run.run_dir}"
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """``evoforge run CONFIG``: validate the config, make the run directory, run the search."""
    from evoforge.experiments.config import dump_yaml
    from evoforge.search.run import Run

    experiment = _load_experiment(args.config, args.overrides + _cluster_overrides(args))
    run_dir = args.out or Path("runs") / f"{experiment.config.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if (run_dir / "config.yaml").exists():
        raise UserError(f"{run_dir} already holds a run; continue it with: evoforge resume {run_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(dump_yaml(experiment.config))
    if hasattr(experiment, "run"):  # experiments with their own outer loop (POET)
        return _execute_own_loop(experiment, run_dir, args)
    return _execute(Run(experiment, run_dir, address=args.address, progress=not args.quiet))


def _execute_own_loop(experiment: Any, run_dir: Path, args: argparse.Namespace) -> int:
    try:
        summary = experiment.run(run_dir, address=args.address, progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"evoforge: interrupted; continue with: evoforge resume {run_dir}", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"evoforge: run failed: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{summary['status']}: {experiment.describe(summary)}, {summary['wall_time_s']:.0f} s -> {run_dir}")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    """``evoforge resume RUN_DIR``: continue from the newest valid checkpoint (or ``--checkpoint``), optionally
    extended to ``--generations N``; own-loop experiments (POET, the NAS benchmark) resume from their state."""
    from evoforge.search import checkpoint as ckpt
    from evoforge.search.run import Run

    config_path = args.run_dir / "config.yaml"
    if not config_path.is_file():
        raise UserError(f"{args.run_dir} is not a run directory (no config.yaml)")
    extend = [] if args.generations is None else [f"search.generations={args.generations}"]
    own_loop = _load_experiment(config_path, [])
    if hasattr(own_loop, "run"):  # own outer loop: it resumes from its state file
        extend = [] if args.generations is None else [f"{own_loop.budget_key}={args.generations}"]
        experiment = _load_experiment(config_path, _cluster_overrides(args) + extend)
        if extend:
            from evoforge.experiments.config import dump_yaml

            config_path.write_text(dump_yaml(experiment.config))
        return _execute_own_loop(experiment, args.run_dir, args)
    experiment = _load_experiment(config_path, _cluster_overrides(args) + extend)
    run = Run(experiment, args.run_dir, address=args.address, progress=not args.quiet)
    if args.checkpoint is not None:
        path, payload = args.checkpoint, ckpt.load_checkpoint(args.checkpoint)
    else:
        path, payload, skipped = ckpt.load_latest_valid(run.checkpoint_dir)
        for bad, reason in skipped:
            print(f"evoforge: warning: skipping {bad.name}: {reason}", file=sys.stderr)
    run.restore(payload)
    if extend:
        if args.generations <= run.state.generation:
            raise UserError(f"--generations {args.generations}: the run already has {run.state.generation}")
        from evoforge.experiments.config import dump_yaml

        # Later resumes and replays read the extended budget from the run's own config.
        config_path.write_text(dump_yaml(_load_experiment(config_path, extend).config))
    print(f"resuming {args.run_dir} from {path.name} (generation {run.state.generation})", file=sys.stderr)
    return _execute(run)


def cmd_inspect(args: argparse.Namespace) -> int:
    """``evoforge inspect RUN_DIR``: print the summary and write the run kind's plots next to it."""
    from evoforge.media import plot_fitness
    from evoforge.search.metrics import read_metrics

    if (args.run_dir / "poet_state.ckpt").is_file():
        return _inspect_poet(args)
    if (args.run_dir / "benchmark.jsonl").is_file():
        return _inspect_nas_benchmark(args)

    summary_path = args.run_dir / "summary.json"
    if not summary_path.is_file():
        raise UserError(f"{args.run_dir} has no summary.json (not a run directory, or the run never started)")
    summary = json.loads(summary_path.read_text())
    width = max(len(key) for key in summary)
    for key, value in summary.items():
        print(f"{key:<{width}}  {value}")
    records = read_metrics(args.run_dir)
    if records:
        out = plot_fitness(records, args.plot or args.run_dir / "fitness.png", title=summary.get("name", ""),
                           threshold=summary.get("stop_fitness"))
        print(f"fitness curve -> {out}")
    if (args.run_dir / "best.pt").is_file() and (args.run_dir / "config.yaml").is_file():
        experiment = _load_experiment(args.run_dir / "config.yaml", [])
        if experiment.config.experiment == "hebbian":
            from evoforge.experiments.gym_control import load_genome
            from evoforge.experiments.hebbian_inspect import inspect_hebbian

            try:
                returns = inspect_hebbian(experiment, load_genome(args.run_dir / "best.pt"), args.run_dir,
                                          args.seed, args.env, args.perturb_at)
            except ValueError as exc:
                raise UserError(str(exc)) from None
            for label, value in returns.items():
                print(f"episode return, {label}: {value:.2f}")
            print(f"weights during the episode -> {args.run_dir / 'weights.png'}")
            print(f"perturbation replay -> {args.run_dir / 'perturbation.png'}")
        if experiment.config.experiment == "evonorm":
            from evoforge.experiments.evonorm import best_layers

            for rank, (graph, accuracy) in enumerate(best_layers(args.run_dir, top=5), start=1):
                print(f"layer {rank}: {graph}   (mean accuracy {accuracy:.2f} %)")
        if experiment.config.experiment == "nas":
            import torch

            best = torch.load(args.run_dir / "best.pt", weights_only=False)["sample"]
            print(f"best cell: {best['genome']}  ({experiment.config.search.fitness_name} {best['fitness']:.3f}, "
                  f"generation {best['generation']})")
    return 0


def _inspect_nas_benchmark(args: argparse.Namespace) -> int:
    from evoforge.experiments.nas import write_report

    experiment = _load_experiment(args.run_dir / "config.yaml", [])
    try:
        write_report(experiment.config, args.run_dir)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print((args.run_dir / "report.md").read_text(), end="")
    print(f"proxies against accuracy -> {args.run_dir / 'proxies.png'}")
    return 0


def _load_poet(run_dir: Path) -> tuple[Any, Any]:
    experiment = _load_experiment(run_dir / "config.yaml", [])
    poet = experiment.load_poet(run_dir)
    if poet is None:
        raise UserError(f"{run_dir} has no POET state to read")
    return experiment, poet


def _inspect_poet(args: argparse.Namespace) -> int:
    from evoforge.experiments.poet import plot_environment_tree, plot_progress

    experiment, poet = _load_poet(args.run_dir)
    last = poet.history[-1] if poet.history else poet.metrics()
    for key in ("iteration", "active", "archived", "environments", "solved", "annecs", "transfers_attempted",
                "transfers_accepted"):
        print(f"{key:<20}  {last[key]}")
    if poet.history:
        print(f"progress -> {plot_progress(poet.history, args.run_dir / 'poet.png')}")
    print(f"environment tree -> {plot_environment_tree(poet, args.run_dir / 'environments.png')}")
    return 0


def _replay_poet(args: argparse.Namespace) -> int:
    from evoforge.media import write_video
    from evoforge.experiments.poet import replay_agent

    experiment, poet = _load_poet(args.run_dir)
    agent = args.agent if args.agent is not None else max(poet.pairs, key=lambda p: p.score).id
    env_id = args.on if args.on is not None else agent
    try:
        total, frames = replay_agent(experiment, poet, agent, env_id, record=args.video is not None)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(f"agent #{agent} on environment #{env_id}: return {total:.2f}")
    if args.video is not None:
        print(f"video -> {write_video(frames, args.video)}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """``evoforge replay RUN_DIR``: run the best genome again (optionally recording a video); PCGRL runs also
    write a level grid, POET runs replay any agent on any environment."""
    import torch

    if (args.run_dir / "poet_state.ckpt").is_file():
        return _replay_poet(args)

    from evoforge.media import write_video

    config_path = args.run_dir / "config.yaml"
    best_path = args.run_dir / "best.pt"
    if not config_path.is_file() or not best_path.is_file():
        raise UserError(f"{args.run_dir} has no config.yaml and best.pt to replay")
    experiment = _load_experiment(config_path, [])
    best = torch.load(best_path, map_location="cpu", weights_only=False)
    chosen = args.genome if best[args.genome]["genome"] is not None else "sample"
    genome = best[chosen]["genome"]
    if not hasattr(experiment, "replay"):
        raise UserError(f"experiment {experiment.config.experiment!r} has no replay (its class defines none)")
    try:
        returns, frames = experiment.replay(genome, args.episodes, args.seed, record=args.video is not None,
                                            env_id=args.env)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    for episode, value in enumerate(returns):
        print(f"episode {episode}: return {value:.2f}")
    print(f"{chosen} genome: mean return {sum(returns) / len(returns):.2f} over {len(returns)} episodes")
    if args.video is not None:
        print(f"video -> {write_video(frames, args.video, fps=getattr(experiment, 'video_fps', 30))}")
    if hasattr(experiment, "level_report"):  # level generators: a grid of generated levels and their statistics
        if args.levels < 1:
            raise UserError(f"--levels must be >= 1, got {args.levels}")
        grid = args.grid or args.run_dir / "levels.png"
        report = experiment.level_report(genome, args.levels, args.seed, grid)
        print(f"{report['levels']} levels: {report['valid']:.0%} valid, mean path {report['path']:.1f}, "
              f"diversity {report['diversity']:.3f}")
        print(f"level grid -> {grid}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``evoforge report RUN_DIR``: one self-contained HTML page of a run or an ablation (docs/reports.md)."""
    from evoforge.report import build_report, save_report

    from rich.console import Console

    if not (args.run_dir / "config.yaml").is_file() and not (args.run_dir / "plan.json").is_file():
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


COMMANDS = {"run": cmd_run, "resume": cmd_resume, "inspect": cmd_inspect, "replay": cmd_replay,
            "report": cmd_report, "ablate": cmd_ablate}


def main(argv: list[str] | None = None) -> int:
    """The ``evoforge`` console script; returns the exit code (see the module docstring)."""
    from evoforge.experiments.config import ConfigError
    from evoforge.search.checkpoint import CheckpointError

    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"evoforge: config error: {exc}", file=sys.stderr)
    except (CheckpointError, UserError) as exc:
        print(f"evoforge: {exc}", file=sys.stderr)
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
