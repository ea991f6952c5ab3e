"""Hebbian rules evolved from random weights: batch-invariant evaluation, and an end-to-end solve."""

import pytest
import torch

from evoforge.experiments import load_experiment
from evoforge.search.run import Run

from ..conftest import CONFIGS

CONFIG = CONFIGS / "hebbian_cartpole.yaml"


def test_a_chunk_evaluates_like_its_genomes_one_by_one():
    experiment = load_experiment(CONFIG, ["env.episodes=2", "env.id=Pendulum-v1", "stop_fitness=null"])
    evaluator = experiment.evaluator_factory()()
    evaluator.setup()
    genomes = torch.randn(5, experiment.net.num_params, generator=torch.Generator().manual_seed(0))
    seeds = [11, 12, 13, 14, 15]
    together = evaluator.evaluate(genomes, seeds)
    alone = [evaluator.evaluate(genomes[i : i + 1], seeds[i : i + 1])[0] for i in range(5)]
    assert [e.fitness for e in together] == [e.fitness for e in alone]
    assert len({e.fitness for e in together}) == 5


def test_hebbian_rules_from_random_weights_solve_cartpole(tmp_path):
    summary = Run(load_experiment(CONFIG, ["pool.backend=serial"]), tmp_path / "run", progress=False).execute()
    assert summary["solved"] and summary["best_center_eval"] >= 475.0


def test_training_on_two_morphologies_and_replaying_on_the_held_out_one():
    experiment = load_experiment(CONFIG, [
        "env.id=evoforge/Quadruped-v0", "env.also_ids=[evoforge/QuadrupedDamagedRightFront-v0]",
        "env.max_episode_steps=60", "network.hidden=[16]", "network.output_activation=tanh",
        "network.normalisation=none", "stop_fitness=null",
    ])
    evaluator = experiment.evaluator_factory()()
    evaluator.setup()
    genomes = torch.randn(2, experiment.net.num_params, generator=torch.Generator().manual_seed(0))
    evaluations = evaluator.evaluate(genomes, [5, 6])
    penalty = evaluator.fitness_penalty(genomes)
    for evaluation, pen in zip(evaluations, penalty):
        per_env = [evaluation.metrics["return:evoforge/Quadruped-v0"],
                   evaluation.metrics["return:evoforge/QuadrupedDamagedRightFront-v0"]]
        assert per_env[0] != per_env[1]  # the damaged leg changes the episode
        assert evaluation.fitness == pytest.approx(sum(per_env) / 2 - pen)
    returns, _ = experiment.replay(genomes[0], 1, seed=1, record=False, env_id="evoforge/QuadrupedDamagedLeftFront-v0")
    assert len(returns) == 1
    with pytest.raises(ValueError, match="unknown gymnasium env id"):
        experiment.replay(genomes[0], 1, seed=1, record=False, env_id="evoforge/Quadruped-v9")
