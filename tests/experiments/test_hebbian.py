"""Hebbian rules evolved from random weights: batch-invariant evaluation, and an end-to-end solve."""

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
