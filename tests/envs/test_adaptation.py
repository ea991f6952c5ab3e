"""Within-episode adaptation envs: point navigation, hidden action remaps, mid-episode leg failure, recovery."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from evoforge.envs import make_env
from evoforge.envs.adaptation import (
    LEG_ACTIONS,
    ActionRemap,
    MidEpisodeLegFailure,
    PointNavigation,
    recovery_curve,
    recovery_time,
    signed_permutation,
    signed_permutations,
    split_variants,
)
from evoforge.envs.registration import ADAPTATION_IDS, register_envs

register_envs()

NAV_IDS = ["evoforge/PointNavigation-v0", "evoforge/RemappedNavigation-v0",
           "evoforge/RemappedNavigationHeldOut-v0", "evoforge/RemappedNavigationSwitch-v0"]
LEG_ID = "evoforge/QuadrupedLegFailure-v0"
IDENTITY, NEGATED = 0, 4  # indices of I and -I in signed_permutations(2)


def layer(env: gymnasium.Env, cls: type) -> gymnasium.Env:
    """The wrapper (or env) of type ``cls`` in ``env``'s stack."""
    while not isinstance(env, cls):
        env = env.env
    return env


def check_quietly(env: gymnasium.Env) -> None:
    """check_env with every warning an error, except the one about checking a wrapper rather than the raw env."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=".*is different from the unwrapped version")
        check_env(env)


def run(env: gymnasium.Env, seed: int, actions, options: dict | None = None):
    """Observations, rewards and infos of one episode with fixed actions."""
    obs, info = env.reset(seed=seed, options=options)
    observations, rewards, infos = [obs], [], [info]
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        observations.append(obs)
        rewards.append(reward)
        infos.append(info)
        if terminated or truncated:
            break
    return np.array(observations), np.array(rewards), infos


def proportional_return(env: gymnasium.Env, seed: int, variant: int) -> tuple[float, int]:
    """Return and goals reached by a = g - p (the controller that solves the identity map)."""
    obs, _ = env.reset(seed=seed, options={"variant": variant})
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, info = env.step(np.clip(obs[:2], -1, 1))
        total += reward
        done = terminated or truncated
    return total, info["goals"]


# --- registration and the gymnasium checker ----------------------------------------------------------


def test_ids_are_registered_idempotently_with_their_limits():
    register_envs()
    assert set(ADAPTATION_IDS) == {*NAV_IDS, LEG_ID}
    for env_id in NAV_IDS:
        assert gymnasium.spec(env_id).max_episode_steps == 200
    assert gymnasium.spec(LEG_ID).max_episode_steps == 1000
    assert gymnasium.spec("evoforge/RemappedNavigationSwitch-v0").kwargs == {"variants": "train",
                                                                             "switch_at": (60, 140)}


def test_point_navigation_passes_check_env():
    env = gymnasium.make("evoforge/PointNavigation-v0", render_mode="rgb_array", disable_env_checker=True)
    assert isinstance(env.unwrapped, PointNavigation)
    check_quietly(env.unwrapped)
    env.close()


@pytest.mark.parametrize("env_id", NAV_IDS[1:])
def test_remapped_navigation_passes_check_env_on_the_wrapper(env_id):
    env = gymnasium.make(env_id, render_mode="rgb_array", disable_env_checker=True)
    check_quietly(layer(env, ActionRemap))
    env.close()


def test_quadruped_leg_failure_passes_check_env_on_the_wrapper():
    env = gymnasium.make(LEG_ID, render_mode="rgb_array", disable_env_checker=True)
    try:
        check_quietly(layer(env, MidEpisodeLegFailure))
    finally:
        env.close()


@pytest.mark.parametrize("env_id", NAV_IDS)
def test_make_env_wraps_the_outermost_env_in_the_200_step_limit(env_id):
    env = make_env(env_id)
    assert isinstance(env, gymnasium.wrappers.TimeLimit)
    rng = np.random.default_rng(0)
    _, rewards, infos = run(env, 0, rng.uniform(-1, 1, (500, 2)).astype(np.float32))
    assert len(rewards) == 200  # truncated by the limit, never terminated before it
    if env_id != "evoforge/PointNavigation-v0":
        assert "variant" in infos[-1]


# --- point navigation --------------------------------------------------------------------------------


def test_point_navigation_dynamics_reward_and_new_goals():
    env = PointNavigation()
    obs, info = env.reset(seed=5)
    goal = info["goal"]
    assert np.isclose(np.linalg.norm(goal), 1.0) and np.allclose(obs, [*goal, 0, 0])
    obs, reward, *_ = env.step(np.array([0.5, -2.0], dtype=np.float32))  # the force is clipped to [-1, 1]
    v = 0.1 * np.array([0.5, -1.0])
    np.testing.assert_allclose(env.velocity, v)
    np.testing.assert_allclose(env.position, v)
    np.testing.assert_allclose(obs, np.float32([*(goal - v), *(10 * v)]), rtol=1e-6)
    assert np.isclose(reward, 10 * (1.0 - np.linalg.norm(goal - v)))
    obs, reward, *_ = env.step(np.zeros(2, dtype=np.float32))
    np.testing.assert_allclose(env.position, v + 0.8 * v)  # the velocity decays by 0.8 per step
    # 0.2 from the goal, at rest: not reached yet. One step of 0.1 toward it: reached, and the next goal lies
    # 1 away from the agent.
    env.reset(seed=5)
    env.position = env.goal - np.array([0.2, 0.0])
    env.step(np.zeros(2, dtype=np.float32))
    assert env.goals_reached == 0
    env.reset(seed=5)
    env.position = env.goal - np.array([0.2, 0.0])
    _, reward, _, _, info = env.step(np.array([1.0, 0.0], dtype=np.float32))  # moves 0.1 toward the goal
    assert info["goals"] == 1 and np.isclose(reward, 10 * 0.1)
    assert np.isclose(np.linalg.norm(info["goal"] - info["position"]), 1.0) and np.isclose(info["distance"], 1.0)


def test_render_draws_agent_and_goal():
    env = PointNavigation(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (128, 128, 3) and frame.dtype == np.uint8
    colours = {tuple(c) for c in frame.reshape(-1, 3)}
    assert {(30, 60, 220), (220, 30, 30), (255, 255, 255)} <= colours
    assert tuple(frame[64, 64]) == (30, 60, 220)  # the frame is centred on the agent
    assert PointNavigation().render() is None


# --- determinism ---------------------------------------------------------------------------------------


def test_same_seed_same_trajectory_and_different_seeds_differ():
    actions = np.random.default_rng(3).uniform(-1, 1, (200, 2)).astype(np.float32)
    env, again = make_env("evoforge/RemappedNavigationSwitch-v0"), make_env("evoforge/RemappedNavigationSwitch-v0")
    obs_a, rew_a, info_a = run(env, 11, actions)
    run(env, 12, actions[::-1])  # another episode in between must not matter
    obs_b, rew_b, info_b = run(env, 11, actions)
    obs_c, rew_c, info_c = run(again, 11, actions)
    for obs, rew, info in [(obs_b, rew_b, info_b), (obs_c, rew_c, info_c)]:
        np.testing.assert_array_equal(obs, obs_a)
        np.testing.assert_array_equal(rew, rew_a)
        assert [i["variant"] for i in info] == [i["variant"] for i in info_a]
        assert info[0]["switch_step"] == info_a[0]["switch_step"]
    goals, variants, switches = set(), set(), set()
    for seed in range(20):
        _, info = env.reset(seed=seed)
        goals.add(tuple(info["goal"]))
        variants.add(info["variant"])
        switches.add(info["switch_step"])
    assert len(goals) == 20 and len(variants) > 1 and len(switches) > 1


def test_the_remap_does_not_touch_the_inner_envs_randomness():
    # The wrapper draws from its own generator: the same seed gives the same goals with or without it.
    plain, remapped = make_env("evoforge/PointNavigation-v0"), make_env("evoforge/RemappedNavigation-v0")
    for seed in range(5):
        assert np.array_equal(plain.reset(seed=seed)[1]["goal"], remapped.reset(seed=seed)[1]["goal"])


# --- signed permutations ----------------------------------------------------------------------------------


def test_signed_permutations_and_the_train_held_out_split():
    maps = signed_permutations(2)
    assert len(maps) == 8 and len({m.tobytes() for m in maps}) == 8
    for m in maps:  # each one a signed permutation matrix
        assert np.array_equal(np.abs(m).sum(0), [1, 1]) and np.array_equal(np.abs(m).sum(1), [1, 1])
    train, held_out = split_variants(2)
    assert not set(train) & set(held_out) and sorted(train + held_out) == list(range(8))
    assert len(held_out) == 2
    assert {tuple(maps[i].ravel()) for i in held_out} == {(0, 1, -1, 0), (0, -1, 1, 0)}  # the +-90 rotations
    assert np.array_equal(maps[IDENTITY], np.eye(2)) and np.array_equal(maps[NEGATED], -np.eye(2))
    train_maps = {tuple(maps[i].ravel()) for i in train}
    assert all(tuple(-maps[i].ravel()) in train_maps for i in train)  # closed under negation
    train3, held3 = split_variants(3)
    assert len(train3) == 36 and held3 == list(range(3, 48, 4))
    assert np.array_equal(signed_permutation(3, 17), signed_permutations(3)[17])


def test_resets_draw_only_from_their_variant_set():
    train, held_out = split_variants(2)
    for env_id, allowed in [("evoforge/RemappedNavigation-v0", train),
                            ("evoforge/RemappedNavigationHeldOut-v0", held_out)]:
        env = make_env(env_id)
        drawn = [env.reset(seed=seed)[1]["variant"] for seed in range(200)]
        assert set(drawn) == set(allowed)  # only these, and every one of them
        np.testing.assert_array_equal(env.get_wrapper_attr("mapping"), signed_permutations(2)[drawn[-1]])
    with pytest.raises(ValueError, match="not in the 'held_out' set"):
        make_env("evoforge/RemappedNavigationHeldOut-v0").reset(seed=0, options={"variant": IDENTITY})


def test_the_inner_env_receives_the_mapped_action():
    maps = signed_permutations(2)
    remapped = make_env("evoforge/RemappedNavigation-v0")
    plain = make_env("evoforge/PointNavigation-v0", observe_velocity=False)  # the remapped family hides v
    actions = np.random.default_rng(4).uniform(-1.5, 1.5, (30, 2)).astype(np.float32)
    for variant in split_variants(2)[0]:
        obs_r, rew_r, _ = run(remapped, 2, actions, options={"variant": variant})
        obs_p, rew_p, _ = run(plain, 2, [maps[variant] @ a for a in actions])
        np.testing.assert_array_equal(obs_r, obs_p)
        np.testing.assert_array_equal(rew_r, rew_p)


def test_switch_happens_once_inside_its_window_and_changes_the_map():
    env = make_env("evoforge/RemappedNavigationSwitch-v0")
    train = set(split_variants(2)[0])
    actions = np.zeros((200, 2), dtype=np.float32)
    for seed in range(30):
        _, _, infos = run(env, seed, actions)
        steps = [t for t, info in enumerate(infos[1:]) if info["switched"]]
        assert len(steps) == 1 and 60 <= steps[0] < 140 and steps[0] == infos[0]["switch_step"]
        before, after = infos[steps[0]]["variant"], infos[steps[0] + 1]["variant"]
        assert before != after and {before, after} <= train
        assert all(i["variant"] == before for i in infos[: steps[0] + 1])
        assert all(i["variant"] == after for i in infos[steps[0] + 1:])
        np.testing.assert_array_equal(env.get_wrapper_attr("mapping"), signed_permutations(2)[after])


# --- why a memoryless policy cannot solve every variant ------------------------------------------------------


def test_m_and_minus_m_move_the_agent_in_exactly_opposite_directions():
    env = layer(make_env("evoforge/RemappedNavigation-v0"), ActionRemap)
    maps = signed_permutations(2)
    train = split_variants(2)[0]
    rng = np.random.default_rng(5)
    for variant in train:
        negated = next(i for i in train if np.array_equal(maps[i], -maps[variant]))
        for a in rng.uniform(-2, 2, (20, 2)).astype(np.float32):
            displacement = []
            for v in (variant, negated):
                _, info0 = env.reset(seed=9, options={"variant": v})
                assert np.array_equal(info0["position"], [0, 0]) and not env.unwrapped.velocity.any()
                _, _, _, _, info1 = env.step(a)
                displacement.append(info1["position"] - info0["position"])
            np.testing.assert_array_equal(displacement[0], -displacement[1])  # exactly, not approximately
            assert np.linalg.norm(displacement[0]) > 0


def test_the_proportional_controller_solves_the_identity_but_fails_under_its_negation():
    env = make_env("evoforge/RemappedNavigation-v0")
    for seed in range(3):
        ret, goals = proportional_return(env, seed, IDENTITY)
        assert goals >= 5 and ret > 40
        ret_neg, goals_neg = proportional_return(env, seed, NEGATED)
        assert goals_neg == 0 and ret_neg < 1.0


# --- recovery measures ---------------------------------------------------------------------------------------


def delayed(n: int, at: int, delay: int, low: float = 0.0) -> np.ndarray:
    r = np.ones(n)
    r[at: at + delay] = low
    return r


def test_recovery_time_on_synthetic_rewards():
    reference = np.ones(200)
    assert recovery_time(np.ones(200), reference, at=50) == 0.0
    rewards = delayed(200, 50, 30)
    assert recovery_time(rewards, reference, at=50, fraction=1.0) == 30.0
    assert recovery_time(rewards, reference, at=50, window=1) == 30.0
    # window 20, fraction 0.8: the window may still hold 4 of the zeros when it passes.
    assert recovery_time(rewards, reference, at=50) == 26.0
    assert recovery_time(delayed(200, 50, 150), reference, at=50) == float("inf")
    assert recovery_time(delayed(200, 50, 145), reference, at=50, window=1) == 145.0
    assert recovery_time(delayed(200, 50, 145), reference, at=50, window=10) == float("inf")  # no full window


def test_recovery_time_reference_rate_falls_back_to_the_whole_episode():
    reference = np.r_[np.ones(100), np.zeros(100)]  # no progress after the change step: use the mean, 0.5
    rewards = np.r_[np.ones(100), np.full(15, 0.3), np.full(85, 0.45)]
    assert recovery_time(rewards, reference, at=100, window=1) == 15.0  # 0.45 >= 0.8 * 0.5 > 0.3
    assert recovery_time(rewards, np.r_[np.ones(100), np.full(100, 2.0)], at=100, window=1) == float("inf")
    assert np.isnan(recovery_time(rewards, -np.ones(200), at=100))


def test_recovery_curve_is_aligned_to_the_change_step():
    rewards = np.arange(100, dtype=float)
    curve = recovery_curve(rewards, at=40, window=10)
    assert len(curve) == 100 - 40 - 10 + 1
    assert curve[0] == rewards[40:50].mean() and curve[-1] == rewards[90:].mean()
    assert len(recovery_curve(rewards, at=95, window=10)) == 0


# --- leg failure of the quadruped ----------------------------------------------------------------------------


def test_leg_action_indices_drive_the_named_physical_legs():
    env = gymnasium.make(LEG_ID, disable_env_checker=True)
    try:
        env.reset(seed=0)
        quad = env.unwrapped
        p = quad._p
        quadrant = {"front_left": (1, 1), "back_left": (-1, 1), "back_right": (-1, -1), "front_right": (1, -1)}
        for leg, (hip, ankle) in LEG_ACTIONS.items():
            names = [p.getJointInfo(quad._robot, quad._joints[i])[1].decode() for i in (hip, ankle)]
            k = names[0][-1]
            assert names == [f"hip_{k}", f"ankle_{k}"]
            foot = p.getLinkState(quad._robot, quad._joints[ankle])[0]  # the ant walks toward +x, +y is left
            assert (np.sign(foot[0]), np.sign(foot[1])) == quadrant[leg]
    finally:
        env.close()


def test_damage_step_is_drawn_in_its_window_from_the_reset_seed():
    env = gymnasium.make(LEG_ID, disable_env_checker=True)
    try:
        steps = [env.reset(seed=seed)[1]["damage_step"] for seed in range(15)]
        assert all(200 <= s < 600 for s in steps) and len(set(steps)) > 5
        assert env.reset(seed=3)[1]["damage_step"] == steps[3]
    finally:
        env.close()


@pytest.mark.parametrize("leg", list(LEG_ACTIONS))
def test_the_failed_legs_actions_have_no_effect_after_the_damage_step(leg):
    damage, steps = 10, 25
    env = gymnasium.make(LEG_ID, disable_env_checker=True, leg=leg, damage_at=(damage, damage + 1),
                         early_stop_after=1000)  # QuadrupedEnv's kwargs pass through; no fall ends the episode
    failed = list(LEG_ACTIONS[leg])
    other = [i for i in range(8) if i not in failed][:2]
    rng = np.random.default_rng(6)
    stand = np.array([0, 1, 0, -1, 0, -1, 0, 1], dtype=np.float32)
    base = np.clip(stand + rng.normal(0, 0.3, (steps, 8)), -1, 1).astype(np.float32)

    def changed(columns: list[int], start: int) -> np.ndarray:
        out = base.copy()
        out[start:, columns] = rng.uniform(-1, 1, (steps - start, len(columns)))
        return out

    try:
        obs_base, rew_base, infos = run(env, 0, base)
        assert len(rew_base) == steps
        assert [i["damaged"] for i in infos[1:]] == [t >= damage for t in range(steps)]
        assert all(i["damage_step"] == damage for i in infos)
        obs_after, rew_after, _ = run(env, 0, changed(failed, damage))
        np.testing.assert_array_equal(obs_after, obs_base)  # the failed leg ignores its actions
        np.testing.assert_array_equal(rew_after, rew_base)
        obs_before, _, _ = run(env, 0, changed(failed, 0))
        assert not np.array_equal(obs_before[1], obs_base[1])  # before the damage the same entries matter
        obs_other, _, _ = run(env, 0, changed(other, damage))
        np.testing.assert_array_equal(obs_other[: damage + 1], obs_base[: damage + 1])
        assert not np.array_equal(obs_other[damage + 1], obs_base[damage + 1])  # the other legs still work
    finally:
        env.close()
