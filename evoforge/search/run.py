"""A Run owns a run directory and drives the loop: propose -> evaluate on the pool -> update -> log + checkpoint.

Run directory layout::

    config.yaml        the validated config, as run
    metrics.jsonl      one record per generation (TensorBoard events in tensorboard/)
    checkpoints/       ckpt-NNNNNN.ckpt, atomic, the newest ``checkpoint.keep`` kept
    best.pt            the best genome sampled so far, and the best-scoring search centre
    summary.json       status and headline numbers (rewritten at every checkpoint and at the end)

A checkpoint holds everything the loop needs to continue: the pickled searcher (distribution, optimiser state,
its torch generator), counters, the best genomes and the global RNG states. Because every evaluation seed is
derived from (run seed, generation, genome index, episode), resuming from a checkpoint reproduces exactly the
generations an uninterrupted run would have computed.

SIGINT / SIGTERM stop the run between or during generations: the state of the last completed generation is
checkpointed, Ray is shut down, and :class:`RunInterrupted` tells the caller which signal arrived.
"""

from __future__ import annotations

import io
import json
import random
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from evoforge.search import checkpoint as ckpt
from evoforge.search import seeds as seeding
from evoforge.search.evaluation import Evaluation
from evoforge.search.genome import GenomeBatch, batch_size
from evoforge.search.metrics import MetricsLog
from evoforge.search.pool import EvaluatorFactory, EvaluatorPool, PoolError
from evoforge.search.settings import RunSettings

CHECKPOINT_FORMAT = 1


class TooManyFailures(RuntimeError):
    """More evaluations of one generation failed than the config allows."""


class RunInterrupted(BaseException):
    """The run was stopped by a signal after checkpointing.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way (an evaluator's
    failure isolation, a library) can swallow it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


class Searcher(Protocol):
    """What the run needs from a search algorithm (see ``evoforge.search.es.ESSearcher``)."""

    def step(self, evaluate: Callable[[GenomeBatch], list[Evaluation]]) -> None:
        """Propose a generation, score it with one call of ``evaluate`` (the pool), and update the search."""

    @property
    def center(self) -> Any:
        """A genome to evaluate as "the" solution on fresh seeds each generation (``center_eval``), or None."""

    def state_bytes(self) -> bytes:
        """The searcher's whole state, its random generators included, for a checkpoint."""

    def load_state_bytes(self, data: bytes) -> None:
        """Restore the state of :meth:`state_bytes`; the search then continues exactly."""

    def metrics(self) -> dict[str, float]:
        """Numbers to log each generation (e.g. sigma)."""


class Experiment(Protocol):
    """What the run needs from an experiment (see ``evoforge.experiments``).

    ``evaluator_factory()`` returns a picklable zero-argument callable, typically
    ``functools.partial(EvaluatorClass, settings...)``.
    """

    settings: RunSettings

    def evaluator_factory(self) -> EvaluatorFactory:
        """A picklable zero-argument callable that builds the evaluator inside each worker."""

    def make_searcher(self) -> Searcher:
        """A fresh searcher for generation 0 (the run restores its state when resuming)."""


@dataclass
class RunProgress:
    """Counters that travel in checkpoints."""

    generation: int = 0  # generations completed
    evaluations: int = 0
    failed_evaluations: int = 0
    env_steps: int = 0
    best_fitness: float = float("-inf")
    best_generation: int = -1
    best_center_eval: float = float("-inf")
    best_center_generation: int = -1
    last_center_eval: float | None = None
    solved_generation: int | None = None
    elapsed_s: float = 0.0  # wall time over all sessions of this run
    extra: dict[str, Any] = field(default_factory=dict)


def _rng_states() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def _set_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])


class Run:
    """Drives one search in ``run_dir``. Use :meth:`start` for a new run, :meth:`resume` to continue one."""

    def __init__(self, experiment: Experiment, run_dir: Path, *, address: str | None = None, progress: bool = True):
        self.experiment = experiment
        self.settings = experiment.settings
        self.run_dir = Path(run_dir)
        self.address = address
        self.show_progress = progress
        self.searcher = experiment.make_searcher()
        self.state = RunProgress()
        self.best_genome: Any = None
        self.best_center: Any = None
        self._payload: dict[str, Any] | None = None  # state of the last completed generation
        self._payload_on_disk = True
        self._generation_batch: tuple[GenomeBatch, list[Evaluation]] | None = None
        self._final: dict[str, Any] = {}  # the experiment's final_summary(), once the search has ended
        self.pool: EvaluatorPool | None = None
        self.metrics = MetricsLog(self.run_dir)

    # -- construction --------------------------------------------------------------------------------------

    @property
    def checkpoint_dir(self) -> Path:
        """``run_dir/checkpoints``."""
        return self.run_dir / "checkpoints"

    def restore(self, payload: dict[str, Any]) -> None:
        """Continue from a checkpoint's payload: the searcher, counters, best genomes and RNG states, with
        metrics.jsonl cut back to the checkpoint's generation.
        """
        if payload.get("format") != CHECKPOINT_FORMAT:
            raise ckpt.CheckpointError(f"checkpoint format {payload.get('format')} is not {CHECKPOINT_FORMAT}")
        self.searcher.load_state_bytes(payload["searcher"])
        self.state = RunProgress(**payload["progress"])
        self.best_genome = payload["best_genome"]
        self.best_center = payload["best_center"]
        _set_rng_states(payload["rng"])
        self._payload = payload
        self.metrics.truncate_after(self.state.generation)

    # -- the loop ------------------------------------------------------------------------------------------

    def execute(self) -> dict[str, Any]:
        """Run until the configured generations are done or the stop fitness is reached; return the summary."""
        settings = self.settings
        began = time.perf_counter()
        elapsed_before = self.state.elapsed_s
        status = "running"
        self.pool = EvaluatorPool(
            self.experiment.evaluator_factory(),
            backend=settings.pool.backend,
            num_workers=settings.pool.workers,
            chunk_size=settings.pool.chunk_size,
            address=self.address,
            max_restarts=settings.pool.max_restarts,
        )
        gate = _SignalGate()
        try:
            # Ray installs its own SIGTERM handler when it starts, so ours go in after the pool is up.
            self.pool.start()
            with gate.installed(), self._progress_bar() as update_progress:
                while self.state.generation < settings.generations and self.state.solved_generation is None:
                    evaluated = self._evaluate_generation()  # interruptible: nothing is committed yet
                    with gate.deferred():  # commit the generation whole, or not at all
                        record = self._commit_generation(*evaluated)
                        self.state.elapsed_s = elapsed_before + time.perf_counter() - began
                        self._payload = self._make_payload()
                        self._payload_on_disk = False
                        done = self.state.generation >= settings.generations or self.state.solved_generation is not None
                        if self.state.generation % settings.checkpoint.every == 0 or done:
                            self._write_checkpoint()
                    update_progress(record)
                self._finish()
            status = "solved" if self.state.solved_generation is not None else "completed"
        except RunInterrupted:
            status = "interrupted"
            raise
        except (TooManyFailures, PoolError):
            status = "failed"
            raise
        finally:
            self._write_checkpoint()  # no-op when the last completed generation is already on disk
            self.pool.shutdown()
            self.metrics.close()
            self.state.elapsed_s = elapsed_before + time.perf_counter() - began
            summary = self.write_summary(status)
        return summary

    def _finish(self) -> None:
        """Numbers an experiment computes once the search has ended (e.g. training the best architecture).

        Optional hook ``experiment.final_summary(best_genome, best_center) -> dict``, merged into summary.json.
        It runs again when a finished run is resumed or extended, so it must depend only on its arguments and
        the config; an interruption during it leaves the run resumable (the last generation is checkpointed).
        """
        hook = getattr(self.experiment, "final_summary", None)
        if hook is not None:
            self._final = dict(hook(self.best_genome, self.best_center))

    def _evaluate_population(self, genomes: GenomeBatch) -> list[Evaluation]:
        assert self.pool is not None
        generation = self.state.generation
        count = batch_size(genomes)
        evaluations = self.pool.evaluate(genomes, seeding.genome_seeds(self.settings.seed, generation, count))
        failed = [e for e in evaluations if e.failed]
        limit = self.settings.pool.max_failure_fraction
        if len(failed) > limit * count:
            raise TooManyFailures(
                f"generation {generation}: {len(failed)} of {count} evaluations failed "
                f"(limit {limit:.0%}); first error: {failed[0].error}"
            )
        self._generation_batch = (genomes, evaluations)
        return evaluations

    def _evaluate_generation(self) -> tuple[GenomeBatch, list[Evaluation], dict[str, Any], tuple | None]:
        """Step the searcher and score its centre; returns what :meth:`_commit_generation` records."""
        generation = self.state.generation
        started = time.perf_counter()
        self.searcher.step(self._evaluate_population)
        assert self._generation_batch is not None and self.pool is not None
        genomes, evaluations = self._generation_batch
        self._generation_batch = None
        timing = {"eval_wall": self.pool.last_stats.wall_s, "nodes": dict(self.pool.last_stats.nodes)}
        center = self._score_center(generation)
        timing["wall"] = time.perf_counter() - started
        return genomes, evaluations, timing, center

    def _commit_generation(
        self, genomes: GenomeBatch, evaluations: list[Evaluation], timing: dict[str, Any], center: tuple | None
    ) -> dict[str, Any]:
        """Fold one evaluated generation into the run's state, metrics and best genomes."""
        generation = self.state.generation
        ok = [(i, e) for i, e in enumerate(evaluations) if not e.failed]
        fitness = np.array([e.fitness for _, e in ok], dtype=np.float64)
        steps = int(sum(e.metrics.get("steps", 0) for e in evaluations))
        best_index, best_eval = max(ok, key=lambda item: item[1].fitness)
        if best_eval.fitness > self.state.best_fitness:
            self.state.best_fitness = float(best_eval.fitness)
            self.state.best_generation = generation
            self.best_genome = _take(genomes, best_index)
        self.state.evaluations += len(evaluations)
        self.state.failed_evaluations += len(evaluations) - len(ok)
        self.state.env_steps += steps

        record: dict[str, Any] = {
            "generation": generation,
            "evaluations": len(evaluations),
            "failed": len(evaluations) - len(ok),
            "fitness_best": float(fitness.max()),
            "fitness_mean": float(fitness.mean()),
            "fitness_std": float(fitness.std()),
            "fitness_min": float(fitness.min()),
            "best_so_far": self.state.best_fitness,
            "env_steps": steps,
        }
        for key in sorted({k for _, e in ok for k in e.metrics} - {"steps"}):
            values = [e.metrics[key] for _, e in ok if key in e.metrics]
            record[f"{key}_mean"] = float(np.mean(values))
        record.update(self.searcher.metrics())

        if center is not None:
            score, genome = center
            record["center_eval"] = score
            self.state.last_center_eval = score
            if score > self.state.best_center_eval:
                self.state.best_center_eval = score
                self.state.best_center_generation = generation
                self.best_center = genome
            stop = self.settings.stop_fitness
            if stop is not None and score >= stop and self.state.solved_generation is None:
                self.state.solved_generation = generation

        eval_wall = timing["eval_wall"]
        record.update(
            {
                "evals_per_s": len(evaluations) / eval_wall if eval_wall > 0 else 0.0,
                "env_steps_per_s": steps / eval_wall if eval_wall > 0 else 0.0,
                "wall_s": timing["wall"],
                "nodes": timing["nodes"],
            }
        )
        self.state.generation = generation + 1
        self.metrics.write(record)
        self._save_best()
        return record

    def _score_center(self, generation: int) -> tuple[float, Any] | None:
        """Mean fitness of the searcher's centre over fresh seeds, when due; (score, centre) or None."""
        every = self.settings.center_eval.every
        center = self.searcher.center
        last = generation + 1 == self.settings.generations
        if center is None or every == 0 or not ((generation + 1) % every == 0 or last):
            return None
        assert self.pool is not None
        count = self.settings.center_eval.evaluations
        copies = center.unsqueeze(0).repeat(count, 1) if isinstance(center, torch.Tensor) else [center] * count
        seeds = seeding.genome_seeds(self.settings.seed, generation, count, stream=seeding.CENTER_EVAL)
        evaluations = [e for e in self.pool.evaluate(copies, seeds) if not e.failed]
        if not evaluations:
            return None
        return float(np.mean([e.fitness for e in evaluations])), center

    # -- persistence ---------------------------------------------------------------------------------------

    def _make_payload(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "generation": self.state.generation,
            "searcher": self.searcher.state_bytes(),
            "progress": self.state.__dict__.copy(),
            "best_genome": self.best_genome,
            "best_center": self.best_center,
            "rng": _rng_states(),
        }

    def _write_checkpoint(self) -> None:
        if self._payload is None or self._payload_on_disk:
            return
        self._payload["progress"]["elapsed_s"] = self.state.elapsed_s
        ckpt.save_checkpoint(
            self.checkpoint_dir, self._payload["generation"], self._payload, keep=self.settings.checkpoint.keep
        )
        self._payload_on_disk = True
        self.write_summary("running")

    def _save_best(self) -> None:
        blob = {
            "sample": {"genome": self.best_genome, "fitness": self.state.best_fitness, "generation": self.state.best_generation},
            "center": {
                "genome": self.best_center,
                "center_eval": self.state.best_center_eval,
                "generation": self.state.best_center_generation,
            },
        }
        buffer = io.BytesIO()
        torch.save(blob, buffer)
        ckpt.atomic_write_bytes(self.run_dir / "best.pt", buffer.getvalue())

    def write_summary(self, status: str) -> dict[str, Any]:
        """Write summary.json with ``status`` and the headline numbers; returns the summary."""
        s = self.state
        summary = {
            "name": self.settings.name,
            "status": status,
            "seed": self.settings.seed,
            "generations_completed": s.generation,
            "generations_planned": self.settings.generations,
            "evaluations": s.evaluations,
            "failed_evaluations": s.failed_evaluations,
            "env_steps": s.env_steps,
            "best_fitness": _finite_or_none(s.best_fitness),
            "best_generation": s.best_generation,
            "best_center_eval": _finite_or_none(s.best_center_eval),
            "best_center_generation": s.best_center_generation,
            "final_center_eval": s.last_center_eval,
            "stop_fitness": self.settings.stop_fitness,
            "solved": s.solved_generation is not None,
            "solved_generation": s.solved_generation,
            "wall_time_s": round(s.elapsed_s, 3),
            **self._final,
        }
        ckpt.atomic_write_bytes(self.run_dir / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
        return summary

    # -- progress ------------------------------------------------------------------------------------------

    @contextmanager
    def _progress_bar(self) -> Iterator[Callable[[dict[str, Any]], None]]:
        if not self.show_progress:
            yield lambda record: None
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("best {task.fields[best]}  mean {task.fields[mean]}  centre {task.fields[center]}"),
            TextColumn("{task.fields[rate]} evals/s"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        task = progress.add_task(
            self.settings.name,
            total=self.settings.generations,
            completed=self.state.generation,
            best="-",
            mean="-",
            center="-",
            rate="-",
        )

        def update(record: dict[str, Any]) -> None:
            center = record.get("center_eval")
            progress.update(
                task,
                completed=self.state.generation,
                best=f"{record['fitness_best']:.1f}",
                mean=f"{record['fitness_mean']:.1f}",
                center="-" if center is None else f"{center:.1f}",
                rate=f"{record['evals_per_s']:.0f}",
            )

        with progress:
            yield update


def _take(genomes: GenomeBatch, index: int) -> Any:
    return genomes[index].clone() if isinstance(genomes, torch.Tensor) else genomes[index]


def _finite_or_none(value: float) -> float | None:
    return value if np.isfinite(value) else None


class _SignalGate:
    """Turns SIGINT / SIGTERM into :class:`RunInterrupted`, immediately or at the end of a deferred block.

    Evaluation is interruptible at any point (nothing of the generation is committed yet); committing a
    generation (state, metrics, best genomes, checkpoint) is deferred so that it happens whole or not at all.
    """

    def __init__(self) -> None:
        self.deferring = False
        self.pending: int | None = None

    def _handler(self, signum: int, frame: Any) -> None:
        # One signal is enough: ignore repeats while we checkpoint and shut down.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if self.deferring:
            self.pending = signum
        else:
            raise RunInterrupted(signum)

    @contextmanager
    def installed(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self._handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.pending is not None:
            raise RunInterrupted(self.pending)
