"""A Run drives one search in its run directory: propose -> evaluate on the pool -> update -> log + checkpoint.

It is the one loop every experiment kind runs through (ES, structured searchers, POET, the NAS benchmark).
Its files are those of :class:`~evoforge.search.rundir.RunDir`.

**The searcher contract.** ``searcher.step(evaluate)`` runs one generation. ``evaluate(genomes, role=...)``
scores a batch on the pool and may be called several times in one step (POET scores its pairs' populations,
their self-evaluations, transfers and admission proposals in one iteration). Batch k of generation g gets its
own seed sub-stream (``seeds.genome_seeds(run seed, g, count, batch=k)``; batch 0 is the stream a one-batch
searcher has always had) and its own entry in the generation's record. Failures are isolated per batch: a
failed evaluation ranks last, and more than ``pool.max_failure_fraction`` failures in one batch stop the run
(:class:`~evoforge.errors.TooManyFailures`, status ``failed``).

**Checkpoints.** A checkpoint holds everything the loop needs to continue: the searcher's own state bytes
(distribution, optimiser state, its random generators), counters, the best genomes and the global RNG states.
Because every evaluation seed is derived from (run seed, generation, batch, genome index, episode), resuming
from a checkpoint reproduces exactly the generations an uninterrupted run would have computed.

**Signals.** SIGINT / SIGTERM stop the run between or during generations: the state of the last completed
generation is checkpointed, the status becomes ``interrupted``, Ray is shut down, and :class:`RunInterrupted`
tells the caller which signal arrived. A new run is ``Run(experiment, run_dir).execute()``; a resumed one calls
:meth:`Run.restore` with a checkpoint's payload first.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from evoforge.devices import check_device_request
from evoforge.errors import PoolError, TooManyFailures, UserError
from evoforge.search import seeds as seeding
from evoforge.search.evaluation import Evaluation
from evoforge.search.genome import GenomeBatch, batch_size
from evoforge.search.metrics import MetricsLog
from evoforge.search.pool import EvaluatorFactory, EvaluatorPool
from evoforge.search.progress import progress_bar
from evoforge.search.rundir import CHECKPOINT_FORMAT, BestGenome, RunDir, check_format
from evoforge.search.settings import RunSettings

__all__ = ["BatchEvaluator", "Run", "RunInterrupted", "RunOutcome", "RunProgress", "RunnableExperiment",
           "Searcher", "TooManyFailures"]

POPULATION = "population"  # the role of the batches whose fitness the generation's record summarises


class RunInterrupted(BaseException):
    """The run was stopped by a signal after checkpointing.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way (an evaluator's
    failure isolation, a library) can swallow it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


class BatchEvaluator(Protocol):
    """What a searcher's ``step`` receives: scores one batch on the pool; may be called several times a step."""

    def __call__(self, genomes: GenomeBatch, role: str = POPULATION) -> list[Evaluation]:
        """One Evaluation per genome, in order. ``role`` names the batch in the generation's record
        ("population" batches are the ones whose fitness the record summarises and whose best is kept)."""


class Searcher(Protocol):
    """What the run needs from a search algorithm (e.g. :class:`evoforge.search.es.ESSearcher`,
    :class:`evoforge.search.evolution.RegularizedEvolution`, :class:`evoforge.search.poet.POETSearcher`)."""

    def step(self, evaluate: BatchEvaluator) -> None:
        """One generation: propose genomes, score them with one or more calls of ``evaluate``, update."""

    @property
    def center(self) -> Any:
        """A genome to evaluate as "the" solution on fresh seeds each generation (``center_eval``), or None."""

    def state_bytes(self) -> bytes:
        """The searcher's whole state, its random generators included, for a checkpoint."""

    def load_state_bytes(self, data: bytes) -> None:
        """Restore the state of :meth:`state_bytes`; the search then continues exactly."""

    def metrics(self) -> dict[str, Any]:
        """Numbers to log each generation (e.g. sigma)."""


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


@dataclass
class RunOutcome:
    """What an experiment's ``final_summary`` sees once the search has ended."""

    run_dir: RunDir
    searcher: Any
    best_genome: Any
    best_center: Any
    progress: RunProgress


class RunnableExperiment(Protocol):
    """What the run needs from an experiment (declared in full by :class:`evoforge.experiments.Experiment`)."""

    settings: RunSettings

    def evaluator_factory(self) -> EvaluatorFactory:
        """A picklable zero-argument callable that builds the evaluator inside each worker."""

    def make_searcher(self) -> Searcher:
        """A fresh searcher for generation 0 (the run restores its state when resuming)."""

    def on_generation(self, run_dir: RunDir, searcher: Any) -> None:
        """Write the files derived from the searcher after a committed generation (may do nothing)."""

    def final_summary(self, outcome: RunOutcome) -> dict[str, Any]:
        """Numbers computed once the search has ended, merged into summary.json (may be empty)."""


@dataclass
class _Batch:
    role: str
    genomes: GenomeBatch
    evaluations: list[Evaluation]
    wall_s: float
    nodes: dict[str, int] = field(default_factory=dict)
    actors_replaced: int = 0
    actors_added: int = 0
    actors_lost: int = 0
    bytes_sent: int = 0


def _rng_states() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def _set_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])


class Run:
    """Drives one search in ``run_dir``: :meth:`execute` for a new run; :meth:`restore` first to continue one."""

    def __init__(self, experiment: RunnableExperiment, run_dir: Path, *, address: str | None = None,
                 progress: bool = True):
        self.experiment = experiment
        self.settings = experiment.settings
        self.run_dir = Path(run_dir)
        self.files = RunDir(self.run_dir)
        self.address = address
        self.show_progress = progress
        self.searcher = experiment.make_searcher()
        self.state = RunProgress()
        self.best_genome: Any = None
        self.best_center: Any = None
        self._payload: dict[str, Any] | None = None  # state of the last completed generation
        self._payload_on_disk = True
        self._batches: list[_Batch] = []  # the batches of the generation being evaluated
        self._final: dict[str, Any] = {}  # the experiment's final_summary(), once the search has ended
        self.pool: EvaluatorPool | None = None
        # the evaluation context (e.g. an observation normaliser): sent with every chunk, updated after every
        # generation, checkpointed; the best genomes keep the context they were scored with
        self.context: Any = experiment.initial_context()
        self.best_genome_context: Any = None
        self.best_center_context: Any = None
        self.metrics = MetricsLog(self.files, experiment.settings.tracking, experiment.settings.name,
                                  params=self._config_params())

    def _config_params(self) -> dict[str, Any]:
        """The run's config.yaml as the trackers' parameters (empty before it is written)."""
        try:
            return self.files.read_config() if self.files.config_path.is_file() else {}
        except UserError:
            return {}

    @property
    def checkpoint_dir(self) -> Path:
        """``run_dir/checkpoints``."""
        return self.files.checkpoint_dir

    def restore(self, payload: dict[str, Any]) -> None:
        """Continue from a checkpoint's payload: the searcher, counters, best genomes and RNG states, with
        metrics.jsonl cut back to the checkpoint's generation (a torn last line goes too)."""
        check_format(payload, "checkpoint")
        self.searcher.load_state_bytes(payload["searcher"])
        self.state = RunProgress(**payload["progress"])
        self.best_genome = payload["best_genome"]
        self.best_center = payload["best_center"]
        self.context = payload.get("context", self.context)
        self.best_genome_context, self.best_center_context = payload.get("best_contexts", (None, None))
        _set_rng_states(payload["rng"])
        self._payload = payload
        self.files.truncate_metrics(self.state.generation)

    # -- the loop ------------------------------------------------------------------------------------------
    def execute(self) -> dict[str, Any]:
        """Run until the configured generations are done or the stop fitness is reached; return the summary."""
        settings = self.settings
        began = time.perf_counter()
        elapsed_before = self.state.elapsed_s
        status = "running"
        self.pool = EvaluatorPool.from_settings(self.experiment.evaluator_factory(), settings.pool, self.address)
        gate = _SignalGate()
        try:
            check_device_request(settings.device, settings.pool.backend, settings.pool.gpus_per_worker)
            # Ray installs its own SIGTERM handler when it starts, so ours go in after the pool is up.
            self.pool.start()
            with gate.installed(), progress_bar(settings.name, settings.generations, self.state.generation,
                                                enabled=self.show_progress) as bar:
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
                        self.experiment.on_generation(self.files, self.searcher)
                    bar.update(self.state.generation, _progress_fields(record))
                self._final = dict(self.experiment.final_summary(RunOutcome(
                    self.files, self.searcher, self.best_genome, self.best_center, self.state)))
            status = "solved" if self.state.solved_generation is not None else "completed"
        except RunInterrupted:
            status = "interrupted"
            raise
        except (TooManyFailures, PoolError, UserError) as exc:  # UserError: e.g. an unreachable --address
            status = "failed"
            self._final = {**self._final, "failure": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
            raise
        finally:
            self._write_checkpoint()  # no-op when the last completed generation is already on disk
            self.pool.shutdown()
            self.metrics.close()
            self.state.elapsed_s = elapsed_before + time.perf_counter() - began
            summary = self.write_summary(status)
        return summary

    def _evaluate(self, genomes: GenomeBatch, role: str = POPULATION) -> list[Evaluation]:
        """The :class:`BatchEvaluator` handed to the searcher: one batch on the pool, its own seed sub-stream."""
        assert self.pool is not None
        generation, index = self.state.generation, len(self._batches)
        count = batch_size(genomes)
        if count == 0:
            return []
        seeds = seeding.genome_seeds(self.settings.seed, generation, count, batch=index)
        evaluations = self.pool.evaluate(genomes, seeds, context=self.context)
        failed = [e for e in evaluations if e.failed]
        limit = self.settings.pool.max_failure_fraction
        if len(failed) > limit * count:
            where = f"generation {generation}" + (f", batch {index} ({role})" if index or role != POPULATION else "")
            raise TooManyFailures(f"{where}: {len(failed)} of {count} evaluations failed (limit {limit:.0%}); "
                                  f"first error: {failed[0].error}")
        stats = self.pool.last_stats
        self._batches.append(_Batch(role, genomes, evaluations, stats.wall_s, dict(stats.nodes),
                                    stats.actors_replaced, stats.actors_added, stats.actors_lost,
                                    stats.bytes_sent))
        return evaluations

    def _evaluate_generation(self) -> tuple[list[_Batch], float, tuple | None]:
        """Step the searcher and score its center; returns what :meth:`_commit_generation` records."""
        generation = self.state.generation
        started = time.perf_counter()
        self._batches = []
        self.searcher.step(self._evaluate)
        batches, self._batches = self._batches, []
        center = self._score_center(generation)
        return batches, time.perf_counter() - started, center

    def _commit_generation(self, batches: list[_Batch], wall_s: float, center: tuple | None) -> dict[str, Any]:
        """Fold one evaluated generation into the run's state, metrics and best genomes."""
        generation = self.state.generation
        population = [b for b in batches if b.role == POPULATION] or batches
        ok = [(b, i, e) for b in population for i, e in enumerate(b.evaluations) if not e.failed]
        every = [e for b in batches for e in b.evaluations]
        failed = sum(e.failed for e in every)
        steps = int(sum(e.metrics.get("steps", 0) for e in every))
        record: dict[str, Any] = {"generation": generation, "evaluations": len(every), "failed": failed}
        if ok:
            fitness = np.array([e.fitness for _, _, e in ok], dtype=np.float64)
            best_batch, best_index, best_eval = max(ok, key=lambda item: item[2].fitness)
            if best_eval.fitness > self.state.best_fitness:
                self.state.best_fitness = float(best_eval.fitness)
                self.state.best_generation = generation
                self.best_genome = _take(best_batch.genomes, best_index)
                self.best_genome_context = self.context
            record.update({"fitness_best": float(fitness.max()), "fitness_mean": float(fitness.mean()),
                           "fitness_std": float(fitness.std()), "fitness_min": float(fitness.min())})
        self.state.evaluations += len(every)
        self.state.failed_evaluations += failed
        self.state.env_steps += steps
        record.update({"best_so_far": self.state.best_fitness, "env_steps": steps})
        scored = [e for _, _, e in ok]
        for key in sorted({k for e in scored for k in e.metrics} - {"steps"}):
            values = [e.metrics[key] for e in scored if key in e.metrics]
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
                self.best_center_context = self.context
            stop = self.settings.stop_fitness
            if stop is not None and score >= stop and self.state.solved_generation is None:
                self.state.solved_generation = generation

        eval_wall = sum(b.wall_s for b in batches)
        nodes: dict[str, int] = {}
        for b in batches:
            for node, count in b.nodes.items():
                nodes[node] = nodes.get(node, 0) + count
        record.update({"evals_per_s": len(every) / eval_wall if eval_wall > 0 else 0.0,
                       "env_steps_per_s": steps / eval_wall if eval_wall > 0 else 0.0,
                       "wall_s": wall_s, "nodes": nodes,
                       "actors_replaced": sum(b.actors_replaced for b in batches),
                       "actors_added": sum(b.actors_added for b in batches),
                       "actors_lost": sum(b.actors_lost for b in batches),
                       "bytes_to_actors": sum(b.bytes_sent for b in batches)})
        if len(batches) > 1:  # a multi-batch step: each batch's own numbers
            record["batches"] = [_batch_record(b) for b in batches]
        self.state.generation = generation + 1
        self.metrics.write(record)
        self._save_best()
        self.context = self.experiment.update_context(self.context, every)  # the next generation's
        return record

    def _score_center(self, generation: int) -> tuple[float, Any] | None:
        """Mean fitness of the searcher's center over fresh seeds, when due; (score, center) or None."""
        every = self.settings.center_eval.every
        center = self.searcher.center
        last = generation + 1 == self.settings.generations
        if center is None or every == 0 or not ((generation + 1) % every == 0 or last):
            return None
        assert self.pool is not None
        count = self.settings.center_eval.evaluations
        copies = center.unsqueeze(0).repeat(count, 1) if isinstance(center, torch.Tensor) else [center] * count
        seeds = seeding.genome_seeds(self.settings.seed, generation, count, stream=seeding.Stream.CENTER_EVAL)
        evaluations = [e for e in self.pool.evaluate(copies, seeds, context=self.context) if not e.failed]
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
            "context": self.context,
            "best_contexts": (self.best_genome_context, self.best_center_context),
        }

    def _write_checkpoint(self) -> None:
        if self._payload is None or self._payload_on_disk:
            return
        self._payload["progress"]["elapsed_s"] = self.state.elapsed_s
        self.files.save_checkpoint(self._payload["generation"], self._payload, keep=self.settings.checkpoint.keep)
        self._payload_on_disk = True
        self.write_summary("running")

    def _save_best(self) -> None:
        s = self.state
        self.files.write_best(BestGenome("sample", self.best_genome, s.best_fitness, s.best_generation,
                                         self.best_genome_context),
                              BestGenome("center", self.best_center, s.best_center_eval, s.best_center_generation,
                                         self.best_center_context))

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
        self.files.write_summary(summary)
        return summary


def _progress_fields(record: dict[str, Any]) -> list[tuple[str, str]]:
    """The numbers the progress bar shows, most important first."""
    def number(key: str) -> str:
        value = record.get(key)
        return "-" if value is None else f"{value:.1f}"

    fields = [("best", number("fitness_best")), ("mean", number("fitness_mean"))]
    if record.get("center_eval") is not None:
        fields.append(("center", number("center_eval")))
    fields.append(("evals/s", f"{record.get('evals_per_s', 0):.0f}"))
    return fields


def _batch_record(batch: _Batch) -> dict[str, Any]:
    scores = [e.fitness for e in batch.evaluations if not e.failed]
    return {"role": batch.role, "evaluations": len(batch.evaluations), "failed": len(batch.evaluations) - len(scores),
            "fitness_best": max(scores) if scores else None,
            "fitness_mean": float(np.mean(scores)) if scores else None}


def _take(genomes: GenomeBatch, index: int) -> Any:
    return genomes[index].clone() if isinstance(genomes, torch.Tensor) else genomes[index]  # seeded: a new row


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
