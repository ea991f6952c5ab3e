"""A gymnasium quadruped (the MuJoCo ant, simulated by pybullet) with damaged-leg morphologies.

Reproduces pybullet's ``AntBulletEnv-v0`` (``pybullet_envs``: robot_bases.py, robot_locomotors.py
``WalkerBase``/``Ant``, gym_locomotion_envs.py ``WalkerBaseBulletEnv``, scene_stadium.py), which needs
the old ``gym`` package, on gymnasium. The morphologies follow Najarro & Risi 2020, "Meta-Learning through
Hebbian Plasticity in Random Networks" (arXiv 2007.02686): the standard ant and two ants whose front
right / front left lower leg is shortened to a quarter.

As in that paper, the reward is pybullet's *progress* term only (potential difference, potential =
-distance_to_target / dt); pybullet's other reward terms are reported in ``info``. Physics, observation,
torques and termination follow pybullet's AntBulletEnv (see the comments for the facts reproduced).

The reference's episode protocol for the ant (enajx/HebbianMetaLearning ``fitness_functions.py``) is
available as options: ``burn_in_steps=40`` zero-action steps inside ``reset`` so the robot settles (the
reference's 1000-step budget includes them: use a 960-step time limit), and ``early_stop_after=200``: for
the first 200 steps a fallen torso does not end the episode; afterwards a fall ends it, and so do more than
``stall_patience`` (30) consecutive steps of negative progress (a truncation).
"""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from typing import Any

import gymnasium
import numpy as np
import pybullet
import pybullet_data
from gymnasium import spaces
from pybullet_utils.bullet_client import BulletClient

# Geom to shorten per damaged morphology: (geom name, original fromto, fromto at 1/4 length).
# The ant walks toward +x, so the body "right_back_foot" (x > 0, y < 0) is physically the front-right leg.
DAMAGE: dict[str, tuple[str, str, str]] = {
    "damaged_left_front": ("left_ankle_geom", "0.0 0.0 0.0 0.4 0.4 0.0", "0.0 0.0 0.0 0.1 0.1 0.0"),
    "damaged_right_front": ("fourth_ankle_geom", "0.0 0.0 0.0 0.4 -0.4 0.0", "0.0 0.0 0.0 0.1 -0.1 0.0"),
}
MORPHOLOGIES = ("standard", *DAMAGE)

FOOT_LIST = ("front_left_foot", "front_right_foot", "left_back_foot", "right_back_foot")  # Ant.foot_list
POWER = 2.5  # Ant power
POWER_COEF = 100.0  # XmlBasedRobot.addToScene sets power_coef = 100 for every motor joint
FRAME_SKIP = 4
DT = 0.0165  # scene dt = timestep 0.0165/4 * frame_skip 4
WALK_TARGET = (1000.0, 0.0)  # WalkerBase: "kilometer away"
ELECTRICITY_COST = -2.0  # WalkerBaseBulletEnv cost weights, reported in info only
STALL_TORQUE_COST = -0.1
JOINTS_AT_LIMIT_COST = -0.1
LOAD_FLAGS = (  # MJCFBasedRobot.reset
    pybullet.URDF_USE_SELF_COLLISION
    | pybullet.URDF_USE_SELF_COLLISION_EXCLUDE_ALL_PARENTS
    | pybullet.URDF_GOOGLEY_UNDEFINED_COLORS
)


def ant_xml_path() -> str:
    """Path of pybullet_data's MJCF ant, the quadruped's default body."""
    return os.path.join(pybullet_data.getDataPath(), "mjcf", "ant.xml")


def morphology_xml(morphology: str) -> str:
    """Path of the MJCF file of ``morphology``; damaged ants are generated once into a cache dir."""
    if morphology not in MORPHOLOGIES:
        raise ValueError(f"unknown morphology {morphology!r}; expected one of {MORPHOLOGIES}")
    if morphology == "standard":
        return ant_xml_path()
    geom_name, old, new = DAMAGE[morphology]
    tree = ET.parse(ant_xml_path())
    geom = tree.getroot().find(f".//geom[@name='{geom_name}']")
    if geom is None or geom.get("fromto") != old:
        raise RuntimeError(f"pybullet_data ant.xml changed: geom {geom_name} fromto is not {old!r}")
    geom.set("fromto", new)
    cache = os.path.join(tempfile.gettempdir(), "evoforge-mjcf")
    os.makedirs(cache, exist_ok=True)
    path = os.path.join(cache, f"ant_{morphology}.xml")
    # Atomic write: several worker processes may generate the same file at once.
    fd, tmp = tempfile.mkstemp(dir=cache, suffix=".xml.tmp")
    with os.fdopen(fd, "wb") as f:
        tree.write(f)
    os.replace(tmp, path)
    return path


class QuadrupedEnv(gymnasium.Env):
    """pybullet's AntBulletEnv on gymnasium; reward = progress toward (1000, 0) per 0.0165 s step."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 60}

    def __init__(
        self,
        morphology: str = "standard",
        xml_path: str | None = None,
        render_mode: str | None = None,
        burn_in_steps: int = 0,
        early_stop_after: int | None = None,
        stall_patience: int = 30,
    ):
        if burn_in_steps < 0 or (early_stop_after is not None and early_stop_after < 0) or stall_patience < 0:
            raise ValueError("QuadrupedEnv: burn_in_steps, early_stop_after and stall_patience must be >= 0")
        self.burn_in_steps = burn_in_steps
        self.early_stop_after = early_stop_after
        self.stall_patience = stall_patience
        self._t = 0
        self._negative_streak = 0
        if xml_path is not None:
            if not os.path.isfile(xml_path):
                raise FileNotFoundError(f"QuadrupedEnv: MJCF file not found: {xml_path}")
            self.xml_path = os.path.abspath(xml_path)
            self.morphology = "custom"
        else:
            self.xml_path = morphology_xml(morphology)
            self.morphology = morphology
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unsupported render_mode {render_mode!r}")
        self.render_mode = render_mode
        # Own client per instance: several envs share one process, the global client would mix them.
        self._p: BulletClient | None = BulletClient(connection_mode=pybullet.DIRECT)
        self._load()
        n = len(self._joints)
        self.action_space = spaces.Box(-1.0, 1.0, (n,), np.float32)
        # pybullet declares (-inf, inf); calc_state clips to [-5, 5], so say so (check_env can verify it).
        self.observation_space = spaces.Box(-5.0, 5.0, (8 + 2 * n + len(FOOT_LIST),), np.float32)
        self._torso_xyz: tuple[float, float, float] = (0.0, 0.0, 0.75)  # render() before reset()
        self._feet_contact = np.zeros(len(FOOT_LIST), dtype=np.float32)
        self._initial_z: float | None = None

    # --- simulation ---------------------------------------------------------------------------------

    def _load(self) -> None:
        """A fresh world (so an episode depends only on its seed): scene, ground, robot, motors off."""
        p = self._p
        p.resetSimulation()
        p.setPhysicsEngineParameter(deterministicOverlappingPairs=1)  # MJCFBaseBulletEnv.reset
        p.setGravity(0, 0, -9.8)  # World.clean_everything
        p.setDefaultContactERP(0.9)
        p.setPhysicsEngineParameter(fixedTimeStep=DT, numSolverIterations=5, numSubSteps=FRAME_SKIP)
        stadium = os.path.join(pybullet_data.getDataPath(), "plane_stadium.sdf")
        if os.path.exists(stadium):
            ground = p.loadSDF(stadium)
        else:
            ground = [p.loadURDF(os.path.join(pybullet_data.getDataPath(), "plane.urdf"))]
        for g in ground:  # StadiumScene.episode_restart
            p.changeDynamics(g, -1, lateralFriction=0.8, restitution=0.5)
            p.changeVisualShape(g, -1, rgbaColor=[1, 1, 1, 0.8])
        self._floor = ground[0]
        self._robot = p.loadMJCF(self.xml_path, flags=LOAD_FLAGS)[0]
        self._joints: list[int] = []
        self._lower: list[float] = []
        self._upper: list[float] = []
        link_names: list[str] = []
        for j in range(p.getNumJoints(self._robot)):
            # addToScene: every joint's default motor is switched off (zero force) so torques act alone.
            p.setJointMotorControl2(
                self._robot, j, pybullet.POSITION_CONTROL, positionGain=0.1, velocityGain=0.1, force=0
            )
            info = p.getJointInfo(self._robot, j)
            name, link = info[1].decode(), info[12].decode()
            link_names.append(link)
            if not name.startswith(("ignore", "jointfix")):  # ordered_joints of robot_bases
                self._joints.append(j)
                self._lower.append(info[8])
                self._upper.append(info[9])
        self._links = list(range(len(link_names)))
        self._feet = [link_names.index(f) if f in link_names else None for f in FOOT_LIST]
        self._mid = 0.5 * (np.array(self._lower) + np.array(self._upper))
        self._half_range = 0.5 * (np.array(self._upper) - np.array(self._lower))

    def _calc_state(self) -> np.ndarray:
        """WalkerBase.calc_state (also stores what the reward terms need)."""
        p = self._p
        states = p.getJointStates(self._robot, self._joints)
        pos = np.array([s[0] for s in states])
        vel = np.array([s[1] for s in states])
        rel = (pos - self._mid) / self._half_range
        self._joint_speeds = (0.1 * vel).astype(np.float32)
        self._joints_at_limit = int(np.count_nonzero(np.abs(rel.astype(np.float32)) > 0.99))
        torso_xyz, torso_quat = p.getBasePositionAndOrientation(self._robot)
        # pybullet averages x, y over its `parts` dict: the torso, every link and (added by
        # WalkerBaseBulletEnv.reset) the floor body at the origin. Keep the floor in, so progress
        # (hence fitness) matches AntBulletEnv's numbers.
        xyz = [torso_xyz, p.getBasePositionAndOrientation(self._floor)[0]]
        xyz += [s[0] for s in p.getLinkStates(self._robot, self._links)]
        xyz = np.array(xyz)
        self._body_xyz = (xyz[:, 0].mean(), xyz[:, 1].mean(), torso_xyz[2])
        self._torso_xyz = torso_xyz
        roll, pitch, yaw = p.getEulerFromQuaternion(torso_quat)
        self._pitch = pitch
        z = torso_xyz[2]
        if self._initial_z is None:
            self._initial_z = z
        dy, dx = WALK_TARGET[1] - self._body_xyz[1], WALK_TARGET[0] - self._body_xyz[0]
        self._walk_target_dist = float(np.linalg.norm([dy, dx]))
        angle_to_target = np.arctan2(dy, dx) - yaw
        # Linear velocity rotated by -yaw into the body's heading frame.
        v = np.array(p.getBaseVelocity(self._robot)[0])
        c, s = np.cos(-yaw), np.sin(-yaw)
        vx, vy, vz = c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]
        more = np.array(
            [z - self._initial_z, np.sin(angle_to_target), np.cos(angle_to_target)]
            + [0.3 * vx, 0.3 * vy, 0.3 * vz, roll, pitch],  # 0.3: typical speed into about -1..1
            dtype=np.float32,
        )
        joints = np.stack([rel, 0.1 * vel], axis=1).astype(np.float32).ravel()
        return np.clip(np.concatenate([more, joints, self._feet_contact]), -5, 5).astype(np.float32)

    def _potential(self) -> float:
        return -self._walk_target_dist / DT

    # --- gymnasium API ------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._load()
        # robot_specific_reset: each motor joint at uniform(-0.1, 0.1) rad, at rest, motor off.
        for j in self._joints:
            angle = self.np_random.uniform(low=-0.1, high=0.1)
            self._p.resetJointState(self._robot, j, targetValue=angle, targetVelocity=0)
            self._p.setJointMotorControl2(
                self._robot, j, pybullet.POSITION_CONTROL, targetPosition=0, targetVelocity=0,
                positionGain=0.1, velocityGain=0.1, force=0,
            )
        self._feet_contact = np.zeros(len(FOOT_LIST), dtype=np.float32)
        self._initial_z = None
        obs = self._calc_state()
        self._potential_value = self._potential()
        # Reference burn-in: zero torques so the ant settles; rewards and terminations are ignored.
        zeros = np.zeros(len(self._joints), dtype=np.float32)
        for _ in range(self.burn_in_steps):
            obs, *_ = self._simulate(zeros)
        self._t = 0
        self._negative_streak = 0
        return obs, {"x": float(self._torso_xyz[0])}

    def step(self, action):
        obs, progress, terminated, info = self._simulate(action)
        truncated = False
        if self.early_stop_after is not None:
            # Reference protocol: until step 200 nothing ends the episode (not even a fall); after it, a
            # fall or more than `stall_patience` negative-progress steps in a row do.
            if self._t > self.early_stop_after:
                self._negative_streak = self._negative_streak + 1 if progress < 0 else 0
                if not terminated and self._negative_streak > self.stall_patience:
                    truncated = True
                    info["early_stop"] = "negative progress streak"
            else:
                terminated = False
        self._t += 1
        return obs, progress, terminated, truncated, info

    def _simulate(self, action) -> tuple[np.ndarray, float, bool, dict]:
        """One control step (4 physics substeps): observation, progress, terminated, info."""
        a = np.asarray(action)
        assert np.isfinite(a).all(), "non-finite action"
        torques = POWER * POWER_COEF * np.clip(a.astype(np.float64), -1.0, 1.0)
        self._p.setJointMotorControlArray(self._robot, self._joints, pybullet.TORQUE_CONTROL, forces=torques.tolist())
        self._p.stepSimulation()  # 4 substeps of 0.0165/4 s
        obs = self._calc_state()  # like pybullet, feet contacts in obs lag one step (updated below)
        alive = 1.0 if self._torso_xyz[2] > 0.26 else -1.0  # Ant.alive_bonus: 0.25 = torso radius
        terminated = alive < 0 or not np.isfinite(obs).all()
        old = self._potential_value
        self._potential_value = self._potential()
        progress = float(self._potential_value - old)
        for i, link in enumerate(self._feet):
            touching = link is not None and len(self._p.getContactPoints(self._robot, self._floor, link)) > 0
            self._feet_contact[i] = 1.0 if touching else 0.0
        electricity = ELECTRICITY_COST * float(np.abs(a * self._joint_speeds).mean())
        electricity += STALL_TORQUE_COST * float(np.square(a).mean())
        info = {
            "x": float(self._torso_xyz[0]),
            "progress": progress,
            "alive": alive,
            "electricity_cost": electricity,
            "joints_at_limit_cost": JOINTS_AT_LIMIT_COST * self._joints_at_limit,
            "feet_collision_cost": 0.0,  # pybullet computes it as 0 too (roboschool issue 63)
        }
        return obs, progress, bool(terminated), info

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        w, h = 320, 240
        view = self._p.computeViewMatrixFromYawPitchRoll(
            cameraTargetPosition=self._torso_xyz, distance=3, yaw=0, pitch=-30, roll=0, upAxisIndex=2
        )
        proj = self._p.computeProjectionMatrixFOV(fov=60, aspect=w / h, nearVal=0.1, farVal=100.0)
        # ER_TINY_RENDERER: software renderer, works headless (pybullet's env asks for OpenGL).
        _, _, px, _, _ = self._p.getCameraImage(w, h, view, proj, renderer=pybullet.ER_TINY_RENDERER)
        return np.reshape(np.asarray(px, dtype=np.uint8), (h, w, 4))[:, :, :3].copy()

    def close(self) -> None:
        if self._p is not None:
            self._p.disconnect()
            self._p = None
