"""``experiment: gym_control`` with ``policy.kind: gru``: config checks, the batched evaluator's per-episode states
(batch-invariant, equal to torch's GRUCell run step by step), and a short serial run through the engine."""

import json
import math

import numpy as np
import pytest
import torch

from evoforge.cli import main
from evoforge.envs.rollout import rollout_batch
from evoforge.experiments import load_experiment
from evoforge.experiments.config import ConfigError
from evoforge.experiments.gym_control import load_genome
from evoforge.policies.recurrent import BatchedGRU
from evoforge.search.metrics import read_metrics
from evoforge.search.seeds import episode_seeds

from ..conftest import CONFIGS

CONFIG = CONFIGS / "gru_cartpole.yaml"
QUICK = ["search.generations=3", "search.popsize=8", "center_eval.evaluations=2", "stop_fitness=null"]


def _evaluator(overrides):
    experiment = load_experiment(CONFIG, ["stop_fitness=null", *overrides])
    evaluator = experiment.evaluator_factory()()
    evaluator.setup()
    return experiment, evaluator


def _genomes(evaluator, count, seed, scale=0.5):
    return torch.randn(count, evaluator.network.num_params, generator=torch.Generator().manual_seed(seed)) * scale


def test_config_builds_a_gru_and_refuses_other_hidden_lists():
    experiment, evaluator = _evaluator([])
    assert isinstance(evaluator.network, BatchedGRU)
    assert (evaluator.network.n_obs, evaluator.network.hidden, evaluator.network.n_out) == (4, 16, 2)
    assert experiment.center_init.shape == (3 * 16 * (4 + 16 + 2) + 2 * (16 + 1),)  # 1090
    assert torch.count_nonzero(load_experiment(CONFIG, ["policy.init=zeros"]).center_init) == 0
    for hidden in ("[16,16]", "[]"):
        with pytest.raises(ConfigError, match=r"^policy\.hidden: a gru policy takes exactly one hidden width"):
            load_experiment(CONFIG, [f"policy.hidden={hidden}"])
    # The mlp default hidden [64, 64] is checked against kind too.
    es_cartpole = CONFIGS / "es_cartpole.yaml"
    with pytest.raises(ConfigError, match=r"^policy\.hidden: a gru policy"):
        load_experiment(es_cartpole, ["policy.kind=gru", "policy.hidden=[8,8]"])
    assert load_experiment(es_cartpole, ["policy.kind=gru"]).center_init.numel() == 3 * 16 * 22 + 2 * 17


@pytest.mark.parametrize("overrides", [
    ["env.episodes=3"],  # CartPole: integer rewards, episodes of 8 to 42 steps
    ["env.episodes=2", "env.id=LunarLander-v3", "env.max_episode_steps=300"],  # float rewards
])
def test_a_chunk_evaluates_like_its_genomes_one_by_one(overrides):
    """Rows drop out as their episodes end at different times; each keeps its own state and genome."""
    _, evaluator = _evaluator(overrides)
    genomes = _genomes(evaluator, 4, 0)
    seeds = [11, 12, 13, 14]
    together = evaluator.rollout(genomes, seeds)
    assert len(set(together.lengths.tolist())) > 3, "the episodes should end at different times"
    for g in range(4):
        alone = evaluator.rollout(genomes[g : g + 1], seeds[g : g + 1])
        episodes = evaluator.env_settings.episodes
        rows = slice(g * episodes, (g + 1) * episodes)
        assert (alone.returns == together.returns[rows]).all()
        assert (alone.lengths == together.lengths[rows]).all()
    fitness = [e.fitness for e in evaluator.evaluate(genomes, seeds)]
    assert fitness == [evaluator.evaluate(genomes[g : g + 1], seeds[g : g + 1])[0].fitness for g in range(4)]
    assert fitness == [e.fitness for e in evaluator.evaluate(genomes, seeds)]  # no state left from the last chunk


def _torch_policy(evaluator, genomes, episodes, memory=True):
    """A reference policy: genome g's episodes run torch's GRUCell + Linear, one row at a time; ``memory=False``
    feeds h = 0 at every step instead of the carried state."""
    gru = evaluator.network
    modules = []
    for genome in genomes:
        cell, readout = torch.nn.GRUCell(gru.n_obs, gru.hidden), torch.nn.Linear(gru.hidden, gru.n_out)
        torch.nn.utils.vector_to_parameters(genome.clone(), [*cell.parameters(), *readout.parameters()])
        modules.append((cell, readout))
    states = [torch.zeros(1, gru.hidden) for _ in range(len(genomes) * episodes)]

    def act(observations, alive):
        outputs = []
        with torch.no_grad():
            for obs, row in zip(observations, alive):
                cell, readout = modules[row // episodes]
                h = cell(torch.from_numpy(obs[None]), states[row] if memory else torch.zeros(1, gru.hidden))
                states[row] = h
                outputs.append(readout(h)[0].numpy())
        return evaluator.action_map(np.stack(outputs))

    return act


def test_returns_equal_torch_step_by_step_and_depend_on_the_state():
    _, evaluator = _evaluator(["env.episodes=2"])
    genomes = _genomes(evaluator, 6, 1)
    seeds = [[s for s in episode_seeds(seed, 2)] for seed in range(6)]
    flat_seeds = [s for row in seeds for s in row]
    envs = evaluator.envs["CartPole-v1"]
    ours = evaluator.play(genomes, seeds)
    reference = rollout_batch(envs, _torch_policy(evaluator, genomes, 2), flat_seeds)
    assert (ours.returns == reference.returns).all() and (ours.lengths == reference.lengths).all()
    memoryless = rollout_batch(envs, _torch_policy(evaluator, genomes, 2, memory=False), flat_seeds)
    assert (memoryless.returns != ours.returns).sum() >= 3, "the carried state should change the episodes"


def test_weight_penalty_and_init_from(tmp_path):
    _, evaluator = _evaluator(["policy.weight_penalty=0.5"])
    genomes = _genomes(evaluator, 3, 2)
    penalty = 0.5 * (genomes.double() ** 2).mean(dim=1)
    for evaluation, pen in zip(evaluator.evaluate(genomes, [1, 2, 3]), penalty):
        assert evaluation.fitness == pytest.approx(evaluation.metrics["episode_return"] - float(pen))
    saved = tmp_path / "genome.pt"
    torch.save(genomes[1], saved)
    assert torch.equal(load_experiment(CONFIG, [f"policy.init_from={saved}"]).center_init, genomes[1])
    torch.save(genomes[1, :-1], saved)
    with pytest.raises(ValueError, match="genome has 1089 parameters, the GRU needs 1090"):
        load_experiment(CONFIG, [f"policy.init_from={saved}"])


def test_a_serial_run_completes_and_replays(tmp_path):
    run_dir = tmp_path / "run"
    sets = [arg for override in QUICK for arg in ("--set", override)]
    assert main(["run", str(CONFIG), "--serial", "--quiet", "--out", str(run_dir), *sets]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["generations_completed"] == 3
    records = read_metrics(run_dir)
    assert len(records) == 3
    assert all(math.isfinite(r["fitness_mean"]) and math.isfinite(r["center_eval"]) for r in records)
    assert math.isfinite(summary["best_fitness"]) and summary["best_fitness"] >= 9  # CartPole: >= 9 steps
    best = load_genome(run_dir / "best.pt")
    assert best.shape == (1090,)
    experiment = load_experiment(run_dir / "config.yaml", [])
    returns, _ = experiment.replay(best, 2, seed=0)
    assert len(returns) == 2 and all(math.isfinite(r) for r in returns)


def test_the_quadruped_and_navigation_gru_baselines_load_with_their_stated_sizes():
    from evoforge.experiments import load_experiment

    # 3 H (n_obs + H + 2) + n_out (H + 1), as the configs' comments state
    assert load_experiment(CONFIGS / "gru_quadruped_quick.yaml", []).center_init.numel() == 18_568
    assert load_experiment(CONFIGS / "gru_navigation.yaml", []).center_init.numel() == 994
