"""gymnasium ids of evoforge's quadruped (pybullet ant) environments; see :mod:`evoforge.envs.quadruped`."""

from __future__ import annotations

import gymnasium

ENTRY_POINT = "evoforge.envs.quadruped:QuadrupedEnv"
QUADRUPED_IDS: dict[str, str] = {
    "evoforge/Quadruped-v0": "standard",
    "evoforge/QuadrupedDamagedRightFront-v0": "damaged_right_front",
    "evoforge/QuadrupedDamagedLeftFront-v0": "damaged_left_front",
}


def register_envs() -> None:
    """Register the quadruped ids (idempotent: ids already in the registry are left alone)."""
    for env_id, morphology in QUADRUPED_IDS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(
                id=env_id, entry_point=ENTRY_POINT, kwargs={"morphology": morphology}, max_episode_steps=1000
            )
