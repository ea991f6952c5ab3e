"""The pybullet quadruped (AntBulletEnv on gymnasium) and its damaged morphologies."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from evoforge.envs.quadruped import QuadrupedEnv, morphology_xml
from evoforge.envs.registration import QUADRUPED_IDS, register_envs

register_envs()


@pytest.fixture(scope="module")
def env():
    e = QuadrupedEnv()
    yield e
    e.close()


def rollout(env: QuadrupedEnv, seed: int, actions: np.ndarray):
    obs, _ = env.reset(seed=seed)
    observations, rewards = [obs], []
    for a in actions:
        obs, r, terminated, truncated, info = env.step(a)
        observations.append(obs)
        rewards.append(r)
        if terminated:
            break
    return np.array(observations), np.array(rewards), info


def test_register_envs_is_idempotent():
    register_envs()
    for env_id, morphology in QUADRUPED_IDS.items():
        spec = gymnasium.spec(env_id)
        assert spec.max_episode_steps == 1000 and spec.kwargs == {"morphology": morphology}


@pytest.mark.parametrize("env_id", list(QUADRUPED_IDS))
def test_check_env(env_id):
    e = gymnasium.make(env_id, render_mode="rgb_array", disable_env_checker=True)
    try:
        assert isinstance(e.unwrapped, QuadrupedEnv)
        check_env(e.unwrapped)
    finally:
        e.close()


def test_render_rgb_array():
    e = gymnasium.make("evoforge/Quadruped-v0", render_mode="rgb_array", disable_env_checker=True)
    try:
        e.reset(seed=0)
        e.step(e.action_space.sample())
        frame = e.render()
    finally:
        e.close()
    assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 10


def test_observation_and_spaces(env):
    assert env.observation_space.shape == (28,) and env.action_space.shape == (8,)
    obs, info = env.reset(seed=3)
    assert obs.shape == (28,) and obs.dtype == np.float32 and "x" in info
    rng = np.random.default_rng(0)
    for _ in range(50):
        obs, r, terminated, truncated, info = env.step(rng.uniform(-1, 1, 8).astype(np.float32))
        assert obs.shape == (28,) and obs.dtype == np.float32
        assert np.all(np.abs(obs) <= 5.0) and np.isfinite(r) and not truncated
    assert set(info) >= {"x", "alive", "electricity_cost", "joints_at_limit_cost", "feet_collision_cost"}
    assert info["feet_collision_cost"] == 0.0


def test_reset_is_deterministic_on_a_reused_instance(env):
    actions = np.random.default_rng(1).uniform(-1, 1, (100, 8)).astype(np.float32)
    obs_a, rew_a, _ = rollout(env, 7, actions)
    rollout(env, 8, actions[::-1])  # a different episode in between
    obs_b, rew_b, _ = rollout(env, 7, actions)
    fresh = QuadrupedEnv()
    try:
        obs_c, rew_c, _ = rollout(fresh, 7, actions)
    finally:
        fresh.close()
    np.testing.assert_array_equal(obs_a, obs_b)
    np.testing.assert_array_equal(rew_a, rew_b)
    np.testing.assert_array_equal(obs_a, obs_c)
    np.testing.assert_array_equal(rew_a, rew_c)
    assert not np.array_equal(env.reset(seed=8)[0], obs_a[0])  # the seed matters (joint init)


def test_damaged_xml_has_short_lower_leg():
    for morphology, geom_name, fromto in [
        ("damaged_left_front", "left_ankle_geom", "0.0 0.0 0.0 0.1 0.1 0.0"),
        ("damaged_right_front", "fourth_ankle_geom", "0.0 0.0 0.0 0.1 -0.1 0.0"),
    ]:
        root = ET.parse(morphology_xml(morphology)).getroot()
        assert root.find(f".//geom[@name='{geom_name}']").get("fromto") == fromto
        # every other geom is untouched
        std = {g.get("name"): g.get("fromto") for g in ET.parse(morphology_xml("standard")).getroot().iter("geom")}
        dmg = {g.get("name"): g.get("fromto") for g in root.iter("geom")}
        assert {k for k in std if std[k] != dmg[k]} == {geom_name}


def test_damaged_morphologies_behave_differently():
    # Zero torques let the ant collapse onto its torso (terminated after ~20 steps, as in pybullet); ankles
    # pressed down make it stand: level when intact, tilted toward the short leg when damaged.
    stand = np.tile(np.array([0, 1, 0, -1, 0, -1, 0, 1], dtype=np.float32), (50, 1))
    finals = {}
    for morphology in ("standard", "damaged_right_front", "damaged_left_front"):
        e = QuadrupedEnv(morphology=morphology)
        try:
            obs, _, _ = rollout(e, 0, stand)
        finally:
            e.close()
        assert len(obs) == 51  # stood for all 50 steps
        finals[morphology] = obs[-1][[0, 6, 7]]  # height change, roll, pitch
    assert np.all(np.abs(finals["standard"][1:]) < 0.05)
    for damaged in ("damaged_right_front", "damaged_left_front"):
        assert np.abs(finals[damaged][1]) > 0.1 and finals[damaged][2] > 0.1  # rolled, pitched nose-down
    # mirror images: they roll to opposite sides
    assert np.sign(finals["damaged_right_front"][1]) == -np.sign(finals["damaged_left_front"][1])


def test_missing_xml_path_raises(tmp_path):
    missing = tmp_path / "nope.xml"
    with pytest.raises(FileNotFoundError, match="nope.xml"):
        QuadrupedEnv(xml_path=str(missing))


def test_xml_path_loads_any_mjcf():
    e = QuadrupedEnv(xml_path=morphology_xml("damaged_left_front"))
    try:
        obs, _ = e.reset(seed=0)
        assert obs.shape == (28,)
    finally:
        e.close()


def test_progress_is_small_for_random_actions_and_tracks_forward_motion(env):
    actions = np.random.default_rng(2).uniform(-1, 1, (200, 8)).astype(np.float32)
    _, rewards, _ = rollout(env, 0, actions)
    assert abs(rewards.sum()) < 200
    # Moving the whole ant 0.1 m toward the target gives progress ~ 0.1 m / dt (pybullet averages x over the
    # torso, links and floor, so 21/22 of it).
    env.reset(seed=0)
    p, robot = env._p, env._robot
    pos, orn = p.getBasePositionAndOrientation(robot)
    p.resetBasePositionAndOrientation(robot, [pos[0] + 0.1, pos[1], pos[2]], orn)
    _, reward, _, _, info = env.step(np.zeros(8, dtype=np.float32))
    assert 4.0 < reward < 7.0
    assert info["x"] > 0.09


def test_reference_protocol_burn_in_and_no_fall_termination_before_step_200():
    plain = QuadrupedEnv()
    reference = QuadrupedEnv(burn_in_steps=40, early_stop_after=200)
    try:
        obs_plain, _ = plain.reset(seed=3)
        obs_settled, _ = reference.reset(seed=3)
        # The zero-torque burn-in drops the ant from its spawn height onto the floor, at rest.
        assert obs_settled[0] < obs_plain[0] - 0.3
        assert abs(obs_settled[5]) < 0.1  # 0.3 * vertical velocity
        zeros = np.zeros(8, dtype=np.float32)
        assert plain.step(zeros)[2] is False
        # Lying on the floor (torso z <= 0.26) would terminate pybullet's ant; the protocol ignores it
        # until step 200 and ends the episode at the first step after it.
        for t in range(202):
            _, _, terminated, truncated, _ = reference.step(zeros)
            assert terminated == (t > 200) and not truncated
    finally:
        plain.close()
        reference.close()


def test_stall_patience_truncates_after_a_streak_of_negative_progress():
    env = QuadrupedEnv(early_stop_after=10, stall_patience=3)
    try:
        env.reset(seed=0)
        rng = np.random.default_rng(0)
        rewards, truncated, t = [], False, 0
        while not truncated and t < 500:
            _, reward, terminated, truncated, info = env.step(rng.uniform(-1, 1, 8).astype(np.float32))
            rewards.append(reward)
            t += 1
            assert not terminated
        assert truncated and info["early_stop"] == "negative progress streak"
        assert t > 10 + 4 and all(r < 0 for r in rewards[-4:])
        # The same actions without the option run on.
        env_plain = QuadrupedEnv()
        env_plain.reset(seed=0)
        rng = np.random.default_rng(0)
        for _ in range(t):
            assert not env_plain.step(rng.uniform(-1, 1, 8).astype(np.float32))[3]
        env_plain.close()
    finally:
        env.close()
