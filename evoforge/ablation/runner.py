"""Running an ablation: every planned (variant, seed) run as a Ray task, resumable, with a progress bar.

Each run is an ordinary run directory OUT/VARIANT/seed-N (``evoforge inspect / replay / report / resume`` work
on it). A task takes one CPU and evaluates serially inside it (``pool.backend: serial``), so as many runs go at
once as the Ray cluster has CPUs, or ``--max-concurrent``. On a second invocation a finished run (summary.json
status ``completed`` or ``solved``) is skipped, an interrupted or failed one continues from its newest
checkpoint, one never started starts.

Ctrl-C (or SIGTERM) cancels the running tasks; Ray delivers that to each task as SIGINT, which the run turns
into a checkpoint of its last completed generation (:class:`evoforge.search.run.Run`), and the driver waits for
them before it shuts Ray down. A second Ctrl-C leaves at once: the runs keep their last checkpoint.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import fmean
from typing import Any

import yaml

from evoforge.ablation.results import (
    collect,
    curve_key,
    is_finished,
    markdown,
    plot_curves,
    plot_metrics,
    read_summary,
    write_csv,
)
from evoforge.ablation.spec import PLAN_FILE, AblationSpec, PlannedRun, load_spec, parse_cli_overrides, plan
from evoforge.errors import PoolError, UserError
from evoforge.search.cluster import start_ray
from evoforge.search.progress import progress_bar
from evoforge.search.rundir import RunDir

CANCEL_WAIT_S = 300.0  # how long Ctrl-C waits for the running tasks to checkpoint


def execute_run(run_dir: str) -> dict[str, Any]:
    """Start, resume or finish the run in ``run_dir`` (its config.yaml already written), in this process.

    The body of an ablation's Ray task; returns ``{"status": "finished" | "interrupted" | "failed", ...}``
    (summary.json stays the authority on how the run ended)."""
    import torch

    from evoforge.experiments import load_experiment
    from evoforge.search.run import Run, RunInterrupted
    from evoforge.search.rundir import RunDir

    torch.set_num_threads(1)  # one run per CPU: more intra-op threads would only fight the other runs
    path = Path(run_dir)
    began = time.perf_counter()
    try:
        files = RunDir(path)
        run = Run(load_experiment(files.config_path, []), path, progress=False)
        if files.checkpoints():
            _, payload, _ = files.load_checkpoint()  # raises if none reads cleanly
            run.restore(payload)
        else:
            files.truncate_metrics(0)  # records of an attempt killed before its first checkpoint
        run.execute()
    except (RunInterrupted, KeyboardInterrupt):
        return {"status": "interrupted", "seconds": time.perf_counter() - began}
    except Exception as exc:  # noqa: BLE001 - one run failing must not stop the others
        message = str(exc).splitlines()[0] if str(exc) else ""
        return {"status": "failed", "error": f"{type(exc).__name__}: {message}",
                "seconds": time.perf_counter() - began}
    return {"status": "finished", "seconds": time.perf_counter() - began}


# -- preparing the ablation directory ---------------------------------------------------------------------------
def _normalise(config: dict[str, Any]) -> Any:
    return yaml.safe_load(yaml.safe_dump(config, sort_keys=False))


def first_difference(a: Any, b: Any, prefix: str = "") -> tuple[str, Any, Any] | None:
    """The first dotted key where two configs differ, with both values; None when equal. A key that ``a`` (the
    config a run was made with) lacks is a setting added to evoforge since: the run did what evoforge then did,
    so it is not a difference."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a:
            found = first_difference(a.get(key), b.get(key), f"{prefix}{key}.")
            if found:
                return found
        return None
    return None if a == b else (prefix.rstrip("."), a, b)


def prepare(out: Path, spec_path: Path, spec: AblationSpec, runs: list[PlannedRun], overrides: list[str]) -> None:
    """Check that ``out`` holds nothing this spec would contradict, then write spec.yaml, plan.json and the
    config.yaml of every run not yet there."""
    previous = out / "spec.yaml"
    if previous.is_file():
        try:
            name = (yaml.safe_load(previous.read_text()) or {}).get("name")
        except yaml.YAMLError:
            name = None
        if name != spec.name:
            raise UserError(f"{out} holds the ablation {name!r}, not {spec.name!r}; choose another --out")
    for run in runs:
        files = RunDir(out / run.directory)
        config_path = files.config_path
        if config_path.is_file() and not files.summary_path.is_file():
            config_path.unlink()  # planned but never started: written afresh from this spec below
        if config_path.is_file():
            difference = first_difference(yaml.safe_load(config_path.read_text()), _normalise(run.config))
            if difference:
                key, there, here = difference
                raise UserError(f"{out / run.directory} was run with {key}={there!r}, this spec plans "
                                f"{key}={here!r}; choose another --out (or delete that run to redo it)")
    out.mkdir(parents=True, exist_ok=True)
    previous.write_text(spec_path.read_text())
    (out / PLAN_FILE).write_text(json.dumps(
        {"spec": str(spec_path), "overrides": overrides,
         "runs": [{"variant": r.variant, "seed": r.seed, "run": r.directory} for r in runs]}, indent=1) + "\n")
    for run in runs:
        config_path = RunDir(out / run.directory).config_path
        if not config_path.is_file():
            config_path.parent.mkdir(parents=True, exist_ok=True)
            config_path.write_text(yaml.safe_dump(run.config, sort_keys=False))


# -- running ---------------------------------------------------------------------------------------------------
def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


@contextmanager
def _signals_as_interrupt() -> Iterator[dict[str, int]]:
    """Ctrl-C and SIGTERM (a scheduler stopping the job) both raise KeyboardInterrupt; records which came.

    Installed explicitly, as a run does (:class:`evoforge.search.run.Run`): a process started in the background
    of a non-interactive shell inherits SIGINT ignored, and Python then never installs its own handler."""
    caught = {"signum": signal.SIGINT}

    def handler(signum: int, frame: Any) -> None:
        caught["signum"] = signum
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _run_fields(running: int, failed: int) -> list[tuple[str, str]]:
    return [("running", str(running))] + ([("failed", str(failed))] if failed else [])


def execute_all(out: Path, name: str, runs: list[PlannedRun], address: str | None, max_concurrent: int | None,
                quiet: bool) -> tuple[dict[str, dict[str, Any]], int | None]:
    """Run every unfinished run of ``runs`` as Ray tasks; returns (outcome per run directory, the signal that
    interrupted it or None)."""
    import ray

    todo = [run for run in runs if not is_finished(out / run.directory)]
    outcomes: dict[str, dict[str, Any]] = {}
    if not todo:
        return outcomes, None
    pending = deque(todo)
    inflight: dict[Any, PlannedRun] = {}
    began: dict[str, float] = {}
    durations: list[float] = []
    done = len(runs) - len(todo)
    failed = 0
    limit = max_concurrent or 1
    interrupted: int | None = None

    def finish(ref: Any) -> None:
        nonlocal done, failed
        run = inflight.pop(ref)
        try:
            outcome = ray.get(ref)
        # Not KeyboardInterrupt: a Ctrl-C that lands in this get must reach the loop's handler, not be taken for
        # this run's failure (the ablation would go on).
        except ray.exceptions.RayError as exc:
            outcome = {"status": "failed", "error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
        seconds = time.perf_counter() - began[run.directory]
        status = (read_summary(out / run.directory) or {}).get("status", "not started")
        outcome.update(seconds=seconds, run_status=status)
        outcomes[run.directory] = outcome
        if is_finished(out / run.directory):
            done += 1
            durations.append(seconds)
            display.print(f"{run.directory}: {status} in {seconds:.0f} s")
        elif interrupted is None and outcome["status"] == "failed":
            failed += 1
            display.print(f"{run.directory}: failed: {outcome.get('error', status)}")
        else:
            display.print(f"{run.directory}: {status}")

    def eta() -> str:
        if not durations:
            return "-"
        mean, now = fmean(durations), time.perf_counter()
        work = len(pending) * mean + sum(max(0.0, mean - (now - began[r.directory])) for r in inflight.values())
        return _duration(work / max(1, min(limit, len(pending) + len(inflight))))

    started_ray = False
    try:
        with _signals_as_interrupt() as caught, progress_bar(name, len(runs), done, enabled=not quiet) as display:
            try:
                try:
                    started_ray = start_ray(address, log_to_driver=False)
                except PoolError as exc:
                    raise UserError(str(exc)) from None
                limit = max_concurrent or max(1, int(ray.cluster_resources().get("CPU", 1)))
                # a worker that dies: Ray runs the task again, which resumes the run from its checkpoint
                task = ray.remote(num_cpus=1, max_retries=2)(execute_run)
                while pending or inflight:
                    while pending and len(inflight) < limit:
                        run = pending.popleft()
                        began[run.directory] = time.perf_counter()
                        inflight[task.remote(str((out / run.directory).resolve()))] = run
                    display.update(done, _run_fields(len(inflight), failed), eta())
                    # a short wait: the driver sees Ctrl-C only between waits
                    ready, _ = ray.wait(list(inflight), num_returns=1, timeout=0.25)
                    for ref in ready:
                        finish(ref)
                display.update(done, _run_fields(0, failed), "0:00:00")
            except KeyboardInterrupt:
                interrupted = caught["signum"]
                if inflight:
                    display.print(f"stopping: {len(inflight)} running runs checkpoint their last generation "
                                 "(Ctrl-C again to leave at once)")
                    for ref in inflight:
                        ray.cancel(ref)
                    try:
                        ready, _ = ray.wait(list(inflight), num_returns=len(inflight), timeout=CANCEL_WAIT_S)
                        for ref in ready:
                            finish(ref)
                    except KeyboardInterrupt:
                        pass  # leave at once: every run keeps its newest checkpoint
    finally:
        if started_ray:
            ray.shutdown()
    return outcomes, interrupted


# -- results ---------------------------------------------------------------------------------------------------------
def write_results(out: Path, spec_path: Path, spec: AblationSpec, runs: list[PlannedRun],
                  overrides: list[str]) -> str | None:
    """results.csv, results.md, results.png and curves.png from the finished runs; returns the markdown (None
    when no run has finished)."""
    rows = collect(out, runs, spec.metrics)
    write_csv(rows, out / "results.csv")
    variants = list(dict.fromkeys(run.variant for run in runs))
    finished = sum(is_finished(out / run.directory) for run in runs)
    if not finished:
        return None
    seeds = spec.seed_list
    header = [f"# Ablation: {spec.name}", ""]
    if spec.description:
        header += [spec.description.strip(), ""]
    header += [f"Spec `{spec_path}`, seeds {', '.join(map(str, seeds))}"
               + (f", `--set {' --set '.join(overrides)}`" if overrides else "")
               + f"; {finished} of {len(runs)} runs finished"
               + ("" if finished == len(runs) else " (partial results)") + ".",
               "Mean ± sample standard deviation over seeds; 95% CI of the mean from Student's t with n - 1 "
               "degrees of freedom; p: Welch's two-sided t-test against the first variant; n: runs with a value."]
    text = markdown(rows, variants, spec.metrics, "\n".join(header))
    (out / "results.md").write_text(text)
    plot_metrics(rows, variants, spec.metrics, out / "results.png", spec.name)
    key = curve_key(spec.curve, out, runs)
    if key is not None:
        plot_curves(out, runs, variants, key, out / "curves.png", spec.name)
    return text


def run_ablation_command(args: argparse.Namespace) -> int:
    """``evoforge ablate SPEC``: 0 when every run finished, 1 when some failed, 128 + signal when interrupted
    (everything resumable: run the same command again); bad input raises ConfigError / UserError (exit 2)."""
    spec_path = Path(args.spec)
    if not spec_path.is_file():
        raise UserError(f"ablation spec {spec_path} does not exist")
    spec = load_spec(spec_path)
    runs = plan(spec, spec_path, parse_cli_overrides(args.overrides, spec))
    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise UserError(f"--max-concurrent must be >= 1, got {args.max_concurrent}")
    out = Path(args.out) if args.out is not None else Path("runs") / "ablations" / spec.name
    prepare(out, spec_path, spec, runs, args.overrides)
    variants = len({run.variant for run in runs})
    print(f"{spec.name}: {variants} variants, seeds {', '.join(map(str, spec.seed_list))}: {len(runs)} runs, "
          f"{sum(is_finished(out / r.directory) for r in runs)} already finished -> {out}", file=sys.stderr)
    began = time.perf_counter()
    outcomes, interrupted = execute_all(out, spec.name, runs, args.address, args.max_concurrent, args.quiet)
    text = write_results(out, spec_path, spec, runs, args.overrides)
    finished = sum(is_finished(out / run.directory) for run in runs)
    if text is not None:
        print(text)
        files = [f for f in ("results.csv", "results.md", "results.png", "curves.png") if (out / f).is_file()]
        print(f"{finished} of {len(runs)} runs finished; {', '.join(files)} -> {out}")
    wall = time.perf_counter() - began
    if interrupted is not None:
        again = " ".join(["evoforge ablate", str(spec_path), "--out", str(out),
                          *[f"--set {o}" for o in args.overrides]])
        print(f"evoforge: interrupted by {signal.Signals(interrupted).name} after {wall:.0f} s; {finished} of "
              f"{len(runs)} runs finished, the others keep their checkpoints; continue with: {again}",
              file=sys.stderr)
        return 128 + int(interrupted)
    failures = [directory for directory, outcome in outcomes.items() if outcome["status"] == "failed"
                or not is_finished(out / directory)]
    if failures:
        for directory in failures:
            print(f"evoforge: run {directory} did not finish: {outcomes[directory].get('error', 'see its directory')}",
                  file=sys.stderr)
        return 1
    print(f"done in {wall:.0f} s", file=sys.stderr)
    return 0

