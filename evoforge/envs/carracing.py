"""CarRacing from pixels as in the Hebbian paper (Najarro & Risi 2020, arXiv 2007.02686, Sec. 4).

Around gymnasium's CarRacing-v3 (continuous actions): the 96x96 RGB frame is resized to 84x84, scaled to
[0, 1] and given channels first, (3, 84, 84) float32 (the reference also swaps H and W through ``swapaxes``;
we keep the image upright, which a convolution does not care about). An episode stops early after more than
20 consecutive steps with negative reward (the car has left the track or stands still), reported as a
truncation since the state itself is not terminal. The time limit of 1000 steps comes from registration.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from PIL import Image

OBS_SIZE = 84
NEGATIVE_STREAK_LIMIT = 20


def preprocess_frame(frame: np.ndarray, size: int = OBS_SIZE) -> np.ndarray:
    """(H, W, 3) uint8 -> (3, size, size) float32 in [0, 1], bilinear resize."""
    resized = np.asarray(Image.fromarray(frame).resize((size, size), Image.BILINEAR), dtype=np.float32)
    return np.ascontiguousarray(resized.transpose(2, 0, 1)) / 255.0


class CarRacingPixels(gymnasium.Wrapper, gymnasium.utils.RecordConstructorArgs):
    """Preprocessed pixels and the negative-reward early stop of the reference."""

    def __init__(self, env: gymnasium.Env, negative_streak_limit: int = NEGATIVE_STREAK_LIMIT) -> None:
        gymnasium.utils.RecordConstructorArgs.__init__(self, negative_streak_limit=negative_streak_limit)
        gymnasium.Wrapper.__init__(self, env)
        self.negative_streak_limit = negative_streak_limit
        self.observation_space = gymnasium.spaces.Box(0.0, 1.0, (3, OBS_SIZE, OBS_SIZE), np.float32)
        self._negative_streak = 0

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict]:
        frame, info = self.env.reset(**kwargs)
        self._negative_streak = 0
        return preprocess_frame(frame), info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        frame, reward, terminated, truncated, info = self.env.step(action)
        self._negative_streak = self._negative_streak + 1 if reward < 0 else 0
        if self._negative_streak > self.negative_streak_limit:
            truncated = True
            info = dict(info, early_stop="negative reward streak")
        return preprocess_frame(frame), float(reward), terminated, truncated, info


def make_carracing_pixels(render_mode: str | None = None, **kwargs: Any) -> gymnasium.Env:
    """Entry point of ``evoforge/CarRacingPixels-v0``."""
    return CarRacingPixels(gymnasium.make("CarRacing-v3", render_mode=render_mode, continuous=True, **kwargs).unwrapped)
