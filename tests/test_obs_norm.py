"""Observation normalisation (Salimans et al. 2017): exact merged statistics, gathered in the actors and merged in
genome order (serial == Ray), kept in checkpoints (resume == uninterrupted) and best.pt (replay uses them)."""

import json

import numpy as np

from evoforge.cli import main
from evoforge.experiments import load_experiment
from evoforge.policies.obs_norm import ObsNormalizer, ObsRecorder
from evoforge.search.rundir import RunDir

from .conftest import CONFIGS

CARTPOLE = CONFIGS / "es_cartpole.yaml"
ON = ["env.normalize_observations=true", "search.popsize=8", "center_eval.evaluations=2"]


def test_merged_statistics_equal_the_direct_ones_and_normalising_clips():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 4)) for n in (5, 9, 1)]
    recorder = ObsRecorder(genomes=3, episodes=1, shape=(4,))
    for genome, batch in enumerate(batches):
        recorder.add(batch, np.full(len(batch), genome))
    merged = ObsNormalizer.empty((4,)).merged([recorder.stats(g) for g in range(3)])
    everything = np.concatenate(batches)
    assert merged.count == len(everything)
    np.testing.assert_allclose(merged.mean, everything.mean(axis=0))
    np.testing.assert_allclose(merged.std, np.sqrt(np.maximum(everything.var(axis=0), 1e-2)))
    empty = ObsNormalizer.empty((4,))
    x = np.array([[0.5, -2.0, 100.0, 0.0]], np.float32)
    np.testing.assert_array_equal(empty(x), np.clip(x, -5, 5))  # identity before any observation, then clipped
    assert merged(x).dtype == np.float32


def _run(tmp_path, name, overrides):
    run_dir = tmp_path / name
    assert main(["run", str(CARTPOLE), "--quiet", "--out", str(run_dir),
                 *[word for item in overrides for word in ("--set", item)]]) == 0
    _, payload, _ = RunDir(run_dir).load_checkpoint()
    return json.loads((run_dir / "summary.json").read_text()), payload, run_dir


def test_statistics_are_gathered_from_every_training_observation_and_survive_resume(tmp_path):
    summary, payload, run_dir = _run(tmp_path, "straight", [*ON, "search.generations=4", "pool.backend=serial"])
    context = payload["context"]
    # one observation per policy step of every population rollout (center re-scores act, but are not training)
    assert isinstance(context, ObsNormalizer) and context.count == summary["env_steps"] > 0
    _, _, split = _run(tmp_path, "split", [*ON, "search.generations=2", "pool.backend=serial"])
    assert main(["resume", str(split), "--generations", "4", "--quiet"]) == 0  # its config says serial
    _, resumed, _ = RunDir(split).load_checkpoint()
    assert resumed["context"].count == context.count
    np.testing.assert_array_equal(resumed["context"].total, context.total)

    def records(path):
        return [{k: v for k, v in json.loads(line).items()
                 if not k.endswith(("_s", "_per_s")) and k not in ("nodes", "bytes_to_actors")}
                for line in (path / "metrics.jsonl").read_text().splitlines()]

    assert records(run_dir) == records(split)
    off, _, _ = _run(tmp_path, "off", ["search.popsize=8", "center_eval.evaluations=2", "search.generations=4",
                                       "pool.backend=serial"])
    assert records(tmp_path / "off") != records(run_dir)  # the normaliser changes what the policy sees


def test_ray_actors_gather_the_same_statistics_as_the_serial_pool(tmp_path, ray_local):
    _, serial, _ = _run(tmp_path, "serial", [*ON, "search.generations=2", "pool.backend=serial"])
    _, ray, _ = _run(tmp_path, "ray", [*ON, "search.generations=2", "pool.workers=2", "pool.chunk_size=3"])
    assert ray["context"].count == serial["context"].count
    np.testing.assert_array_equal(ray["context"].total, serial["context"].total)
    np.testing.assert_array_equal(ray["context"].squares, serial["context"].squares)


def test_replay_plays_the_best_genome_with_the_normaliser_it_was_scored_with(tmp_path, capsys):
    _, _, run_dir = _run(tmp_path, "run", [*ON, "search.generations=3", "pool.backend=serial"])
    best = RunDir(run_dir).read_best()
    assert isinstance(best.context, ObsNormalizer) and best.context.count > 0
    experiment = load_experiment(run_dir / "config.yaml")
    with_context, _ = experiment.replay(best.genome, 3, 12345, context=best.context)
    without, _ = experiment.replay(best.genome, 3, 12345)
    assert with_context != without  # the statistics matter to this policy
    assert main(["replay", str(run_dir), "--episodes", "3", "--seed", "12345"]) == 0
    printed = capsys.readouterr().out
    assert f"mean return {np.mean(with_context):.2f}" in printed
