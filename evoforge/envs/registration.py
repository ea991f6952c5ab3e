"""gymnasium ids of evoforge's own environments (registered when :mod:`evoforge.envs` is imported).

* ``evoforge/Quadruped-v0`` and its damaged variants: the pybullet ant of :mod:`evoforge.envs.quadruped`.
* ``evoforge/CarRacingPixels-v0``: CarRacing-v3 with the Hebbian paper's preprocessing
  (:mod:`evoforge.envs.carracing`).
* ``evoforge/POETWalker-v0``: BipedalWalker on a POET terrain (:mod:`evoforge.envs.poet_walker`), 2,000 steps.
* ``evoforge/pcgrl-{problem}-{representation}-v0``: PCGRL level design (:mod:`evoforge.envs.pcgrl`), problems
  binary, zelda, sokoban x representations narrow, turtle, wide.
* Within-episode adaptation (:mod:`evoforge.envs.adaptation`), for plastic (Hebbian) policies:
  ``evoforge/PointNavigation-v0`` (MAML's 2D navigation as a point mass with a stream of goals, 200 steps);
  ``evoforge/RemappedNavigation-v0`` / ``evoforge/RemappedNavigationHeldOut-v0`` (the same with a hidden
  signed permutation of the two action axes, from the train / held-out set); ``evoforge/RemappedNavigationSwitch-v0``
  (train maps, re-drawn once at a step in [60, 140)); ``evoforge/QuadrupedLegFailure-v0`` (the standard ant,
  whose front-right leg motors fail at a step in [200, 600), 1,000 steps; takes QuadrupedEnv's kwargs and
  ``damage_at`` / ``leg``).
"""

from __future__ import annotations

import gymnasium

QUADRUPED_ENTRY_POINT = "evoforge.envs.quadruped:QuadrupedEnv"
QUADRUPED_IDS: dict[str, str] = {
    "evoforge/Quadruped-v0": "standard",
    "evoforge/QuadrupedDamagedRightFront-v0": "damaged_right_front",
    "evoforge/QuadrupedDamagedLeftFront-v0": "damaged_left_front",
}
CARRACING_ID = "evoforge/CarRacingPixels-v0"
POET_WALKER_ID = "evoforge/POETWalker-v0"
PCGRL_PROBLEMS = ("binary", "zelda", "sokoban")
PCGRL_REPRESENTATIONS = ("narrow", "turtle", "wide")
# id -> (entry point, kwargs, max_episode_steps); the entry points are functions, so make() kwargs override
ADAPTATION_IDS: dict[str, tuple[str, dict, int]] = {
    "evoforge/PointNavigation-v0": ("evoforge.envs.adaptation:make_point_navigation", {}, 200),
    "evoforge/RemappedNavigation-v0": (
        "evoforge.envs.adaptation:make_remapped_navigation", {"variants": "train"}, 200),
    "evoforge/RemappedNavigationHeldOut-v0": (
        "evoforge.envs.adaptation:make_remapped_navigation", {"variants": "held_out"}, 200),
    "evoforge/RemappedNavigationSwitch-v0": (
        "evoforge.envs.adaptation:make_remapped_navigation", {"variants": "train", "switch_at": (60, 140)}, 200),
    "evoforge/QuadrupedLegFailure-v0": (
        "evoforge.envs.adaptation:make_quadruped_leg_failure", {"damage_at": (200, 600), "leg": "front_right"}, 1000),
}


def pcgrl_id(problem: str, representation: str) -> str:
    """Gymnasium id of a PCGRL env: ``evoforge/pcgrl-{problem}-{representation}-v0``."""
    return f"evoforge/pcgrl-{problem}-{representation}-v0"


def register_envs() -> None:
    """Register every evoforge id (idempotent: ids already in the registry are left alone)."""
    for env_id, morphology in QUADRUPED_IDS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(
                id=env_id, entry_point=QUADRUPED_ENTRY_POINT, kwargs={"morphology": morphology}, max_episode_steps=1000
            )
    if CARRACING_ID not in gymnasium.registry:
        gymnasium.register(
            id=CARRACING_ID, entry_point="evoforge.envs.carracing:make_carracing_pixels", max_episode_steps=1000
        )
    for problem in PCGRL_PROBLEMS:
        for representation in PCGRL_REPRESENTATIONS:
            env_id = pcgrl_id(problem, representation)
            if env_id not in gymnasium.registry:  # episodes end by the change and iteration budgets
                gymnasium.register(id=env_id, entry_point="evoforge.envs.pcgrl.env:PCGRLEnv",
                                   kwargs={"problem": problem, "representation": representation})
    if POET_WALKER_ID not in gymnasium.registry:
        gymnasium.register(id=POET_WALKER_ID, entry_point="evoforge.envs.poet_walker:POETWalker", max_episode_steps=2000)
    for env_id, (entry_point, kwargs, steps) in ADAPTATION_IDS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry_point, kwargs=dict(kwargs), max_episode_steps=steps)
