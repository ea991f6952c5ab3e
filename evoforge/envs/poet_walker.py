"""POET's parameterised BipedalWalker terrain (Wang et al. 2019, arXiv 1901.01753; uber-research/poet
``bipedal_walker_custom.py``), on gymnasium's Box2D walker.

A :class:`TerrainConfig` is one POET *environment*: the encoding (ground roughness, pit-gap range, stump-height
range, optionally stairs) plus one fixed terrain seed, so that every episode in it is the same terrain -- the
reference's setting with ``stochastic`` off. The terrain follows the reference generator: 200 steps of 14/30 m
after a 20-step start pad, grass runs of 5-9 steps between obstacles drawn uniformly from the enabled kinds;
roughness scales the grass's random-walk slope; a pit is 1 + U(gap) steps wide and 4 steps deep; a stump is one
step wide and U(height) steps high (the reference's integer draws of width [1, 2) and float [0, 1) always give 1
and 0). Reward, observations and actions are gymnasium BipedalWalker's (falling costs -100); the registered id
``evoforge/POETWalker-v0`` caps episodes at 2,000 steps. The env pickles as its config and is rebuilt from it.

Enhanced POET's terrains (``cppn`` set, :mod:`evoforge.envs.cppn`): no obstacles, and after the start pad the
ground height is TERRAIN_HEIGHT + f(x') - f(x' at the first step after the pad), with f the CPPN and x' the
position mapped to [-pi, pi] over the terrain (the reference's ``bipedal_walker_custom.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from gymnasium.envs.box2d import bipedal_walker as bw

TERRAIN_STEP, TERRAIN_HEIGHT, TERRAIN_LENGTH = bw.TERRAIN_STEP, bw.TERRAIN_HEIGHT, bw.TERRAIN_LENGTH
TERRAIN_GRASS, TERRAIN_STARTPAD, SCALE = bw.TERRAIN_GRASS, bw.TERRAIN_STARTPAD, bw.SCALE
OBSTACLE_COLOURS = ((255, 255, 255), (153, 153, 153))  # gymnasium's obstacle colours
STAIR_WIDTH = 4  # the reference's stair width range [4, 5) as an integer draw


@dataclass(frozen=True)
class TerrainConfig:
    """One POET environment: encoding + terrain seed. Ranges are (low, high) in terrain steps; None disables."""

    roughness: float = 0.0
    pit_gap: tuple[float, float] | None = None
    stump_height: tuple[float, float] | None = None
    stair_height: tuple[float, float] | None = None
    stair_steps: tuple[int, int] | None = None
    seed: int = 0
    cppn: dict[str, Any] | None = None  # Enhanced POET: the CPPN genome (CPPN.to_dict) of the ground height

    @property
    def name(self) -> str:
        """The reference's name of the encoding, e.g. ``r1.2.p0.4_1.2.b0.2_0.6`` (b = stump height); a CPPN
        terrain is named by its genome, ``cppn.<hash>``."""
        if self.cppn is not None:
            from evoforge.envs.cppn import CPPN

            return f"cppn.{CPPN.from_dict(self.cppn).digest()}"
        parts = [f"r{self.roughness:g}"]
        if self.pit_gap is not None:
            parts.append(f"p{self.pit_gap[0]:g}_{self.pit_gap[1]:g}")
        if self.stump_height is not None:
            parts.append(f"b{self.stump_height[0]:g}_{self.stump_height[1]:g}")
        if self.stair_height is not None and self.stair_steps is not None:
            (h_low, h_high), (n_low, n_high) = self.stair_height, self.stair_steps
            parts.append(f"s{h_low:g}_{h_high:g}_{n_low}_{n_high}")
        return ".".join(parts)

    def vector(self) -> np.ndarray:
        """The reference's 5-D novelty encoding [roughness, pit lo, pit hi, stump lo, stump hi] (unnormalised;
        a disabled range counts as 0, 0)."""
        pit = self.pit_gap or (0.0, 0.0)
        stump = self.stump_height or (0.0, 0.0)
        return np.array([self.roughness, *pit, *stump], dtype=np.float64)

    @property
    def obstacles(self) -> tuple[str, ...]:
        """The obstacle kinds this terrain enables, in the reference's order: stump, stairs, pit (none on a
        CPPN terrain, as Enhanced POET)."""
        if self.cppn is not None:
            return ()
        kinds = []
        if self.stump_height is not None:
            kinds.append("stump")
        if self.stair_height is not None and self.stair_steps is not None:
            kinds.append("stairs")
        if self.pit_gap is not None:
            kinds.append("pit")
        return tuple(kinds)  # the reference's state numbering order: stump, stairs, pit

    def to_dict(self) -> dict[str, Any]:
        """Plain dict with ranges as lists (JSON and YAML friendly); :meth:`from_dict` reverses it."""
        data = asdict(self)
        for key in ("pit_gap", "stump_height", "stair_height", "stair_steps"):
            if data[key] is not None:
                data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TerrainConfig":
        """The terrain of a :meth:`to_dict` dict (ranges back to tuples)."""
        data = dict(data)
        if data.get("cppn") is not None:  # validate the genome now, not at the first reset
            from evoforge.envs.cppn import CPPN

            data["cppn"] = CPPN.from_dict(data["cppn"]).to_dict()
        for key in ("pit_gap", "stump_height", "stair_height", "stair_steps"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)


FLAT = TerrainConfig()


class POETWalker(bw.BipedalWalker):
    """gymnasium's BipedalWalker on a POET terrain; every reset rebuilds the same terrain from the config."""

    def __init__(self, config: TerrainConfig | dict[str, Any] | None = None, render_mode: str | None = None):
        self.config = config if isinstance(config, TerrainConfig) else TerrainConfig.from_dict(config or {})
        super().__init__(render_mode=render_mode, hardcore=bool(self.config.obstacles))

    def __reduce__(self):  # pickle as the config: Box2D objects do not pickle
        return (POETWalker, (self.config.to_dict(), self.render_mode))

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """The terrain always comes from the config's seed; the episode ``seed`` draws only the clouds and the
        small random push at the start (reset with ``seed=config.seed`` for the reference's identical rollouts)."""
        import Box2D

        self._destroy()
        self.world = Box2D.b2World()  # a fresh world: no contact history from earlier episodes
        return super().reset(seed=seed, options=options)

    def _generate_terrain(self, hardcore: bool) -> None:
        config, rng = self.config, np.random.default_rng(self.config.seed)
        kinds = config.obstacles
        grass, state = "grass", "grass"
        velocity, y, counter, oneshot = 0.0, TERRAIN_HEIGHT, TERRAIN_STARTPAD, False
        pit_gap = pit_diff = original_y = 0.0
        stair_height = stair_slope = stair_steps = 0
        self.terrain, self.terrain_x, self.terrain_y = [], [], []
        altitude = self._cppn_altitudes()

        def obstacle(vertices) -> None:
            self.fd_polygon.shape.vertices = vertices
            body = self.world.CreateStaticBody(fixtures=self.fd_polygon)
            body.color1, body.color2 = OBSTACLE_COLOURS
            self.terrain.append(body)

        for i in range(TERRAIN_LENGTH):
            x = i * TERRAIN_STEP
            self.terrain_x.append(x)
            if state == grass and not oneshot and altitude is not None:
                velocity = 0.8 * velocity + 0.01 * np.sign(TERRAIN_HEIGHT - y)
                y += velocity
                if i > TERRAIN_STARTPAD:
                    y = TERRAIN_HEIGHT + altitude[i] - altitude[TERRAIN_STARTPAD + 1]
            elif state == grass and not oneshot:
                velocity = 0.8 * velocity + 0.01 * np.sign(TERRAIN_HEIGHT - y)
                if i > TERRAIN_STARTPAD:
                    velocity += rng.uniform(-1, 1) / SCALE
                y += config.roughness * velocity  # roughness scales the random walk (1 = gymnasium's normal walker)
            elif state == "pit" and oneshot:
                pit_gap = 1.0 + rng.uniform(*config.pit_gap)
                counter = np.ceil(pit_gap)
                pit_diff = counter - pit_gap
                wall = [(x, y), (x + TERRAIN_STEP, y), (x + TERRAIN_STEP, y - 4 * TERRAIN_STEP),
                        (x, y - 4 * TERRAIN_STEP)]
                obstacle(wall)
                obstacle([(px + TERRAIN_STEP * pit_gap, py) for px, py in wall])
                counter += 2
                original_y = y
            elif state == "pit" and not oneshot:
                y = original_y
                if counter > 1:
                    y -= 4 * TERRAIN_STEP
                if counter == 1:
                    self.terrain_x[-1] -= pit_diff * TERRAIN_STEP
                    pit_diff = 0
            elif state == "stump" and oneshot:
                height = rng.uniform(*config.stump_height)
                counter = 1  # one step wide, on the ground
                obstacle([(x, y), (x + TERRAIN_STEP, y), (x + TERRAIN_STEP, y + height * TERRAIN_STEP),
                          (x, y + height * TERRAIN_STEP)])
            elif state == "stairs" and oneshot:
                stair_height = rng.uniform(*config.stair_height)
                stair_slope = 1 if rng.random() > 0.5 else -1
                stair_steps = int(rng.integers(*config.stair_steps)) if config.stair_steps[1] > config.stair_steps[
                    0] else int(config.stair_steps[0])
                original_y = y
                for s in range(stair_steps):
                    left, right = x + s * STAIR_WIDTH * TERRAIN_STEP, x + (s + 1) * STAIR_WIDTH * TERRAIN_STEP
                    top = y + s * stair_height * stair_slope * TERRAIN_STEP
                    obstacle([(left, top), (right, top), (right, top - stair_height * TERRAIN_STEP),
                              (left, top - stair_height * TERRAIN_STEP)])
                counter = stair_steps * STAIR_WIDTH + 1
            elif state == "stairs" and not oneshot:
                n = (stair_steps * STAIR_WIDTH - counter) // STAIR_WIDTH
                y = (original_y + n * stair_height * stair_slope * TERRAIN_STEP
                     - (stair_height if stair_slope == -1 else 0) * TERRAIN_STEP)
            oneshot = False
            self.terrain_y.append(y)
            counter -= 1
            if counter == 0:
                counter = int(rng.integers(TERRAIN_GRASS // 2, TERRAIN_GRASS))
                if state == grass and kinds:
                    state = kinds[int(rng.integers(0, len(kinds)))]
                else:
                    state = grass
                oneshot = True

        self.terrain_poly = []
        for i in range(TERRAIN_LENGTH - 1):
            edge = [(self.terrain_x[i], self.terrain_y[i]), (self.terrain_x[i + 1], self.terrain_y[i + 1])]
            self.fd_edge.shape.vertices = edge
            body = self.world.CreateStaticBody(fixtures=self.fd_edge)
            body.color1 = body.color2 = (76, 255 if i % 2 == 0 else 204, 76)
            self.terrain.append(body)
            self.terrain_poly.append((edge + [(edge[1][0], 0), (edge[0][0], 0)], (102, 153, 76)))
        self.terrain.reverse()

    def _cppn_altitudes(self) -> np.ndarray | None:
        """f(x') at every terrain step of a CPPN terrain (x' = (x - mid) pi / mid), or None."""
        if self.config.cppn is None:
            return None
        from evoforge.envs.cppn import CPPN

        mid = TERRAIN_LENGTH * TERRAIN_STEP / 2.0
        positions = np.arange(TERRAIN_LENGTH) * TERRAIN_STEP
        return CPPN.from_dict(self.config.cppn)((positions - mid) * np.pi / mid)

    def obstacle_polygons(self) -> list[list[tuple[float, float]]]:
        """World-space polygons of the obstacles (stumps, pit walls, stairs) of the current terrain."""
        polygons = []
        for body in self.terrain:
            for fixture in body.fixtures:
                if hasattr(fixture.shape, "vertices") and len(fixture.shape.vertices) > 2:
                    polygons.append([tuple(body.transform * v) for v in fixture.shape.vertices])
        return polygons


def terrain_thumbnail(config: TerrainConfig, ax=None, title: str | None = None):
    """Draw the terrain profile and obstacles of ``config`` with matplotlib (on ``ax`` or a new figure)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    env = POETWalker(config)
    env.reset()
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 1.6))
    ground = [(x, y) for x, y in zip(env.terrain_x, env.terrain_y)]
    ax.fill_between([p[0] for p in ground], [p[1] for p in ground], 0, color=(0.40, 0.60, 0.30), linewidth=0)
    for polygon in env.obstacle_polygons():
        ax.add_patch(Polygon(polygon, closed=True, facecolor=(0.55, 0.55, 0.55), edgecolor="black", linewidth=0.3))
    ax.set_xlim(0, env.terrain_x[-1])
    top = max(TERRAIN_HEIGHT * 2.2, max(env.terrain_y) * 1.1)  # CPPN terrains may climb above the usual frame
    ax.set_ylim(min(0.0, min(env.terrain_y)), top)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title if title is not None else config.name, fontsize=7)
    env.close()
    return ax


# -- mutation (uber-research/poet ``reproduce_ops.py``, original POET) ---------------------------------------------
ROUGHNESS_STEP, ROUGHNESS_MAX = 0.6, 10.0
PIT_START, PIT_STEP, PIT_MAX = (0.0, 0.8), 0.4, 8.0
STUMP_START, STUMP_STEP, STUMP_MAX = (0.0, 0.4), 0.2, 5.0
CATEGORIES = ("roughness", "pit", "stump")  # the reference's enabled obstacle types (stairs never enabled)


def _move_range(current: tuple[float, float] | None, start: tuple[float, float], step: float, top: float,
                rng: np.random.Generator) -> tuple[float, float]:
    """A disabled range starts at ``start``; an enabled one moves each bound by -step, 0 or +step, uniformly among
    the moves that keep start <= bound <= top and low <= high, excluding "neither moves" (rounded to 0.1)."""
    if current is None:
        return start
    choices = []
    for low_move in (step, 0.0, -step):
        low = round(current[0] + low_move, 1)
        if not start[0] <= low <= top:
            continue
        for high_move in (step, 0.0, -step):
            high = round(current[1] + high_move, 1)
            if not start[1] <= high <= top or (low_move == 0.0 and high_move == 0.0) or low > high:
                continue
            choices.append((low, high))
    return choices[int(rng.integers(len(choices)))] if choices else current


def mutate_terrain(parent: TerrainConfig, rng: np.random.Generator,
                   categories: tuple[str, ...] = CATEGORIES) -> TerrainConfig:
    """The reference's mutation: every enabled category changes at once -- roughness by U(-0.6, 0.6) (rounded to
    0.1, clipped to [0, 10]); pit gap and stump height start at [0, 0.8] / [0, 0.4] and then move their bounds by
    0.4 / 0.2 (limits 8 / 5) -- and the child gets a fresh terrain seed in [0, 1e6)."""
    roughness, pit, stump = parent.roughness, parent.pit_gap, parent.stump_height
    if "roughness" in categories:
        roughness = float(np.clip(round(roughness + rng.uniform(-ROUGHNESS_STEP, ROUGHNESS_STEP), 1), 0.0,
                                  ROUGHNESS_MAX)) + 0.0  # + 0.0 turns -0.0 into 0.0 (names print "r0")
    if "pit" in categories:
        pit = _move_range(pit, PIT_START, PIT_STEP, PIT_MAX, rng)
    if "stump" in categories:
        stump = _move_range(stump, STUMP_START, STUMP_STEP, STUMP_MAX, rng)
    return TerrainConfig(roughness=roughness, pit_gap=pit, stump_height=stump, stair_height=parent.stair_height,
                         stair_steps=parent.stair_steps, seed=int(rng.integers(1_000_000)))


DIFFICULTY_THRESHOLDS = {"stump": 2.4, "pit": 6.0, "roughness": 4.5}
DIFFICULTY_CLASSES = ("not challenging", "challenging", "very challenging", "extremely challenging")
UNCLASSIFIED = "unclassified (CPPN)"  # the paper's classes are thresholds on the 5-parameter encoding


def difficulty(config: TerrainConfig) -> str:
    """The paper's classes: how many of stump-height high >= 2.4, pit-gap high >= 6.0, roughness >= 4.5 hold
    (:data:`UNCLASSIFIED` for a CPPN terrain, which has no such parameters)."""
    if config.cppn is not None:
        return UNCLASSIFIED
    reached = (
        (config.stump_height is not None and config.stump_height[1] >= DIFFICULTY_THRESHOLDS["stump"])
        + (config.pit_gap is not None and config.pit_gap[1] >= DIFFICULTY_THRESHOLDS["pit"])
        + (config.roughness >= DIFFICULTY_THRESHOLDS["roughness"])
    )
    return DIFFICULTY_CLASSES[int(reached)]
