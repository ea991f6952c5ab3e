"""The POET loop (Wang et al. 2019, arXiv 1901.01753; Enhanced POET, arXiv 2003.08536) and its searcher.

:class:`POET` is the outer loop (original POET, with Enhanced POET's ANNECS): active (environment, agent) pairs,
one ES step per pair per iteration, periodic reproduction filtered by the minimal criterion and novelty, periodic
transfer, a capacity with an archive of retired pairs, and a state that pickles whole (checkpoint = resume to
the same result). It is generic over the environment space (:class:`EnvironmentSpace`) and scores
(environment, genome) jobs through one ``evaluate(jobs, role=...)`` callable (:class:`JobEvaluator`), which may
be called several times an iteration. :class:`POETSearcher` is that loop as a searcher of
:class:`~evoforge.search.run.Run`: one step is one iteration, each evaluation call one batch on the pool. The
building blocks (novelty, PATA-EC, the minimal criterion, stepping many searchers in one batch, proposals,
ANNECS) are in :mod:`evoforge.search.poet_blocks`.

A failed evaluation (an exception or a non-finite score in the worker) is the worst outcome: inside an ES
population it ranks below every scored genome (:func:`~evoforge.search.es.fitness_for_ranking`), everywhere else
it scores -inf, so it never passes the minimal criterion, never counts as solved and never wins a transfer.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from evoforge.search.es import ESSearcher, ESSettings
from evoforge.search.evaluation import Evaluation
from evoforge.search.poet_blocks import (  # noqa: F401 - re-exported: the loop's building blocks
    ANNECS,
    NOVELTY_K,
    Proposal,
    novelty,
    passes_mc,
    pata_ec,
    step_together,
)
from evoforge.search.seeds import RunStream, derive_seed, run_seed

RECENT_SCORES = 5  # Enhanced POET's transfer bar: the best of a target's last 5 self-evaluations
WORST = float("-inf")  # the score of a failed evaluation outside an ES population

# Roles of POET's evaluation calls (each one batch of the Run's generation record). Only the pairs' own ES
# populations are "population": they carry the generation's fitness statistics and best genome.
POPULATION, SELF_EVAL, TRANSFER = "population", "self_eval", "transfer"
REPRODUCTION, NOVELTY, ADMISSION = "reproduction", "novelty", "admission"


class POETSettings(BaseModel):
    """The outer loop's constants; defaults are the original POET code's (section 2 of the reference notes).

    The score scale belongs to the environment space, so the minimal criterion bounds and the solved threshold
    have no default here (the walker's, [25, 340] and 230, are the POET experiment's defaults)."""

    model_config = ConfigDict(extra="forbid")

    generations: int = Field(200, ge=1, description="POET iterations in all (the run's budget)")
    capacity: int = Field(25, ge=1, description="active pairs kept; the oldest retire to the archive")
    reproduce_every: int = Field(200, ge=1, description="iterations between reproduction steps (8 x 25)")
    transfer_every: int = Field(25, ge=1)
    repro_threshold: float = Field(200.0, description="self-eval a pair needs to have children")
    mc_low: float = Field(description="the minimal criterion's lower bound: a child too hard below it")
    mc_high: float = Field(description="the minimal criterion's upper bound: a child too easy above it")
    children: int = Field(8, ge=1, description="mutations tried per reproduction step")
    admit: int = Field(1, ge=1, description="children admitted per reproduction step at most")
    novelty_k: int = Field(NOVELTY_K, ge=1)
    novelty: str = Field("encoding", pattern="^(encoding|pata_ec)$",
                         description="encoding: the original 5-D distance; pata_ec: Enhanced POET's ranks")
    solved: float = Field(description="a score that solves an environment (for ANNECS and 'solved')")
    transfer: bool = Field(True, description="false: no transfer at all (the paper's POET-without-transfer "
                                             "control): no periodic transfer, and a new environment starts with "
                                             "its parent's agent instead of the best active agent on it")
    fine_tune_transfer: bool = Field(True, description="also try one ES step of the source on the target")
    admission_proposals: bool = Field(True, description="a child's admission also tries one ES step of every "
                                                        "active agent on it, as the reference")
    admission_state: Literal["fresh", "current"] = Field(
        "fresh", description="fresh: an admission proposal steps from a new optimiser (the initial sigma, plain "
                             "SGD), as the reference's candidate optimiser; current: with the agent's own sigma "
                             "and moments")
    proposal_noise: Literal["independent", "shared"] = Field(
        "independent", description="independent: every proposal draws its own noise, as the reference; shared: "
                                   "each proposal reuses the noise its optimiser's next step would draw (so all "
                                   "proposals to one target share it)")
    transfer_rule: str = Field("poet", pattern="^(poet|enhanced)$",
                               description="poet: the best direct or fine-tuned candidate beating the target's "
                                           "score; enhanced: Enhanced POET's stricter rule (see transfer)")
    init_std: float = Field(0.1, gt=0, description="the first agent's weights ~ N(0, init_std^2)")


class EnvironmentSpace(Protocol):
    """What POET needs to know about environments (plain picklable values, e.g. dicts)."""

    def mutate(self, env: Any, rng: np.random.Generator) -> Any:
        """A child environment of ``env``; all randomness from ``rng``."""

    def encoding(self, env: Any) -> np.ndarray:
        """A vector describing ``env``, for the novelty distance."""

    def name(self, env: Any) -> str:
        """A name for ``env``; a child named like an active environment is not admitted."""


Jobs = list[tuple[Any, torch.Tensor]]  # (environment, genome) pairs to score


class JobEvaluator(Protocol):
    """Scores (environment, genome) jobs: one Evaluation per job, in order (the Run's batch evaluator)."""

    def __call__(self, jobs: Jobs, role: str = POPULATION) -> list[Evaluation]:
        """``role`` names the call (:data:`POPULATION`, :data:`SELF_EVAL`, ...) in the generation's record."""


def proposal_seed(seed: int, iteration: int, kind: int, index: int) -> int:
    """The noise seed of one proposal: kind 0 = admission (index over the children's proposals in order),
    kind 1 = transfer (index over the fine-tuning routes in order)."""
    return run_seed(seed, RunStream.PROPOSAL_NOISE, iteration, kind, index)


def pair_seed(seed: int, pair_id: int, iteration: int) -> int:
    """The ES seed of a pair's searcher created at ``iteration`` (admission or accepted transfer):
    ``derive_seed(run seed, pair id, iteration)``, the values POET has always used (so results are unchanged)."""
    return derive_seed(seed, pair_id, iteration)


@dataclass
class Pair:
    id: int
    env: Any
    searcher: ESSearcher
    score: float = float("-inf")  # the latest self-evaluation of the searcher's center
    created: int = 0
    parent: int | None = None
    recent: list[float] = field(default_factory=list)  # the last self-evaluations (Enhanced POET's threshold)


@dataclass
class EnvRecord:
    """Every environment ever admitted (the novelty archive and the tree of environments)."""

    id: int
    env: Any
    parent: int | None
    created: int
    best_score: float = float("-inf")
    solved_at: int | None = None
    retired_at: int | None = None
    best_genome: torch.Tensor | None = None


def _scores(evaluations: list[Evaluation]) -> list[float]:
    return [WORST if e.failed else float(e.fitness) for e in evaluations]


class POET:
    """The POET loop; its methods score jobs through a :class:`JobEvaluator` (``evaluate(jobs, role=...)``)."""

    def __init__(self, settings: POETSettings, es: ESSettings, space: EnvironmentSpace, first_env: Any,
                 num_params: int, seed: int):
        self.settings, self.es, self.space = settings, es, space
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.iteration = 0
        self.next_id = 0
        self.pairs: list[Pair] = []
        self.archive: list[Pair] = []  # retired pairs (Enhanced POET keeps their agents)
        self.envs: dict[int, EnvRecord] = {}
        self.annecs = ANNECS(settings.solved)
        self.transfers_attempted = self.transfers_accepted = 0
        self.history: list[dict[str, Any]] = []
        center = torch.as_tensor(self.rng.normal(0.0, settings.init_std, num_params), dtype=torch.float32)
        self._admit(first_env, center, parent=None)

    # -- bookkeeping --------------------------------------------------------------------------------------------
    def _new_searcher(self, center: torch.Tensor, pair_id: int) -> ESSearcher:
        return ESSearcher(self.es, center, seed=pair_seed(self.seed, pair_id, self.iteration))

    def _admit(self, env: Any, center: torch.Tensor, parent: int | None) -> Pair:
        pair = Pair(self.next_id, env, self._new_searcher(center, self.next_id), created=self.iteration,
                    parent=parent)
        self.envs[pair.id] = EnvRecord(pair.id, env, parent, self.iteration)
        self.next_id += 1
        self.pairs.append(pair)
        return pair

    def _record(self, pair: Pair, score: float, genome: torch.Tensor) -> None:
        record = self.envs[pair.id]
        if score > record.best_score:
            record.best_score, record.best_genome = score, genome.clone()
        if score >= self.settings.solved and record.solved_at is None:
            record.solved_at = self.iteration
        self.annecs.scored(str(pair.id), score)

    def _es_step(self, searchers_on: list[tuple[Any, Any]], evaluate: JobEvaluator, role: str) -> None:
        """One ES step of each searcher (or :class:`Proposal`) on its environment, all populations in one
        ``evaluate`` call; the searchers rank failed evaluations last."""
        envs = [env for _, env in searchers_on for _ in range(self.es.popsize)]

        def evaluate_populations(genomes: list[torch.Tensor]) -> list[Evaluation]:
            # rows are cloned so that a job (or the run's best genome) does not carry its whole population
            return evaluate([(env, genome.clone()) for env, genome in zip(envs, genomes)], role=role)

        step_together([searcher for searcher, _ in searchers_on], evaluate_populations)

    # -- one iteration --------------------------------------------------------------------------------------------
    def run_iteration(self, evaluate: JobEvaluator) -> dict[str, Any]:
        """One POET iteration: reproduction when due, one ES step of every active pair (one batch), their
        self-evaluations, transfer when due; returns the iteration's record (also kept in ``history``).
        """
        settings, t = self.settings, self.iteration
        events: dict[str, Any] = {}
        if t > 0 and t % settings.reproduce_every == 0:
            events["admitted"] = self.reproduce(evaluate)
        self._es_step([(pair.searcher, pair.env) for pair in self.pairs], evaluate, POPULATION)
        centers = [pair.searcher.center for pair in self.pairs]
        scores = _scores(evaluate([(p.env, c) for p, c in zip(self.pairs, centers)], role=SELF_EVAL))
        for pair, center, score in zip(self.pairs, centers, scores):
            pair.score = score
            pair.recent = [*pair.recent[-(RECENT_SCORES - 1):], score]
            self._record(pair, score, center)
        if settings.transfer and t % settings.transfer_every == 0 and len(self.pairs) > 1:
            events["transfers"] = self.transfer(evaluate)
        self.iteration += 1
        record = self.metrics()
        record.update({"events": events})
        self.history.append(record)
        return record

    def metrics(self) -> dict[str, Any]:
        """Counts after the last iteration: active and archived pairs, environments, solved, ANNECS, transfers,
        and each active pair's score.
        """
        return {
            "iteration": self.iteration, "active": len(self.pairs), "archived": len(self.archive),
            "environments": len(self.envs), "scores": {pair.id: pair.score for pair in self.pairs},
            "annecs": self.annecs.value, "transfers_attempted": self.transfers_attempted,
            "transfers_accepted": self.transfers_accepted,
            "solved": sum(record.solved_at is not None for record in self.envs.values()),
        }

    # -- reproduction: minimal criterion, novelty, capacity ----------------------------------------------------
    def reproduce(self, evaluate: JobEvaluator) -> list[int]:
        """A reproduction step: mutate eligible parents' environments, keep children whose parent's agent passes
        the minimal criterion, rank them by novelty, and admit at most ``admit`` whose best agent (direct or one ES
        step, unless transfer is off) passes it too; pairs beyond ``capacity`` retire, oldest first, to the archive.
        Returns the admitted pair ids.
        """
        settings = self.settings
        eligible = [pair for pair in self.pairs if pair.score >= settings.repro_threshold]
        if not eligible:
            return []
        taken = {self.space.name(pair.env) for pair in self.pairs}
        children: list[tuple[Any, Pair]] = []
        for _ in range(settings.children):
            parent = eligible[int(self.rng.integers(len(eligible)))]
            child = self.space.mutate(parent.env, self.rng)
            if self.space.name(child) not in taken:
                taken.add(self.space.name(child))
                children.append((child, parent))
        if not children:
            return []
        # MC 1: the parent's agent on the child
        scores = _scores(evaluate([(child, parent.searcher.center) for child, parent in children], role=REPRODUCTION))
        passing = [(child, parent) for (child, parent), score in zip(children, scores)
                   if passes_mc(score, settings.mc_low, settings.mc_high)]
        parent_score = {id(child): score for (child, _), score in zip(children, scores)}
        ranked = sorted(zip(self._novelties([child for child, _ in passing], evaluate), passing),
                        key=lambda item: -item[0])
        ranked = [child_parent for _, child_parent in ranked]
        admitted = []
        tried = 0  # admission proposals so far this step (their noise indices)
        for child, parent in ranked:
            if len(admitted) >= settings.admit:
                break
            # MC 2: the best of every active agent, directly and after one ES step on the child (the reference's
            # proposals); archived agents count only for ANNECS
            agents = self.pairs + self.archive
            centers = [pair.searcher.center for pair in agents]
            scores = _scores(evaluate([(child, center) for center in centers], role=ADMISSION))
            candidates = list(zip(scores[:len(self.pairs)], centers))
            if not settings.transfer:  # the child keeps its parent's agent (it passed MC 1 with it)
                candidates = [(parent_score[id(child)], parent.searcher.center)]
            elif settings.admission_proposals:
                proposals = [Proposal(pair.searcher, fresh=settings.admission_state == "fresh",
                                      noise_seed=self._noise_seed(0, tried + k))
                             for k, pair in enumerate(self.pairs)]
                tried += len(proposals)
                self._es_step([(proposal, child) for proposal in proposals], evaluate, ADMISSION)
                tuned = [proposal.center for proposal in proposals]
                candidates += zip(_scores(evaluate([(child, center) for center in tuned], role=ADMISSION)), tuned)
            best_score, best_center = max(candidates, key=lambda candidate: candidate[0])
            if not passes_mc(best_score, settings.mc_low, settings.mc_high):
                continue
            pair = self._admit(child, best_center, parent=parent.id)
            pair.score = best_score
            self.annecs.created(str(pair.id), passes_mc(max(*scores, best_score), settings.mc_low, settings.mc_high))
            admitted.append(pair.id)
        while len(self.pairs) > settings.capacity:  # retire the oldest
            retired = self.pairs.pop(0)
            self.envs[retired.id].retired_at = self.iteration
            self.archive.append(retired)
        return admitted

    def _novelties(self, children: list[Any], evaluate: JobEvaluator) -> list[float]:
        """Novelty of each child against every environment ever admitted (active or retired)."""
        settings = self.settings
        if not children:
            return []
        existing = [record.env for record in self.envs.values()]
        if settings.novelty == "encoding":
            archive = [self.space.encoding(env) for env in existing]
            return [novelty(self.space.encoding(child), archive, settings.novelty_k) for child in children]
        # PATA-EC: every active and archived agent on every environment, recomputed at each reproduction step
        centers = [pair.searcher.center for pair in self.pairs + self.archive]
        envs = existing + children
        jobs = [(env, center) for env in envs for center in centers]
        scores = np.array(_scores(evaluate(jobs, role=NOVELTY))).reshape(len(envs), -1)
        characters = pata_ec(scores, settings.mc_low, settings.mc_high)
        archive = list(characters[:len(existing)])
        return [novelty(row, archive, settings.novelty_k) for row in characters[len(existing):]]

    # -- transfer --------------------------------------------------------------------------------------------------
    def transfer(self, evaluate: JobEvaluator) -> list[tuple[int, int]]:
        """Every agent is tried on every other pair's environment, directly and after one ES step there.

        ``transfer_rule: poet`` (original POET): a target adopts the best direct or fine-tuned candidate that
        beats its latest self-evaluation. ``enhanced`` (Enhanced POET, section 3.3): the bar is the best of the
        target's last 5 self-evaluations; only sources whose direct score clears it are fine-tuned, and only a
        fine-tuned candidate that also clears it is adopted. Either way the target restarts its optimiser."""
        pairs = self.pairs
        enhanced = self.settings.transfer_rule == "enhanced"
        bar = {target.id: max(target.recent[-RECENT_SCORES:], default=target.score) if enhanced else target.score
               for target in pairs}
        routes = [(source, target) for target in pairs for source in pairs if source is not target]
        direct = _scores(evaluate([(target.env, source.searcher.center) for source, target in routes], role=TRANSFER))
        tries = {target.id: len(pairs) - 1 for target in pairs}  # direct tries, then fine-tuned ones
        candidates = [] if enhanced else [(score, source.searcher.center, source, target)
                                          for (source, target), score in zip(routes, direct)]
        if enhanced:
            routes = [route for route, score in zip(routes, direct) if score > bar[route[1].id]]
        if (self.settings.fine_tune_transfer or enhanced) and routes:
            # the reference proposes from the source's agent with the target's optimiser moments
            proposals = [Proposal(target.searcher, source.searcher.center, noise_seed=self._noise_seed(1, k))
                         for k, (source, target) in enumerate(routes)]
            for _, target in routes:
                tries[target.id] += 1
            self._es_step([(proposal, target.env) for proposal, (_, target) in zip(proposals, routes)], evaluate,
                          TRANSFER)
            centers = [proposal.center for proposal in proposals]
            scores = _scores(evaluate([(target.env, center) for (_, target), center in zip(routes, centers)],
                                      role=TRANSFER))
            candidates += [(score, center, source, target)
                           for (source, target), center, score in zip(routes, centers, scores)]
        accepted = []
        self.transfers_attempted += sum(tries.values())
        for target in pairs:
            mine = [c for c in candidates if c[3] is target]
            if not mine:
                continue
            score, center, source, _ = max(mine, key=lambda c: c[0])
            if score > bar[target.id]:
                target.searcher = self._new_searcher(center, target.id)  # fresh optimiser and sigma
                target.score = score
                self._record(target, score, center)
                self.transfers_accepted += 1
                accepted.append((source.id, target.id))
        return accepted

    def _noise_seed(self, kind: int, index: int) -> int | None:
        """A proposal's own noise seed under ``proposal_noise: independent`` (None: the optimiser's next noise)."""
        if self.settings.proposal_noise == "shared":
            return None
        return proposal_seed(self.seed, self.iteration, kind, index)

    # -- checkpoints -----------------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to continue: settings, RNG, pairs with their searchers, archive, records."""
        return {"settings": self.settings.model_dump(), "es": self.es.model_dump(), "seed": self.seed,
                "rng": self.rng.bit_generator.state, "iteration": self.iteration, "next_id": self.next_id,
                "pairs": [_pair_state(pair) for pair in self.pairs],
                "archive": [_pair_state(pair) for pair in self.archive], "envs": self.envs,
                "annecs": self.annecs, "transfers": (self.transfers_attempted, self.transfers_accepted),
                "history": self.history}

    @classmethod
    def from_state(cls, state: dict[str, Any], space: EnvironmentSpace) -> POET:
        """The POET loop of a :meth:`state` dict, continuing exactly where it stopped."""
        poet = cls.__new__(cls)
        poet.settings, poet.es = POETSettings(**state["settings"]), ESSettings(**state["es"])
        poet.space, poet.seed = space, state["seed"]
        poet.rng = np.random.default_rng()
        poet.rng.bit_generator.state = state["rng"]
        poet.iteration, poet.next_id = state["iteration"], state["next_id"]
        poet.pairs = [_pair_from_state(s, poet.es) for s in state["pairs"]]
        poet.archive = [_pair_from_state(s, poet.es) for s in state["archive"]]
        poet.envs, poet.annecs = state["envs"], state["annecs"]
        poet.transfers_attempted, poet.transfers_accepted = state["transfers"]
        poet.history = state["history"]
        return poet


def _pair_state(pair: Pair) -> dict[str, Any]:
    return {"id": pair.id, "env": pair.env, "searcher": pair.searcher.state_bytes(), "score": pair.score,
            "created": pair.created, "parent": pair.parent, "dim": int(pair.searcher.center.numel()),
            "recent": pair.recent}


def _pair_from_state(state: dict[str, Any], es: ESSettings) -> Pair:
    searcher = ESSearcher(es, torch.zeros(state["dim"]), seed=0)
    searcher.load_state_bytes(state["searcher"])
    return Pair(state["id"], state["env"], searcher, state["score"], state["created"], state["parent"],
                list(state.get("recent", [])))


class POETSearcher:
    """The POET loop as a searcher of :class:`~evoforge.search.run.Run`: one :meth:`step` is one iteration.

    Every evaluation of the iteration goes through the Run's ``evaluate(jobs, role=...)`` as a batch of its own
    (its own seed sub-stream, failure check and entry in the generation's record): the pairs' ES populations
    (role ``population``: they carry the generation's fitness statistics and best genome), their
    self-evaluations (``self_eval``), and when due the children's first minimal criterion (``reproduction``),
    PATA-EC's scores (``novelty``), the admission tries (``admission``) and transfers (``transfer``).
    There is no single search center (:attr:`center` is None); the state is the whole POET loop, so it lives in
    the Run's checkpoints and a resumed run continues exactly.
    """

    center = None

    def __init__(self, poet: POET) -> None:
        self.poet = poet

    def step(self, evaluate: JobEvaluator) -> None:
        """One POET iteration (:meth:`POET.run_iteration`)."""
        self.poet.run_iteration(evaluate)

    def metrics(self) -> dict[str, Any]:
        """The last iteration's record: ``iteration`` (iterations completed), active and archived pairs,
        environments, solved, ANNECS, transfers attempted and accepted, each active pair's score, and the
        iteration's ``events`` (admitted pair ids, accepted transfers)."""
        if self.poet.history:
            return dict(self.poet.history[-1])
        return {**self.poet.metrics(), "events": {}}

    def state_bytes(self) -> bytes:
        """The whole POET state (:meth:`POET.state`) pickled."""
        return pickle.dumps(self.poet.state(), protocol=pickle.HIGHEST_PROTOCOL)

    def load_state_bytes(self, data: bytes) -> None:
        """Continue from :meth:`state_bytes`; the budget (``generations``) is this searcher's, which a resumed
        run may have extended."""
        poet = POET.from_state(pickle.loads(data), self.poet.space)
        poet.settings = poet.settings.model_copy(update={"generations": self.poet.settings.generations})
        self.poet = poet
