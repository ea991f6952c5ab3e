"""gymnasium environments of evoforge and the batched rollout loop.

Importing this package registers evoforge's own environments with gymnasium; every Ray actor imports it
(through the evaluators), so custom ids resolve inside workers too.
"""

from __future__ import annotations

from typing import Any

import gymnasium

from evoforge.envs.registration import register_envs

register_envs()


def make_env(env_id: str, *, max_episode_steps: int | None = None, render_mode: str | None = None, **kwargs: Any):
    """``gymnasium.make`` without the passive checker (envs are checked once, in tests, with check_env).

    Box2D envs get a fresh physics world at every reset, so an episode depends only on its seed
    (see :mod:`evoforge.envs.box2d`).
    """
    from evoforge.envs.box2d import FreshBox2DWorld, uses_box2d

    env = gymnasium.make(
        env_id, max_episode_steps=max_episode_steps, render_mode=render_mode, disable_env_checker=True, **kwargs
    )
    return FreshBox2DWorld(env) if uses_box2d(env) else env


def is_registered(env_id: str) -> bool:
    """Whether ``env_id`` is already in gymnasium's registry."""
    return env_id in gymnasium.registry
