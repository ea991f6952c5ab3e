"""Hebbian rules evolved from random weights: batch-invariant evaluation, and an end-to-end solve."""

import pytest
import torch

from evoforge.experiments import load_experiment

from ..conftest import CONFIGS

CONFIG = CONFIGS / "quickstart.yaml"  # Hebbian rules on CartPole; its solve is tested in test_run


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


def test_carracing_from_pixels_end_to_end(tmp_path):
    """The paper's CarRacing agent (CNN + Hebbian FC layers) trains, checkpoints and replays to a video."""
    from evoforge.cli import main

    overrides = ["search.popsize=4", "search.generations=2", "env.max_episode_steps=40", "center_eval.every=2",
                 "center_eval.evaluations=1"]
    config = CONFIGS / "hebbian_carracing_quick.yaml"
    experiment = load_experiment(config, overrides)
    assert experiment.net.num_params == 5 * (648 * 128 + 128 * 64 + 64 * 3) + 1362  # 458,002 as in the paper
    sets = [arg for o in overrides for arg in ("--set", o)]
    assert main(["run", str(config), "--serial", "--quiet", "--out", str(tmp_path / "run"), *sets]) == 0
    assert (tmp_path / "run" / "best.pt").is_file()
    assert main(["replay", str(tmp_path / "run"), "--episodes", "1", "--video", str(tmp_path / "car.gif")]) == 0
    assert (tmp_path / "car.gif").stat().st_size > 1000


def test_pixel_chunk_evaluates_like_its_genomes_one_by_one():
    experiment = load_experiment(CONFIGS / "hebbian_carracing_quick.yaml", ["env.max_episode_steps=25"])
    evaluator = experiment.evaluator_factory()()
    evaluator.setup()
    genomes = torch.randn(3, experiment.net.num_params, generator=torch.Generator().manual_seed(1)) * 0.5
    seeds = [3, 4, 5]
    together = evaluator.evaluate(genomes, seeds)
    alone = [evaluator.evaluate(genomes[i : i + 1], seeds[i : i + 1])[0] for i in range(3)]
    # Grouped and single convolutions sum in another order: equal up to float32 rounding, not bit for bit.
    assert [e.fitness for e in together] == pytest.approx([e.fitness for e in alone], abs=1e-3)
