"""Fixtures shared by the experiment tests."""

import pytest
import torch

from evoforge.experiments import load_experiment

from ..conftest import CONFIGS


@pytest.fixture(scope="module")
def pendulum():
    """The quick start's Hebbian network on Pendulum-v1 with a fixed random genome: every episode runs its 200
    steps whatever the policy, so perturbed, frozen and unperturbed episodes have equal length."""
    experiment = load_experiment(CONFIGS / "quickstart.yaml", ["env.id=Pendulum-v1", "stop_fitness=null"])
    genome = torch.randn(experiment.net.num_params, generator=torch.Generator().manual_seed(3)) * 0.5
    return experiment, genome
