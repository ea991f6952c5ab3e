"""Environments that change *within* an episode, and how fast a policy recovers from the change.

A policy with fixed weights and no memory maps each observation to one action, so it cannot behave well in
two tasks that look the same but need different actions; a Hebbian network (Najarro & Risi 2020,
"Meta-Learning through Hebbian Plasticity in Random Networks", arXiv 2007.02686) can, by changing its weights
during the episode. These environments need exactly that:

* :class:`PointNavigation`: the "2D navigation" toy of meta-RL (Finn et al. 2017, "Model-Agnostic
  Meta-Learning for Fast Adaptation of Deep Networks", arXiv 1703.03400, Sec. 5.2) as a point mass, with
  goals that keep coming so progress can go on all episode.
* :class:`ActionRemap`: hides a signed permutation of the action dimensions of any 1-D Box env (train /
  held-out sets of permutations, optionally re-drawn once mid-episode).
* :class:`MidEpisodeLegFailure`: a motor failure of one leg of the quadruped (:mod:`evoforge.envs.quadruped`)
  at a random step of the episode.
* :func:`recovery_time` / :func:`recovery_curve`: steps until the reward rate after the change is back to a
  fraction of an unchanged reference run.

The gymnasium ids are registered in :mod:`evoforge.envs.registration`; the functions ``make_*`` here are their
entry points, so ``gymnasium.make(id, **kwargs)`` can override every option.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

# --- point navigation -------------------------------------------------------------------------------

VELOCITY_DECAY = 0.8  # v <- 0.8 v + 0.1 force: terminal speed 0.5 per step and axis at full force
FORCE_GAIN = 0.1
GOAL_RADIUS = 1.0  # every goal lies at this distance from where the agent is when it is drawn
GOAL_TOLERANCE = 0.15  # a goal closer than this counts as reached
REWARD_SCALE = 10.0
VELOCITY_OBS_SCALE = 10.0  # |v| <= 0.5 per axis -> about [-5, 5] in the observation
OBS_BOUND = 10.0  # g - p is unbounded when a policy walks away: clipped to the declared box
RENDER_SIZE = 128
RENDER_HALF_WIDTH = 2.0  # world units from the centre of the frame (the agent) to its edge


class PointNavigation(gymnasium.Env):
    """A point mass that must reach goals on the unit circle around it, one after another.

    State: position ``p`` (starts at the origin), velocity ``v`` (starts at 0), goal ``g``. At reset ``g`` is
    drawn uniformly on the circle of radius 1 around the origin (from ``self.np_random``, so the episode is
    fixed by ``reset(seed=...)``). Per step, with ``f = clip(a, -1, 1)``::

        v <- 0.8 v + 0.1 f
        p <- p + v
        reward = 10 (|g - p_old| - |g - p_new|)           (progress toward the goal)

    When ``|g - p| < 0.15`` the goal counts as reached (``info["goals"]`` counts them) and the next goal is
    drawn uniformly on the circle of radius 1 around the current position; reaching a goal is worth about
    10 * 0.85 = 8.5. The observation is ``[g - p, 10 v]`` (float32, clipped into [-10, 10]), or ``g - p`` alone
    with ``observe_velocity=False`` (the remapped family: with the velocity in view a memoryless network can
    exploit the velocity feedback and serve both M and -M, measured in docs/hebbian.md); nothing ever
    terminates, the 200-step limit comes from registration. ``render_mode="rgb_array"`` draws a 128x128
    frame centred on the agent (blue), with the goal (red) and its tolerance disc.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, render_mode: str | None = None, observe_velocity: bool = True):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"PointNavigation: unsupported render_mode {render_mode!r}")
        self.render_mode = render_mode
        self.observe_velocity = observe_velocity
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_space = spaces.Box(-OBS_BOUND, OBS_BOUND, (4 if observe_velocity else 2,), np.float32)
        self.position = np.zeros(2)
        self.velocity = np.zeros(2)
        self.goal = np.array([GOAL_RADIUS, 0.0])  # render() before reset() still draws something
        self.goals_reached = 0

    def _draw_goal(self, centre: np.ndarray) -> np.ndarray:
        angle = self.np_random.uniform(0.0, 2.0 * np.pi)
        return centre + GOAL_RADIUS * np.array([np.cos(angle), np.sin(angle)])

    def _obs(self) -> np.ndarray:
        parts = [self.goal - self.position] + ([VELOCITY_OBS_SCALE * self.velocity] if self.observe_velocity else [])
        obs = np.concatenate(parts)
        return np.clip(obs, -OBS_BOUND, OBS_BOUND).astype(np.float32)

    def _info(self) -> dict[str, Any]:
        return {"goals": self.goals_reached, "distance": float(np.linalg.norm(self.goal - self.position)),
                "position": self.position.copy(), "goal": self.goal.copy()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Agent at the origin, at rest; a new goal on the unit circle."""
        super().reset(seed=seed)
        self.position = np.zeros(2)
        self.velocity = np.zeros(2)
        self.goal = self._draw_goal(self.position)
        self.goals_reached = 0
        return self._obs(), self._info()

    def step(self, action):
        """One step of the point mass; the reward is 10 x the distance gained on the goal."""
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (2,) or not np.isfinite(a).all():
            raise ValueError(f"PointNavigation: expected a finite action of shape (2,), got {action!r}")
        force = np.clip(a, -1.0, 1.0)
        previous = float(np.linalg.norm(self.goal - self.position))
        self.velocity = VELOCITY_DECAY * self.velocity + FORCE_GAIN * force
        self.position = self.position + self.velocity
        distance = float(np.linalg.norm(self.goal - self.position))
        reward = REWARD_SCALE * (previous - distance)
        if distance < GOAL_TOLERANCE:
            # A fresh goal around where the agent is now: progress stays possible for the whole episode.
            self.goals_reached += 1
            self.goal = self._draw_goal(self.position)
        return self._obs(), float(reward), False, False, self._info()

    def render(self):
        """128x128x3 uint8 frame centred on the agent, or None without ``render_mode="rgb_array"``."""
        if self.render_mode != "rgb_array":
            return None
        frame = np.full((RENDER_SIZE, RENDER_SIZE, 3), 255, dtype=np.uint8)
        scale = RENDER_SIZE / (2.0 * RENDER_HALF_WIDTH)  # pixels per world unit
        rows, cols = np.mgrid[0:RENDER_SIZE, 0:RENDER_SIZE]

        def disc(point: np.ndarray, radius_px: float, colour: tuple[int, int, int]) -> None:
            col = RENDER_SIZE / 2 + (point[0] - self.position[0]) * scale
            row = RENDER_SIZE / 2 - (point[1] - self.position[1]) * scale  # y up
            frame[(cols - col) ** 2 + (rows - row) ** 2 <= radius_px ** 2] = colour

        disc(self.goal, GOAL_TOLERANCE * scale, (255, 200, 200))
        disc(self.goal, 2.0, (220, 30, 30))
        disc(self.position, 4.0, (30, 60, 220))
        return frame


# --- signed permutations of the action ---------------------------------------------------------------


def variant_count(n: int) -> int:
    """Number of signed permutations of ``n`` dimensions: ``n! * 2**n`` (8 for n = 2)."""
    if n < 1:
        raise ValueError(f"signed permutations need n >= 1 dimensions, got {n}")
    return math.factorial(n) * 2 ** n


def _perm_and_signs(n: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``index``-th signed permutation as (perm, signs): ``(M a)_i = signs[i] * a[perm[i]]``."""
    if not 0 <= index < variant_count(n):
        raise IndexError(f"signed permutation index {index} out of range for n = {n}")
    block, rank = divmod(index, math.factorial(n))
    gray = block ^ (block >> 1)  # sign patterns in binary-reflected Gray code order, dimension 0 = top bit
    signs = np.array([-1.0 if (gray >> (n - 1 - j)) & 1 else 1.0 for j in range(n)])
    remaining, perm = list(range(n)), []
    for k in range(n - 1, -1, -1):  # the rank-th permutation in lexicographic order (factorial base)
        digit, rank = divmod(rank, math.factorial(k))
        perm.append(remaining.pop(digit))
    return np.array(perm), signs


def signed_permutation(n: int, index: int) -> np.ndarray:
    """The ``index``-th signed permutation matrix of ``n`` dims in the fixed order of :func:`signed_permutations`."""
    perm, signs = _perm_and_signs(n, index)
    matrix = np.zeros((n, n))
    matrix[np.arange(n), perm] = signs
    return matrix


def signed_permutations(n: int) -> list[np.ndarray]:
    """Every signed permutation matrix of ``n`` dims (``n! 2**n`` of them), in a fixed deterministic order.

    Order: sign patterns ``s`` in binary-reflected Gray code order (outer; +1 before -1, dimension 0 is the
    most significant bit), permutations ``pi`` in lexicographic order (inner); the matrix has
    ``M[i, pi[i]] = s[i]``, i.e. ``(M a)_i = s_i a_{pi(i)}``. For n = 2::

        0 I          1 swap        2 diag(1,-1)   3 [[0,1],[-1,0]]   (rotation by -90 degrees)
        4 -I         5 -swap       6 diag(-1,1)   7 [[0,-1],[1,0]]   (rotation by +90 degrees)

    Meant for small n (for n = 8 there are 10 million); the wrappers decode indices on demand instead.
    """
    if n > 6:
        raise ValueError(f"signed_permutations({n}) would list {variant_count(n)} matrices; "
                         "use signed_permutation(n, index)")
    return [signed_permutation(n, i) for i in range(variant_count(n))]


def is_held_out(index: int) -> bool:
    """Whether variant ``index`` is held out: every 4th one, ``index % 4 == 3``."""
    return index % 4 == 3


def split_variants(n: int) -> tuple[list[int], list[int]]:
    """(train indices, held-out indices) into :func:`signed_permutations` ``(n)``.

    Held out: every 4th variant (``index % 4 == 3``); train: the rest. For n = 2 that holds out exactly the
    two rotations by +-90 degrees (swap the axes and flip one sign), which no train map is; the train set
    keeps the identity and its negation, the swap and its negation, and both single-axis flips (it is closed
    under negation). For n = 1 nothing is held out.
    """
    count = variant_count(n)
    return ([i for i in range(count) if not is_held_out(i)], [i for i in range(count) if is_held_out(i)])


VARIANT_SETS = ("train", "held_out", "all", "flip")


def negation_index(n: int) -> int:
    """Index of ``-I`` among :func:`signed_permutations` ``(n)`` (4 for n = 2): the block whose Gray code has
    every sign bit set, identity permutation."""
    block = next(b for b in range(2 ** n) if b ^ (b >> 1) == 2 ** n - 1)
    return block * math.factorial(n)


def _set_size(variants: str, count: int) -> int:
    held = count // 4  # indices 3, 7, 11, ... below count
    return {"train": count - held, "held_out": held, "all": count, "flip": 2}[variants]


def _index_of(variants: str, position: int, n: int) -> int:
    """Variant index of the ``position``-th member of a set (no list: n = 8 has 10 million variants)."""
    if variants == "held_out":
        return 4 * position + 3
    if variants == "train":
        return 4 * (position // 3) + position % 3
    if variants == "flip":
        return 0 if position == 0 else negation_index(n)
    return position


def _position_of(variants: str, index: int) -> int:
    if variants == "held_out":
        return (index - 3) // 4
    if variants == "train":
        return 3 * (index // 4) + index % 4
    if variants == "flip":
        return 0 if index == 0 else 1
    return index


def _in_set(variants: str, index: int, n: int) -> bool:
    if variants == "flip":
        return index in (0, negation_index(n))
    return variants == "all" or (variants == "held_out") == is_held_out(index)


def _episode_rng(seed: int | None, stream: int, current: np.random.Generator | None) -> np.random.Generator:
    """A wrapper's own generator: fixed by the reset seed (independent of the inner env's np_random, whose
    stream the inner env keeps using mid-episode), kept across unseeded resets, fresh entropy at first."""
    if seed is not None:
        return np.random.default_rng(np.random.SeedSequence([seed, stream]))
    return current if current is not None else np.random.default_rng()


_REMAP_STREAM = 0x5E3A9  # distinct streams, so stacked wrappers draw independently from one seed
_LEG_FAILURE_STREAM = 0x1E6F


def _check_switch_at(switch_at: tuple[int, int] | None, name: str) -> tuple[int, int] | None:
    if switch_at is None:
        return None
    lo, hi = (int(x) for x in switch_at)
    if not 0 <= lo < hi:
        raise ValueError(f"{name}: expected 0 <= lo < hi, got {tuple(switch_at)}")
    return lo, hi


class ActionRemap(gymnasium.Wrapper, gymnasium.utils.RecordConstructorArgs):
    """Hide a signed permutation ``M`` of the action dimensions: the inner env receives ``M a``.

    At every reset ``M`` is drawn uniformly from a set of :func:`signed_permutations` ``(n)``: ``"train"``,
    ``"held_out"`` (see :func:`split_variants`), ``"all"`` or ``"flip"`` (``I`` and ``-I`` only: the
    smallest family no memoryless policy solves); ``reset(options={"variant": i})`` forces variant
    ``i`` (it must belong to the set). With ``switch_at=(lo, hi)`` a step ``T`` is drawn uniformly in
    ``[lo, hi)`` and from the ``T``-th step on (0-based, the step whose ``info["switched"]`` is True) ``M`` is
    re-drawn from the same set, excluding the current map -- a mid-episode change the policy must detect
    from its own observations. All draws come from the wrapper's own generator, fixed by the reset seed.

    The inner action space must be a 1-D Box with the same symmetric bounds ``[-b, b]`` on every axis, so
    that ``M`` maps it onto itself. ``self.mapping`` is the current matrix; ``info`` carries ``"variant"``
    (index into :func:`signed_permutations`), ``"switched"`` and ``"switch_step"`` (None without a switch).

    Why a memoryless policy cannot solve the set: with ``M`` and ``-M`` both in it (the train set of n = 2
    contains both for every member), the same observation calls for opposite actions -- as long as the
    observation does not reveal ``M``. It can through feedback: PointNavigation's velocity responds to ``M a``
    within a step, and a static network that sees it scored +113 under I and +78 under -I (docs/hebbian.md),
    which is why the remapped navigation ids observe ``g - p`` only.
    """

    def __init__(self, env: gymnasium.Env, variants: str = "train", switch_at: tuple[int, int] | None = None):
        gymnasium.utils.RecordConstructorArgs.__init__(self, variants=variants, switch_at=switch_at)
        gymnasium.Wrapper.__init__(self, env)
        space = env.action_space
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"ActionRemap needs a 1-D Box action space, got {space}")
        if not (np.all(space.high == space.high[0]) and np.all(space.low == -space.high)):
            raise ValueError(f"ActionRemap needs the same symmetric bounds on every axis, got {space}")
        if variants not in VARIANT_SETS:
            raise ValueError(f"ActionRemap: variants must be one of {VARIANT_SETS}, got {variants!r}")
        self.n = space.shape[0]
        self.variants = variants
        self._count = variant_count(self.n)
        self._size = _set_size(variants, self._count)
        if self._size == 0:
            raise ValueError(f"ActionRemap: the {variants!r} set of n = {self.n} is empty")
        self.switch_at = _check_switch_at(switch_at, "ActionRemap switch_at")
        if self.switch_at is not None and self._size < 2:
            raise ValueError("ActionRemap: a switch needs at least two variants in the set")
        self._rng: np.random.Generator | None = None
        self._t = 0
        self.switch_step: int | None = None
        self._set_variant(_index_of(variants, 0, self.n))

    def _set_variant(self, index: int) -> None:
        self.variant = index
        self._perm, self._signs = _perm_and_signs(self.n, index)
        self.mapping = signed_permutation(self.n, index)

    def _info(self, info: dict, switched: bool) -> dict:
        return dict(info, variant=self.variant, switched=switched, switch_step=self.switch_step)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the inner env and draw the episode's map (and switch step) from the reset seed."""
        options = dict(options or {})
        forced = options.pop("variant", None)
        obs, info = self.env.reset(seed=seed, options=options or None)
        self._rng = _episode_rng(seed, _REMAP_STREAM, self._rng)
        if forced is None:
            self._set_variant(_index_of(self.variants, int(self._rng.integers(self._size)), self.n))
        elif not (0 <= int(forced) < self._count and _in_set(self.variants, int(forced), self.n)):
            raise ValueError(f"ActionRemap: variant {forced} is not in the {self.variants!r} set")
        else:
            self._set_variant(int(forced))
        self.switch_step = None if self.switch_at is None else int(self._rng.integers(*self.switch_at))
        self._t = 0
        return obs, self._info(info, False)

    def step(self, action):
        """Step the inner env with ``M a`` (after re-drawing ``M`` if this is the switch step)."""
        switched = self._t == self.switch_step
        if switched:
            # Uniform over the set minus the current map: draw among size - 1 positions, skip the current one.
            current = _position_of(self.variants, self.variant)
            position = int(self._rng.integers(self._size - 1))
            self._set_variant(_index_of(self.variants, position + (position >= current), self.n))
        a = np.asarray(action)
        # (M a)_i = s_i a_pi(i): exact (no rounding), and in the inner space's dtype.
        remapped = (self._signs * a[self._perm]).astype(self.env.action_space.dtype)
        obs, reward, terminated, truncated, info = self.env.step(remapped)
        self._t += 1
        return obs, reward, terminated, truncated, self._info(info, switched)


def make_point_navigation(render_mode: str | None = None, observe_velocity: bool = True) -> PointNavigation:
    """Entry point of ``evoforge/PointNavigation-v0``."""
    return PointNavigation(render_mode=render_mode, observe_velocity=observe_velocity)


def make_remapped_navigation(variants: str = "train", switch_at: tuple[int, int] | None = None,
                             render_mode: str | None = None, observe_velocity: bool = False) -> ActionRemap:
    """Entry point of ``evoforge/RemappedNavigation*-v0``: :class:`ActionRemap` around :class:`PointNavigation`,
    which by default observes only ``g - p`` (no velocity)."""
    return ActionRemap(PointNavigation(render_mode=render_mode, observe_velocity=observe_velocity),
                       variants=variants, switch_at=switch_at)


# --- leg failure of the quadruped ----------------------------------------------------------------------

# Action indices (hip, ankle) of each physical leg of evoforge/Quadruped-v0. The action follows pybullet's
# joint order hip_1, ankle_1, ..., hip_4, ankle_4; the ant walks toward +x, so +y is its left. The MJCF body
# names do not match the physical legs: "front_right_leg" sits at (-x, +y), i.e. back left, etc.
LEG_ACTIONS: dict[str, tuple[int, int]] = {
    "front_left": (0, 1),  # hip_1, ankle_1: body front_left_leg at (+x, +y); foot geom left_ankle_geom
    "back_left": (2, 3),  # hip_2, ankle_2: body front_right_leg at (-x, +y); right_ankle_geom
    "back_right": (4, 5),  # hip_3, ankle_3: body left_back_leg at (-x, -y); third_ankle_geom
    "front_right": (6, 7),  # hip_4, ankle_4: body right_back_leg at (+x, -y); fourth_ankle_geom, the leg
    #                         the damaged_right_front morphology shortens
}


class MidEpisodeLegFailure(gymnasium.Wrapper, gymnasium.utils.RecordConstructorArgs):
    """Motor failure of one quadruped leg from a random step on: its two actions are forced to 0.

    At reset a step ``T`` is drawn uniformly in ``damage_at = [lo, hi)`` from the reset seed; from the
    ``T``-th step on (0-based) the hip and ankle actions of ``leg`` (see :data:`LEG_ACTIONS`; default
    ``"front_right"``, the leg the ``damaged_right_front`` morphology shortens) are replaced by 0, so those
    motors apply no torque and the leg goes limp. ``info`` carries ``"damaged"`` (True from step ``T`` on)
    and ``"damage_step"`` (``T``).

    This is a different damage model from Najarro & Risi 2020 (arXiv 2007.02686), whose damaged ants have a
    lower leg shortened to a quarter from the start of the episode: a shortened leg cannot be swapped in
    mid-episode in pybullet without reloading the robot (a new body, a new state), whereas a failed motor
    can, so the policy must notice the change and compensate within the episode.
    """

    def __init__(self, env: gymnasium.Env, damage_at: tuple[int, int] = (200, 600), leg: str = "front_right"):
        gymnasium.utils.RecordConstructorArgs.__init__(self, damage_at=damage_at, leg=leg)
        gymnasium.Wrapper.__init__(self, env)
        if leg not in LEG_ACTIONS:
            raise ValueError(f"MidEpisodeLegFailure: leg must be one of {tuple(LEG_ACTIONS)}, got {leg!r}")
        if not isinstance(env.action_space, spaces.Box) or env.action_space.shape != (8,):
            raise ValueError(f"MidEpisodeLegFailure needs the quadruped's 8-d Box actions, got {env.action_space}")
        if damage_at is None:
            raise ValueError("MidEpisodeLegFailure: damage_at must be a (lo, hi) step range")
        self.damage_at = _check_switch_at(damage_at, "MidEpisodeLegFailure damage_at")
        self.leg = leg
        self.failed_actions = LEG_ACTIONS[leg]
        self._rng: np.random.Generator | None = None
        self._t = 0
        self.damage_step = self.damage_at[0]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the quadruped and draw this episode's damage step from the reset seed."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._rng = _episode_rng(seed, _LEG_FAILURE_STREAM, self._rng)
        self.damage_step = int(self._rng.integers(*self.damage_at))
        self._t = 0
        return obs, dict(info, damaged=False, damage_step=self.damage_step)

    def step(self, action):
        """Step the quadruped, with the failed leg's actions zeroed from the damage step on."""
        damaged = self._t >= self.damage_step
        a = np.array(action, dtype=self.env.action_space.dtype)  # a copy: the caller's array stays intact
        if damaged:
            a[list(self.failed_actions)] = 0.0
        obs, reward, terminated, truncated, info = self.env.step(a)
        self._t += 1
        return obs, reward, terminated, truncated, dict(info, damaged=damaged, damage_step=self.damage_step)


def make_quadruped_leg_failure(damage_at: tuple[int, int] = (200, 600), leg: str = "front_right",
                               **quadruped_kwargs: Any) -> MidEpisodeLegFailure:
    """Entry point of ``evoforge/QuadrupedLegFailure-v0``: :class:`MidEpisodeLegFailure` around a
    :class:`~evoforge.envs.quadruped.QuadrupedEnv` built from ``quadruped_kwargs`` (morphology, render_mode,
    burn_in_steps, early_stop_after, stall_patience, ...; standard morphology by default)."""
    from evoforge.envs.quadruped import QuadrupedEnv  # pybullet only when the quadruped is wanted

    return MidEpisodeLegFailure(QuadrupedEnv(**quadruped_kwargs), damage_at=damage_at, leg=leg)


# --- recovery measures -------------------------------------------------------------------------------------


def _moving_means(x: np.ndarray, window: int) -> np.ndarray:
    """Means of every full window ``x[k : k + window]``."""
    if len(x) < window:
        return np.zeros(0)
    c = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
    return (c[window:] - c[:-window]) / window


def recovery_curve(rewards, at: int, window: int = 20) -> np.ndarray:
    """Moving-average reward rate after a change at step ``at``, aligned so index 0 = the change step.

    ``curve[k] = mean(rewards[at + k : at + k + window])`` for every full window
    (``k = 0 .. len(rewards) - at - window``); empty when fewer than ``window`` steps follow the change.
    """
    r = np.asarray(rewards, dtype=np.float64).ravel()
    if window < 1:
        raise ValueError(f"recovery_curve: window must be >= 1, got {window}")
    if not 0 <= at <= len(r):
        raise ValueError(f"recovery_curve: change step {at} outside the episode of {len(r)} steps")
    return _moving_means(r[at:], window)


def recovery_time(rewards, reference_rewards, at: int, fraction: float = 0.8, window: int = 20) -> float:
    """Steps after a change (damage, remap switch) at step ``at`` until the reward rate has recovered.

    ``rewards``: per-step rewards of an episode with the change at step ``at``; ``reference_rewards``: the same
    episode seed without the change (or any unchanged reference run). With the reference rate

        rho = mean(reference_rewards[at:])      (or mean(reference_rewards) if that is empty or <= 0),

    the recovery time is the smallest ``k >= 0`` with

        mean(rewards[at + k : at + k + window]) >= fraction * rho,

    over full windows inside the episode (:func:`recovery_curve`); ``inf`` if there is none, and ``nan`` if
    the reference itself makes no positive progress (``rho <= 0``: recovery is undefined). 0 means the
    policy never dropped below the threshold.
    """
    if not 0 < fraction:
        raise ValueError(f"recovery_time: fraction must be > 0, got {fraction}")
    reference = np.asarray(reference_rewards, dtype=np.float64).ravel()
    curve = recovery_curve(rewards, at, window)
    rate = reference[at:].mean() if len(reference) > at else -np.inf
    if not rate > 0:
        rate = reference.mean() if len(reference) else np.nan
    if not rate > 0:
        return float("nan")
    hits = np.flatnonzero(curve >= fraction * rate)
    return float(hits[0]) if len(hits) else float("inf")
