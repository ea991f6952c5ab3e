"""Problem settings from keyword arguments, as the reference takes them: targets, reward weights and ranges,
starting tile probabilities; from make_problem, the envs and a PCGRL config, with one-line errors."""

import math
import re

import gymnasium
import pytest

import evoforge.envs  # noqa: F401 - registers the ids
from evoforge.envs.pcgrl.problems import make_problem
from evoforge.experiments import load_experiment
from evoforge.experiments.config import ConfigError

from ...conftest import CONFIGS


def test_weights_and_ranges_change_the_reward_of_named_terms_only():
    default, heavier = make_problem("zelda"), make_problem("zelda", weights={"regions": 10, "path-length": 0})
    old = {"player": 1, "key": 1, "door": 1, "enemies": 2, "regions": 3, "nearest-enemy": 5, "path-length": 10}
    new = dict(old, regions=1, **{"path-length": 20})
    assert default.reward(new, old) == 5 * 2 + 1 * 10  # regions 3 -> 1 (weight 5), path +10 (weight 1)
    assert heavier.reward(new, old) == 10 * 2 + 0
    widened = make_problem("zelda", ranges={"enemies": [1, 8]})
    assert [t[2:] for t in widened.reward_terms() if t[0] == "enemies"] == [(1.0, 8.0)]
    assert default.reward_term_names() == ["player", "key", "door", "enemies", "regions", "nearest-enemy",
                                           "path-length"]
    sokoban = make_problem("sokoban", weights={"crate-target-difference": 0})
    assert sokoban.reward({"player": 1, "crate": 1, "target": 3, "regions": 1, "dist-win": 0, "solution-length": 0},
                          {"player": 1, "crate": 1, "target": 1, "regions": 1, "dist-win": 0,
                           "solution-length": 0}) == 0  # target 1 -> 3 stays in [1, 3]; the difference is off
    assert hash(heavier) != hash(default)  # problems stay hashable with their overrides


def test_targets_and_probabilities_reach_success_validity_and_the_starting_maps():
    stats = {"player": 1, "key": 1, "door": 1, "enemies": 2, "regions": 1, "nearest-enemy": 5, "path-length": 20}
    assert make_problem("zelda").valid(stats) and not make_problem("zelda", target_path=24).valid(stats)
    env = gymnasium.make("evoforge/pcgrl-binary-wide-v0", probs=[1.0, 0.0], random_probs=False)
    for seed in range(3):
        env.reset(seed=seed)
        assert env.unwrapped.problem.initial_probs().tolist() == [1.0, 0.0]
        assert env.unwrapped.sim.levels[0].max() == 0  # every starting tile empty
    default = gymnasium.make("evoforge/pcgrl-binary-wide-v0")
    default.reset(seed=0)
    assert 0 < default.unwrapped.sim.levels[0].mean() < 1


@pytest.mark.parametrize("options, message", [
    ({"weights": {"region": 3}}, "zelda has no reward term 'region' (terms: player, key, door,"),
    ({"target_paths": 3}, "zelda has no option 'target_paths' (options: width, height,"),
    ({"probs": [0.5, 0.5]}, "zelda: probs must be 8 non-negative numbers summing to 1"),
    ({"ranges": {"enemies": [5, 2]}}, "zelda: range of 'enemies' must have low <= high, got [5.0, 2.0]"),
])
def test_bad_options_are_one_line_errors_in_make_problem_and_in_configs(options, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        make_problem("zelda", **options)
    with pytest.raises(ConfigError) as error:
        load_experiment(CONFIGS / "pcgrl_zelda_nca.yaml", [f"generator.problem_options={options!r}"])
    assert message in str(error.value) and len(str(error.value).splitlines()) == 1


def test_a_pcgrl_config_passes_its_options_to_the_generation():
    experiment = load_experiment(CONFIGS / "pcgrl_zelda_nca.yaml",
                                 ["generator.problem_options={target_path: 20, weights: {regions: 7}}"])
    evaluator = experiment.evaluator_factory()()
    evaluator.setup()
    assert evaluator.problem.target_path == 20 and dict(evaluator.problem.weights) == {"regions": 7.0}
    assert not math.isinf(evaluator.problem.reward_terms()[4][1])
