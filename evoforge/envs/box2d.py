"""Make Box2D environments depend only on their reset seed.

gymnasium's Box2D envs (BipedalWalker, LunarLander, CarRacing) create their physics world once, in
``__init__``, and only destroy the bodies on reset. Box2D's broad-phase and contact bookkeeping keep history
across episodes, so the same seed and actions give slightly different trajectories depending on what the env
ran before (measured: BipedalWalker returns differing by several points). Evaluations must not depend on
which worker or chunk a genome lands in, so evoforge hands these envs a new world at every reset; creating
a world costs microseconds against milliseconds for the reset itself.
"""

from __future__ import annotations

from typing import Any

import gymnasium


class FreshBox2DWorld(gymnasium.Wrapper):
    """Replace the unwrapped env's ``b2World`` (same gravity) before every reset."""

    def reset(self, **kwargs: Any):
        import Box2D

        inner = self.env.unwrapped
        inner._destroy()
        inner.world = Box2D.b2World(gravity=inner.world.gravity)
        return self.env.reset(**kwargs)


def uses_box2d(env: gymnasium.Env) -> bool:
    """Whether ``env`` simulates with a Box2D world that :class:`FreshBox2DWorld` can replace at reset."""
    world = getattr(env.unwrapped, "world", None)
    return type(world).__name__ == "b2World" and hasattr(env.unwrapped, "_destroy")
