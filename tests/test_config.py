"""Bad configs are refused before anything starts: one line naming the key, exit code 2, no traceback."""

import subprocess

import pytest

from evoforge.cli import main
from evoforge.experiments import load_experiment
from evoforge.experiments.config import ConfigError

from .conftest import CONFIGS, cli_env, evoforge_cmd

QUICKSTART = CONFIGS / "es_cartpole.yaml"  # a gym_control config: the policy.* cases need one


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["search.popsiz=32"], "search.popsiz: unknown key"),
        (["search.popsize=many"], "search.popsize: Input should be a valid integer"),
        (["search.popsize=-4"], "search.popsize: Input should be greater than or equal to 2"),
        (["search.sigma_decay=1.5"], "search.sigma_decay: Input should be less than or equal to 1"),
        (["search.popsize=33"], "popsize must be even"),
        (["env.id=NoSuchEnv-v0"], "env.id: unknown gymnasium env id 'NoSuchEnv-v0'"),
        (["policy.init_from=/nonexistent/best.pt"], "policy.init_from: Path does not point to a file"),
        (["search.algorithm=genetic"], "search.algorithm: Input should be 'openai_es'"),
        (["experiment=painting"], "experiment: unknown kind 'painting'"),
        (["pool.workers=0"], "pool.workers: Input should be greater than or equal to 1"),
        (["name=has space"], "name: String should match pattern"),
    ],
)
def test_bad_values_name_their_key(overrides, message, capsys, tmp_path):
    args = ["run", str(QUICKSTART), "--out", str(tmp_path / "run")]
    for override in overrides:
        args += ["--set", override]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("evoforge: config error: ") and message in err
    assert "\n" not in err
    assert not (tmp_path / "run").exists(), "nothing may start for a bad config"


def test_missing_and_malformed_files(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text("experiment: gym_control\nenv: [unclosed\n")
    assert main(["run", str(broken)]) == 2
    assert "invalid YAML at line" in capsys.readouterr().err
    missing_env = tmp_path / "no_env.yaml"
    missing_env.write_text("experiment: gym_control\nname: x\n")
    assert main(["run", str(missing_env)]) == 2
    assert "env: required key is missing" in capsys.readouterr().err


def test_override_without_equals_is_refused():
    with pytest.raises(ConfigError, match="expected key.path=value"):
        load_experiment(QUICKSTART, ["search.popsize"])


def test_overrides_are_applied_and_typed():
    experiment = load_experiment(QUICKSTART, ["search.popsize=8", "search.sigma=0.25", "policy.hidden=[4, 4]"])
    assert experiment.config.search.popsize == 8 and experiment.config.search.sigma == 0.25
    assert experiment.config.policy.hidden == [4, 4]
    assert experiment.settings.stop_fitness == 475.0  # 'env' resolved to CartPole-v1's reward_threshold


def test_cli_subprocess_prints_no_traceback():
    result = subprocess.run(
        evoforge_cmd("run", str(QUICKSTART), "--set", "search.learning_rate=-1"),
        capture_output=True, text=True, env=cli_env(), timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "evoforge: config error: search.learning_rate: Input should be greater than 0 (got -1)"
    ]


def test_an_old_key_is_refused_with_one_line_naming_the_new_one(tmp_path, capsys):
    for override in ("poet.iterations=5", "poet={iterations: 5}"):
        assert main(["run", str(CONFIGS / "poet_quick.yaml"), "--out", str(tmp_path / "run"), "--set", override]) == 2
        err = capsys.readouterr().err.strip()
        assert err == "evoforge: config error: poet.iterations: renamed to poet.generations"
    assert not (tmp_path / "run").exists()  # refused before anything was made


SHIPPED_CONFIGS = sorted(CONFIGS.glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED_CONFIGS, ids=[p.stem for p in SHIPPED_CONFIGS])
def test_every_shipped_config_validates_and_says_what_it_is(path):
    """Every config in configs/ loads into its experiment (the schema has not moved under it) and opens with a
    comment saying what it runs."""
    experiment = load_experiment(path)
    assert experiment.config.name and path.read_text().startswith("# ")
