"""EvaluatorPool: evaluate a population in parallel on persistent Ray actors, or serially in-process.

Ray backend
    One actor per CPU of the cluster by default, each holding one :class:`Evaluator` that is set up once.
    A population is split into contiguous chunks handed out one at a time to whichever actor is free (a
    second chunk queued per actor would save a millisecond of latency but leave one actor idle while another
    finishes two; measured: 2-actor scaling 1.6 with two queued, 1.8 with one). Results are written back by
    chunk position, so the output order is the input order. A dead actor is restarted by Ray
    (``max_restarts``) and its in-flight chunk re-run (``max_task_retries``); if Ray gives up, the pool
    replaces the actor itself and re-queues the chunk. Actors are spread over nodes (``SPREAD``) so a
    cluster's nodes all take work.

    A seeded population (:class:`~evoforge.search.genome.SeededPopulation`) goes to the object store as its
    center, once per call, and each chunk as its noise seeds and signs; the actor rebuilds the rows.

    The cluster is watched while results are awaited (every ``heartbeat_s``): a head that has not answered
    for ``head_lost_after_s`` raises :class:`ClusterLost` (the run stops, its last generation checkpointed,
    before Ray's own minute of retries ends the process); a node that left has its actors dropped and their
    chunks re-run on the others. A node that joined gets actors on its free CPUs at the next call, when the
    number of actors was not fixed (``num_workers``).

Serial backend
    The same evaluator, the same chunks and the same failure isolation, in this process. Because seeds are
    explicit and evaluators must not depend on the batch a genome arrives in, both backends return the same
    evaluations for the same genomes and seeds.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from evoforge.errors import PoolError, UserError
from evoforge.search.cluster import head_reachable, start_ray
from evoforge.search.evaluation import Evaluation, Evaluator, evaluate_safely
from evoforge.search.genome import GenomeBatch, SeededPopulation, as_evaluable, batch_size, slice_batch
from evoforge.search.settings import PoolSettings

log = logging.getLogger(__name__)

EvaluatorFactory = Callable[[], Evaluator]

# Default chunks per actor and generation. Episodes end at different times, so one chunk per actor leaves
# an actor idle while the other finishes its longest episodes; measured on BipedalWalker, population 64,
# 2 actors: 32 genomes per chunk ~4.3k env steps/s, 8 per chunk ~4.9k, 4 per chunk ~4.4k.
CHUNKS_PER_WORKER = 4
Backend = Literal["ray", "serial"]


@dataclass
class PoolStats:
    """What the last :meth:`EvaluatorPool.evaluate` call did, for logging."""

    evaluations: int = 0
    wall_s: float = 0.0
    nodes: Counter = field(default_factory=Counter)  # evaluations per Ray node id
    actors_replaced: int = 0
    actors_added: int = 0  # on free CPUs (a node that joined)
    actors_lost: int = 0  # with a node that left
    bytes_sent: int = 0  # genome payload serialised for the actors (tensors by size, the rest pickled)


class ClusterLost(PoolError):
    """The Ray cluster's head stopped answering during an evaluation. Ray's client in this process cannot be
    shut down cleanly any more (it waits for the head, and Ray's exit handler does too): end the process
    (``evoforge.cli`` does, with ``os._exit`` once the run's files are written)."""


class _EvaluatorWorker:
    """Body of a Ray actor: one evaluator, set up once, evaluating chunks until the pool shuts down."""

    def __init__(self, factory: EvaluatorFactory, torch_threads: int) -> None:
        import ray
        import torch

        # One actor per core: intra-op threads would only fight the other actors for the same cores.
        torch.set_num_threads(torch_threads)
        self._evaluator = factory()
        self._evaluator.setup()
        self._node_id = ray.get_runtime_context().get_node_id()

    def ready(self) -> tuple[int, str]:
        return os.getpid(), self._node_id

    def evaluate(self, genomes: GenomeBatch, seeds: Sequence[int], context: Any = None, center: Any = None
                 ) -> tuple[list[Evaluation], str]:
        if context is not None:
            self._evaluator.set_context(context)
        return evaluate_safely(self._evaluator, as_evaluable(genomes, center), seeds), self._node_id


@dataclass(frozen=True)
class _Chunk:
    start: int
    stop: int


@dataclass(eq=False)
class _Worker:
    """One actor and what the pool knows of it."""

    handle: Any
    node_id: str = ""
    busy: int = 0  # chunks in flight


def payload_bytes(genomes: GenomeBatch) -> int:
    """Bytes of a chunk's genomes as shipped: tensors by their size, anything else pickled (a seeded chunk
    without its center is a few bytes per genome)."""
    if isinstance(genomes, torch.Tensor):
        return genomes.numel() * genomes.element_size()
    return len(pickle.dumps(genomes, protocol=pickle.HIGHEST_PROTOCOL))


class EvaluatorPool:
    """Evaluates batches of genomes with one evaluator per worker.

    Args:
        factory: picklable zero-argument callable building the evaluator inside each worker.
        backend: ``"ray"`` (persistent actors) or ``"serial"`` (in-process).
        num_workers: actors to start; default one per CPU of the Ray cluster.
        chunk_size: genomes per task; default ``ceil(population / (4 * num_workers))`` on Ray (batches large
            enough to vectorise, small enough to balance uneven episode lengths) and the whole population
            serially.
        address: Ray cluster to join (``"auto"`` or ``host:port``); None starts a local Ray instance.
        max_restarts: how often Ray restarts a dead actor (and retries its tasks) before the pool replaces it;
            the pool replaces at most this many actors per call before giving up.
        torch_threads: torch intra-op threads per actor.
        start_timeout_s: how long to wait for all actors to be placed and set up before giving up (a cluster
            without enough free CPUs would otherwise wait forever).
        connect_timeout_s: how long a cluster's head at ``address`` may take to answer (then one line, exit 2).
        gpus_per_worker: GPUs Ray reserves for each actor (fractions share a GPU); more than the cluster has is
            one line, exit 2.
        heartbeat_s: while waiting for results, check the head and the nodes this often.
        head_lost_after_s: raise :class:`ClusterLost` when the head has not answered for this long.
        population_transfer: ``"seeds"`` ships a seeded population as its seeds, ``"vectors"`` as tensors
            (built in the driver); the same genomes either way.
    """

    def __init__(
        self,
        factory: EvaluatorFactory,
        *,
        backend: Backend = "ray",
        num_workers: int | None = None,
        chunk_size: int | None = None,
        address: str | None = None,
        max_restarts: int = 3,
        torch_threads: int = 1,
        start_timeout_s: float = 300.0,
        connect_timeout_s: float = 10.0,
        gpus_per_worker: float = 0.0,
        heartbeat_s: float = 2.0,
        head_lost_after_s: float = 10.0,
        population_transfer: Literal["seeds", "vectors"] = "seeds",
    ) -> None:
        if backend not in ("ray", "serial"):
            raise ValueError(f"unknown backend {backend!r}")
        self.factory = factory
        self.backend = backend
        self.requested_workers = num_workers
        self.chunk_size = chunk_size
        self.address = address
        self.max_restarts = max_restarts
        self.torch_threads = torch_threads
        self.start_timeout_s = start_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.gpus_per_worker = gpus_per_worker
        self.heartbeat_s = heartbeat_s
        self.head_lost_after_s = head_lost_after_s
        self.population_transfer = population_transfer
        self.last_stats = PoolStats()
        self._workers: list[_Worker] = []
        self._gcs_address = ""
        self._known_nodes: set[str] = set()  # alive when last looked at (a new one gets actors)
        self._cluster_lost = False
        self._actor_cls: Any = None
        self._serial_evaluator: Evaluator | None = None
        self._owns_ray = False
        self._started = False

    @classmethod
    def from_settings(cls, factory: EvaluatorFactory, settings: PoolSettings, address: str | None = None,
                      **overrides: Any) -> "EvaluatorPool":
        """The pool a config's ``pool:`` section describes (backend, workers, chunk size, restarts), joining
        ``address`` if given; ``overrides`` replace single constructor arguments (e.g. ``chunk_size=1``)."""
        arguments: dict[str, Any] = dict(backend=settings.backend, num_workers=settings.workers,
                                         chunk_size=settings.chunk_size, address=address,
                                         max_restarts=settings.max_restarts,
                                         connect_timeout_s=settings.connect_timeout_s,
                                         gpus_per_worker=settings.gpus_per_worker,
                                         heartbeat_s=settings.heartbeat_s,
                                         head_lost_after_s=settings.head_lost_after_s,
                                         population_transfer=settings.population_transfer)
        arguments.update(overrides)
        return cls(factory, **arguments)

    # -- lifecycle -----------------------------------------------------------------------------------------

    @property
    def num_workers(self) -> int:
        """Actors running (the serial backend counts as one worker)."""
        return len(self._workers) if self.backend == "ray" else 1

    @property
    def actors(self) -> list[Any]:
        """The Ray actor handles (empty for the serial backend)."""
        return [worker.handle for worker in self._workers]

    def start(self) -> "EvaluatorPool":
        """Build the evaluator in this process (serial), or start or join Ray and its actors; idempotent."""
        if self._started:
            return self
        if self.backend == "serial":
            self._serial_evaluator = self.factory()
            self._serial_evaluator.setup()
        else:
            self._start_ray()
        self._started = True
        return self

    def _start_ray(self) -> None:
        import ray

        self._owns_ray = start_ray(self.address, self.requested_workers, connect_timeout_s=self.connect_timeout_s)
        self._gcs_address = ray.get_runtime_context().gcs_address
        self._known_nodes = self._alive_nodes()
        resources = ray.cluster_resources()
        count = self.requested_workers or max(1, int(resources.get("CPU", 1)))
        if self.gpus_per_worker > 0:
            gpus = float(resources.get("GPU", 0))
            if gpus < self.gpus_per_worker:
                self.shutdown()
                raise UserError(f"pool.gpus_per_worker is {self.gpus_per_worker:g} but the Ray cluster has "
                                f"{gpus:g} GPU(s)")
            if self.requested_workers is None:  # as many actors as the GPUs hold
                count = min(count, max(1, int(gpus / self.gpus_per_worker + 1e-9)))
        self._actor_cls = ray.remote(
            num_cpus=1,
            num_gpus=self.gpus_per_worker,
            max_restarts=self.max_restarts,
            max_task_retries=self.max_restarts,
            scheduling_strategy="SPREAD",
        )(_EvaluatorWorker)
        self._workers = [self._new_worker() for _ in range(count)]
        try:
            self._await_ready(self._workers)
        except ray.exceptions.GetTimeoutError as exc:
            cpus = ray.available_resources().get("CPU", 0)
            self.shutdown()
            raise PoolError(
                f"{count} evaluation actors did not start within {self.start_timeout_s:.0f} s "
                f"(the cluster has {cpus:g} free CPUs; each actor needs one)"
            ) from exc
        except ray.exceptions.RayError as exc:
            self.shutdown()
            raise PoolError(f"evaluator setup failed in a worker: {_root_cause(exc)}") from exc

    def _new_worker(self) -> _Worker:
        return _Worker(self._actor_cls.remote(self.factory, self.torch_threads))

    def _await_ready(self, workers: list[_Worker]) -> None:
        import ray

        answers = ray.get([worker.handle.ready.remote() for worker in workers], timeout=self.start_timeout_s)
        for worker, (_, node_id) in zip(workers, answers):
            worker.node_id = node_id

    def _free_slots(self) -> int:
        """Actors the cluster's free resources would hold now."""
        import ray

        free = ray.available_resources()
        slots = int(free.get("CPU", 0) + 1e-9)
        if self.gpus_per_worker > 0:
            slots = min(slots, int(free.get("GPU", 0) / self.gpus_per_worker + 1e-9))
        return slots

    def _alive_nodes(self) -> set[str]:
        import ray

        return {node["NodeID"] for node in ray.nodes() if node.get("Alive")}

    def _add_actors_on_joined_nodes(self) -> int:
        """When a node has joined since the last call and the actor count is not fixed, start actors on the
        cluster's free CPUs; an actor that does not start within ``start_timeout_s`` is given up on. Returns
        the actors added. (Only a new node triggers this: CPUs freed for a moment, e.g. by an actor Ray is
        restarting, must not be taken from under it.)"""
        import ray

        if self.requested_workers is not None or not self._workers:
            return 0
        alive = self._alive_nodes()
        joined = alive - self._known_nodes
        self._known_nodes = alive
        if not joined:
            return 0
        slots = self._free_slots()
        if slots <= 0:
            return 0
        added = [self._new_worker() for _ in range(slots)]
        try:
            self._await_ready(added)
        except ray.exceptions.RayError as exc:  # GetTimeoutError included: carry on with the actors we have
            log.warning("%d new actor(s) did not start (%s); going on with %d", len(added), _root_cause(exc),
                        len(self._workers))
            for worker in added:
                _kill(worker.handle)
            return 0
        log.info("%d new actor(s) on free CPUs: %d in all", len(added), len(self._workers) + len(added))
        self._workers.extend(added)
        return len(added)

    def shutdown(self) -> None:
        """Stop the actors, and Ray itself when this pool started it."""
        if self.backend == "ray":
            import ray

            # Killing actors of a lost cluster, or shutting its client down, only waits for the dead head (until
            # Ray ends the process a minute later); the caller exits instead (evoforge.cli does at once).
            if not self._cluster_lost:
                for worker in self._workers:
                    _kill(worker.handle)
            self._workers = []
            if self._owns_ray and ray.is_initialized() and not self._cluster_lost:
                ray.shutdown()
            self._owns_ray = False
        self._serial_evaluator = None
        self._started = False

    def __enter__(self) -> "EvaluatorPool":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- evaluation ----------------------------------------------------------------------------------------

    def _chunks(self, n: int) -> list[_Chunk]:
        if self.chunk_size:
            size = self.chunk_size
        elif self.backend == "serial":
            size = n  # one batch: the largest vectorised step, nothing to balance
        else:
            size = max(1, math.ceil(n / (CHUNKS_PER_WORKER * self.num_workers)))
        return [_Chunk(start, min(n, start + size)) for start in range(0, n, size)]

    def evaluate(self, genomes: GenomeBatch, seeds: Sequence[int], context: Any = None) -> list[Evaluation]:
        """Evaluate ``genomes[i]`` with ``seeds[i]``; results come back in input order. A ``context`` (the run's
        evaluation context) goes to the object store once and reaches every chunk's evaluator
        (:meth:`Evaluator.set_context`)."""
        n = batch_size(genomes)
        if n != len(seeds):
            raise ValueError(f"{n} genomes but {len(seeds)} seeds")
        if not self._started:
            self.start()
        began = time.perf_counter()
        seeds = [int(s) for s in seeds]
        self.last_stats = PoolStats(evaluations=n)
        if n == 0:
            return []
        if isinstance(genomes, SeededPopulation) and (self.backend == "serial" or
                                                      self.population_transfer == "vectors"):
            genomes = genomes.materialize()  # built here, shipped (or evaluated) as tensors
        if self.backend == "serial":
            assert self._serial_evaluator is not None
            if context is not None:
                self._serial_evaluator.set_context(context)
            results: list[Evaluation | None] = []
            for chunk in self._chunks(n):
                results.extend(evaluate_safely(self._serial_evaluator,
                                               as_evaluable(slice_batch(genomes, chunk.start, chunk.stop)),
                                               seeds[chunk.start : chunk.stop]))
            self.last_stats.nodes["local"] += n
        else:
            results = self._evaluate_ray(genomes, seeds, n, context)
        self.last_stats.wall_s = time.perf_counter() - began
        return results  # type: ignore[return-value]

    def _evaluate_ray(self, genomes: GenomeBatch, seeds: list[int], n: int, context: Any = None
                      ) -> list[Evaluation | None]:
        import ray

        stats = self.last_stats
        # A head that died since the last call would make the calls below (object store, GCS) hang until Ray
        # ends the process a minute later: look first.
        self._require_head()
        stats.actors_added = self._add_actors_on_joined_nodes()
        results: list[Evaluation | None] = [None] * n
        shared = ray.put(context) if context is not None else None  # once per call, not once per chunk
        center = None
        if isinstance(genomes, SeededPopulation):  # the center once; chunks travel as seeds and signs
            center = ray.put(genomes.center)
            stats.bytes_sent += payload_bytes(genomes.center)
            genomes = genomes.without_center()
        queue = deque(self._chunks(n))
        pending: dict[Any, tuple[_Chunk, _Worker]] = {}
        slots_per_actor = 1  # see the module docstring
        replaced = 0
        last_check = time.monotonic()
        while queue or pending:
            # Least-loaded actor first: every actor gets a chunk before any gets a second one (filling one
            # actor's slots before the next would leave actors, and whole nodes, idle when chunks are few).
            while queue and self._workers:
                worker = min(self._workers, key=lambda w: w.busy)
                if worker.busy >= slots_per_actor:
                    break
                chunk = queue.popleft()
                part = slice_batch(genomes, chunk.start, chunk.stop)
                stats.bytes_sent += payload_bytes(part)
                ref = worker.handle.evaluate.remote(part, seeds[chunk.start : chunk.stop], shared, center)
                pending[ref] = (chunk, worker)
                worker.busy += 1
            if not pending:
                raise PoolError("no evaluation actors are left (their nodes left the cluster and no free CPU "
                                "remains for new ones)")
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=self.heartbeat_s)
            if not ready or time.monotonic() - last_check >= self.heartbeat_s:
                stats.actors_lost += self._check_cluster(pending, queue)
                last_check = time.monotonic()
            for ref in ready:
                if ref not in pending:
                    continue  # its node left and the chunk was re-queued by the check above
                chunk, worker = pending.pop(ref)
                worker.busy -= 1
                try:
                    evaluations, node_id = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as exc:
                    # Ray has used up its own restarts for this actor: replace it and run the chunk again.
                    queue.appendleft(chunk)
                    if worker not in self._workers:
                        continue  # another chunk of the same dead actor already replaced it
                    self._require_head()
                    self._workers.remove(worker)
                    if self._free_slots() <= 0:  # its node is gone: the others take its chunks
                        log.warning("actor on node %s is gone (%s); its chunk goes to the others",
                                    worker.node_id[:8], _root_cause(exc))
                        stats.actors_lost += 1
                        continue
                    replaced += 1
                    if replaced > self.max_restarts:
                        raise PoolError(
                            f"evaluation actors keep dying ({replaced} replaced in one call): {_root_cause(exc)}"
                        ) from exc
                    log.warning("an actor died (%s); replacing it and re-running its chunk", _root_cause(exc))
                    self._workers.append(self._new_worker())
                    continue
                except ray.exceptions.RayTaskError as exc:
                    raise PoolError(f"evaluation task crashed outside the evaluator: {_root_cause(exc)}") from exc
                worker.node_id = node_id  # Ray may have restarted it elsewhere
                results[chunk.start : chunk.stop] = evaluations
                stats.nodes[node_id] += len(evaluations)
        stats.actors_replaced = replaced
        return results

    def _require_head(self) -> None:
        """Return once the cluster's head answers; :class:`ClusterLost` when it has not for
        ``head_lost_after_s``."""
        if not self._gcs_address:
            return
        deadline = time.monotonic() + self.head_lost_after_s
        while not head_reachable(self._gcs_address, timeout_s=min(2.0, self.head_lost_after_s)):
            if time.monotonic() >= deadline:
                self._cluster_lost = True
                where = self.address if self.address and self.address != "auto" else self._gcs_address
                raise ClusterLost(f"lost the Ray cluster: its head at {where} has not answered for "
                                  f"{self.head_lost_after_s:g} s")
            time.sleep(min(0.5, self.heartbeat_s))

    def _check_cluster(self, pending: dict[Any, tuple[_Chunk, _Worker]], queue: deque) -> int:
        """The head must answer (:meth:`_require_head`); actors on nodes that left are dropped and their chunks
        re-queued. Returns the actors dropped."""
        self._require_head()
        alive = self._alive_nodes()
        gone = [worker for worker in self._workers if worker.node_id and worker.node_id not in alive]
        for worker in gone:
            lost = [ref for ref, (_, owner) in pending.items() if owner is worker]
            for ref in lost:
                queue.appendleft(pending.pop(ref)[0])
            log.warning("node %s left the cluster; re-running its %d chunk(s) on the other nodes",
                        worker.node_id[:8], len(lost))
            self._workers.remove(worker)
            _kill(worker.handle)
        return len(gone)


def _kill(handle: Any) -> None:
    import ray

    try:
        ray.kill(handle, no_restart=True)
    except Exception:  # noqa: BLE001 - already gone
        pass


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}"
