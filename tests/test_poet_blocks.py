"""POET building blocks: novelty, minimal criterion, ANNECS, ES steps of many pairs in one evaluation, failed
evaluations, and the POET searcher of the Run."""

import signal
import threading
import time

import numpy as np
import pytest
import torch

from evoforge.errors import TooManyFailures
from evoforge.experiments.poet import MC_HIGH, MC_LOW, SOLVED  # the reference walker's, as on the walker
from evoforge.search.es import ESSearcher, ESSettings
from evoforge.search.evaluation import Evaluation
from evoforge.search.poet import ANNECS, novelty, passes_mc, step_together

WALKER = {"mc_low": MC_LOW, "mc_high": MC_HIGH, "solved": SOLVED}


def test_novelty_is_the_mean_distance_to_the_k_nearest():
    archive = [np.array([0.0, 0]), np.array([3.0, 4]), np.array([0.0, 1]), np.array([10.0, 0])]
    assert novelty(np.array([0.0, 0]), archive, k=2) == pytest.approx((0 + 1) / 2)
    assert novelty(np.array([0.0, 0]), archive, k=3) == pytest.approx((0 + 1 + 5) / 3)
    assert novelty(np.array([0.0, 0]), archive[:1], k=5) == 0.0  # fewer than k: all of them
    assert novelty(np.array([1.0, 1]), [], k=5) == 0.0


def test_minimal_criterion_bounds_are_inclusive():
    assert passes_mc(25, MC_LOW, MC_HIGH) and passes_mc(340, MC_LOW, MC_HIGH) and passes_mc(100, MC_LOW, MC_HIGH)
    assert not passes_mc(24.9, MC_LOW, MC_HIGH) and not passes_mc(340.1, MC_LOW, MC_HIGH)
    assert passes_mc(50, 50, 300) and not passes_mc(301, 50, 300)


def test_annecs_counts_environments_that_passed_the_mc_and_were_solved():
    annecs = ANNECS(SOLVED)
    annecs.created("a", True)
    annecs.created("b", True)
    annecs.created("c", False)  # too easy or too hard for some earlier agent: never counts
    annecs.scored("a", 229.9)
    assert annecs.value == 0
    annecs.scored("a", 231)
    annecs.scored("c", 300)
    assert annecs.value == 1
    annecs.scored("b", 230)
    assert annecs.value == 2


def _targets():
    return [torch.full((4,), float(k)) for k in (1, -2, 3)]


def _score(genomes, target):
    return [Evaluation(fitness=-float(((g - target) ** 2).sum())) for g in genomes]


def test_stepping_together_equals_stepping_one_after_the_other():
    settings = ESSettings(algorithm="openai_es", popsize=8, sigma=0.3, learning_rate=0.1)
    targets = _targets()
    alone = [ESSearcher(settings, torch.zeros(4), seed=s) for s in (1, 2, 3)]
    together = [ESSearcher(settings, torch.zeros(4), seed=s) for s in (1, 2, 3)]
    calls = []

    def evaluate_all(genomes):  # the merged batch: 8 genomes of each searcher, in searcher order
        calls.append(len(genomes))
        return [e for k in range(3) for e in _score(genomes[8 * k:8 * (k + 1)], targets[k])]

    for _ in range(5):
        for searcher, target in zip(alone, targets):
            searcher.step(lambda population, target=target: _score(population, target))
        step_together(together, evaluate_all)
    assert calls == [24] * 5  # one evaluation call per step of all three
    for a, b in zip(alone, together):
        torch.testing.assert_close(a.center, b.center, rtol=0, atol=0)


def test_a_failing_evaluation_fails_the_step_without_hanging():
    settings = ESSettings(algorithm="openai_es", popsize=4)
    searchers = [ESSearcher(settings, torch.zeros(2), seed=s) for s in (1, 2)]

    def broken(genomes):
        raise ValueError("boom")

    with pytest.raises((ValueError, RuntimeError)):
        step_together(searchers, broken)


class PointSpace:
    """A cheap stand-in for terrains: an environment is a target point, an agent scores 300 - 100 x its
    distance to it (so the MC, reproduction threshold and 'solved' behave as on the walker)."""

    def mutate(self, env, rng):
        step = rng.choice([-1.0, 1.0], size=2) * rng.integers(0, 2, size=2)
        return {"target": [float(v) for v in np.asarray(env["target"]) + step]}

    def encoding(self, env):
        return np.asarray(env["target"], dtype=float)

    def name(self, env):
        return str(env["target"])


def point_scores(jobs, role="population"):
    return [Evaluation(fitness=300.0 - 100.0 * float(np.linalg.norm(genome[:2].numpy() - np.asarray(env["target"]))))
            for env, genome in jobs]


def small_poet(seed=0, **overrides):
    from evoforge.search.poet import POET, POETSettings

    settings = POETSettings(**{"generations": 30, "capacity": 3, "reproduce_every": 4, "transfer_every": 3,
                               "children": 4, **WALKER, **overrides})
    es = ESSettings(algorithm="openai_es", popsize=8, sigma=0.2, learning_rate=0.1)
    return POET(settings, es, PointSpace(), {"target": [0.0, 0.0]}, num_params=3, seed=seed)


def test_poet_grows_environments_transfers_and_counts_annecs():
    accepted = 0
    for seed in range(3):  # transfers are rare on this toy: at least one over three seeds
        poet = small_poet(seed=seed)
        for _ in range(30):
            record = poet.run_iteration(point_scores)
        assert record["environments"] > 3 and record["active"] == 3 and record["archived"] >= 1  # capacity 3
        assert record["annecs"] >= 1 and record["transfers_attempted"] > record["transfers_accepted"]
        accepted += record["transfers_accepted"]
        for record_env in poet.envs.values():  # every admitted child passed the MC with its first agent
            assert record_env.parent is None or record_env.best_score >= 25
        parents = {r.id: r.parent for r in poet.envs.values()}
        assert all(p is None or p in parents for p in parents.values())  # a tree rooted at the flat start
    assert accepted >= 1


def test_proposals_follow_the_reference_fresh_admission_state_and_independent_noise(monkeypatch):
    """Admission proposals step from a fresh optimiser, every proposal with its own noise seed (distinct within
    an iteration); ``shared`` / ``current`` restore the searcher's own noise and state."""
    from evoforge.search import poet_blocks

    made = []
    original = poet_blocks.Proposal.__init__

    def spy(self, searcher, start=None, fresh=False, noise_seed=None):
        made.append((fresh, noise_seed, start is None))
        original(self, searcher, start, fresh, noise_seed)

    monkeypatch.setattr(poet_blocks.Proposal, "__init__", spy)
    poet = small_poet(seed=1)
    for _ in range(13):
        poet.run_iteration(point_scores)
    admissions = [m for m in made if m[2]]  # admission proposals start from the agent's own centre
    transfers = [m for m in made if not m[2]]
    assert admissions and transfers
    assert all(fresh for fresh, _, _ in admissions) and not any(fresh for fresh, _, _ in transfers)
    seeds = [seed for _, seed, _ in made]
    assert None not in seeds and len(set(seeds)) == len(seeds)
    made.clear()
    poet = small_poet(seed=1, admission_state="current", proposal_noise="shared")
    for _ in range(13):
        poet.run_iteration(point_scores)
    assert made and all(not fresh and seed is None for fresh, seed, _ in made)


def test_poet_without_transfer_never_transfers_and_children_keep_their_parents_agent():
    poet = small_poet(transfer=False)
    admissions = []
    admit = poet._admit

    def spy(env, centre, parent):
        if parent is not None:  # the child's first agent must be its parent's current centre
            parent_pair = next(pair for pair in poet.pairs if pair.id == parent)
            admissions.append(torch.equal(centre, parent_pair.searcher.center))
        return admit(env, centre, parent)

    poet._admit = spy
    for _ in range(30):
        record = poet.run_iteration(point_scores)
    assert record["environments"] > 3 and admissions and all(admissions)  # it still grows environments
    assert record["transfers_attempted"] == 0 and record["transfers_accepted"] == 0
    assert not any("transfers" in r["events"] for r in poet.history)
    with_transfer = small_poet()
    for _ in range(30):
        with_transfer.run_iteration(point_scores)
    assert with_transfer.history[-1]["transfers_attempted"] > 0


def test_poet_resumes_from_its_state_to_the_same_result():
    import pickle

    from evoforge.search.poet import POET

    straight = small_poet(seed=3)
    for _ in range(14):
        straight.run_iteration(point_scores)
    first = small_poet(seed=3)
    for _ in range(7):
        first.run_iteration(point_scores)
    resumed = POET.from_state(pickle.loads(pickle.dumps(first.state())), PointSpace())
    for _ in range(7):
        resumed.run_iteration(point_scores)
    assert resumed.history == straight.history
    assert [p.id for p in resumed.pairs] == [p.id for p in straight.pairs]
    for a, b in zip(resumed.pairs, straight.pairs):
        torch.testing.assert_close(a.searcher.center, b.searcher.center, rtol=0, atol=0)


def test_pata_ec_clips_then_ranks_each_environment_row():
    from evoforge.search.poet import pata_ec

    scores = np.array([[10.0, 300.0, 500.0, 100.0],   # clipped to 25, 300, 340, 100 -> ranks 0, 2, 3, 1
                       [-50.0, -60.0, 400.0, 30.0]])  # clipped to 25, 25, 340, 30 -> ties keep order: 0, 1, 3, 2
    expected = np.array([[0, 2, 3, 1], [0, 1, 3, 2]]) / 3 - 0.5
    np.testing.assert_allclose(pata_ec(scores, MC_LOW, MC_HIGH), expected)
    np.testing.assert_array_equal(pata_ec(np.array([[5.0], [7.0]]), MC_LOW, MC_HIGH), np.zeros((2, 1)))


def test_poet_with_pata_ec_novelty_runs_and_grows():
    from evoforge.search.poet import POET, POETSettings

    settings = POETSettings(capacity=3, reproduce_every=4, transfer_every=3, children=4, novelty="pata_ec",
                            novelty_k=1, **WALKER)
    es = ESSettings(algorithm="openai_es", popsize=8, sigma=0.2, learning_rate=0.1)
    poet = POET(settings, es, PointSpace(), {"target": [0.0, 0.0]}, num_params=3, seed=0)
    for _ in range(20):
        record = poet.run_iteration(point_scores)
    assert record["environments"] >= 3 and len(poet.pairs) + len(poet.archive) >= 3
    # a child that copies an admitted environment ranks the agents exactly as it does: novelty 0 with k = 1;
    # a far-away one, where every agent scores below the MC and so ties, does not
    copy_of_first = dict(poet.envs[0].env)
    far = {"target": [40.0, -40.0]}
    same, other = poet._novelties([copy_of_first, far], point_scores)
    assert same == 0.0 and other > 0.0


def _two_pairs(rule, recent_b):
    """Pair 0 solves its target (300); pair 1 scores 100 at home, and pair 0's agent scores 200 there."""
    from evoforge.search.poet import POET, POETSettings

    settings = POETSettings(capacity=3, transfer_rule=rule, **WALKER)
    es = ESSettings(algorithm="openai_es", popsize=8, sigma=0.2, learning_rate=0.1)
    poet = POET(settings, es, PointSpace(), {"target": [0.0, 0.0]}, num_params=3, seed=0)
    poet.pairs[0].searcher = poet._new_searcher(torch.zeros(3), 0)
    second = poet._admit({"target": [1.0, 0.0]}, torch.tensor([3.0, 0.0, 0.0]), parent=0)
    poet.pairs[0].score, poet.pairs[0].recent = 300.0, [300.0]
    second.score, second.recent = 100.0, recent_b
    return poet, second


def test_original_transfer_adopts_a_direct_candidate_that_beats_the_latest_score():
    poet, second = _two_pairs("poet", [250.0, 100.0])
    assert poet.transfer(point_scores) == [(0, 1)]
    assert poet.transfers_attempted == 4  # per target: one direct and one fine-tuned try
    assert second.score >= 200.0


def test_enhanced_transfer_needs_to_beat_the_best_of_the_last_five_scores():
    poet, second = _two_pairs("enhanced", [250.0, 100.0])  # the bar is 250; the direct score is 200
    assert poet.transfer(point_scores) == [] and poet.transfers_attempted == 2  # nothing cleared it: no fine-tune
    assert second.score == 100.0 and torch.equal(second.searcher.center, torch.tensor([3.0, 0.0, 0.0]))

    poet, second = _two_pairs("enhanced", [150.0, 100.0])  # bar 150: fine-tuned, then adopted
    assert poet.transfer(point_scores) == [(0, 1)] and poet.transfers_attempted == 3
    assert second.score > 150.0
    assert not torch.equal(second.searcher.center, torch.zeros(3))  # the fine-tuned agent, not the direct one


class _Asks:
    """A searcher stand-in whose step asks for one population, after ``delay`` seconds."""

    def __init__(self, delay=0.0):
        self.delay, self.error = delay, None

    def step(self, ask):
        time.sleep(self.delay)
        try:
            ask(torch.zeros(2, 3))
        except BaseException as exc:
            self.error = exc
            raise


class _Stop(Exception):
    pass


def test_an_exception_in_the_callers_thread_leaves_no_thread_blocked():
    """A signal while the caller waits for the populations (a run interrupted mid-iteration) must not leave
    a searcher's thread waiting on the barrier for ever."""
    def stop(signum, frame):
        raise _Stop()

    before = threading.active_count()
    quick, slow = _Asks(), _Asks(delay=0.6)  # quick waits on the barrier, slow has not asked yet
    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, 0.2, 0.5)  # repeats: without the fix the join would hang, not fail
    try:
        with pytest.raises(_Stop):
            step_together([quick, slow], lambda genomes: [Evaluation(fitness=0.0)] * len(genomes))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert threading.active_count() == before  # every searcher thread has finished
    assert isinstance(quick.error, threading.BrokenBarrierError)
    assert isinstance(slow.error, threading.BrokenBarrierError)


def test_the_evaluators_error_propagates_and_no_thread_is_left():
    before = threading.active_count()

    def too_many(genomes):
        raise TooManyFailures("generation 0: 3 of 4 evaluations failed")

    with pytest.raises(TooManyFailures):
        step_together([_Asks(), _Asks()], too_many)
    assert threading.active_count() == before


def _failing(*roles):
    """point_scores, except that every job of the given roles fails (as a worker's exception would)."""
    def evaluate(jobs, role="population"):
        if role in roles:
            return [Evaluation.failure("RuntimeError: injected") for _ in jobs]
        return point_scores(jobs, role)

    return evaluate


def test_a_failed_evaluation_never_passes_the_minimal_criterion_nor_wins_a_transfer():
    poet = small_poet()
    for _ in range(12):
        poet.run_iteration(_failing("reproduction"))
    assert len(poet.envs) == 1  # no child passed its parent's minimal criterion

    poet = small_poet()
    for _ in range(12):
        poet.run_iteration(_failing("transfer"))
    assert len(poet.pairs) > 1 and poet.transfers_attempted > 0 and poet.transfers_accepted == 0

    poet = small_poet()
    for _ in range(6):
        record = poet.run_iteration(_failing("self_eval"))
    assert all(score == float("-inf") for score in record["scores"].values())
    assert record["solved"] == 0 and record["annecs"] == 0


def test_failed_rollouts_rank_last_in_the_pairs_es_step():
    poet = small_poet()
    calls = []

    def evaluate(jobs, role="population"):
        calls.append(role)
        results = point_scores(jobs, role)
        if role == "population":  # the first rollout of every step fails
            results[0] = Evaluation.failure("RuntimeError: injected")
        return results

    for _ in range(8):
        poet.run_iteration(evaluate)
    assert calls[:2] == ["population", "self_eval"] and "transfer" in calls
    assert len(poet.envs) > 1 and all(np.isfinite(pair.score) for pair in poet.pairs)


def test_the_poet_searcher_checkpoints_the_whole_loop():
    from evoforge.search.poet import POETSearcher

    roles = []

    def evaluate(jobs, role="population"):
        roles.append(role)
        return point_scores(jobs, role)

    straight, first = POETSearcher(small_poet(seed=2)), POETSearcher(small_poet(seed=2))
    assert straight.center is None and straight.metrics()["iteration"] == 0
    for _ in range(10):
        straight.step(evaluate)
    for _ in range(5):
        first.step(evaluate)
    resumed = POETSearcher(small_poet(seed=2, generations=40))
    resumed.load_state_bytes(first.state_bytes())
    assert resumed.poet.settings.generations == 40  # the budget is the (possibly extended) config's
    for _ in range(5):
        resumed.step(evaluate)
    assert resumed.poet.history == straight.poet.history
    metrics = resumed.metrics()
    assert metrics["iteration"] == 10 and "events" in metrics and metrics["environments"] > 1
    assert {"population", "self_eval", "reproduction", "admission", "transfer"} <= set(roles)
