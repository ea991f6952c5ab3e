"""Writing what people would rather look at than read: videos of episodes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def write_video(frames: Sequence[np.ndarray], path: Path, fps: int = 30) -> Path:
    """Write RGB frames as .mp4 (ffmpeg, shipped by imageio-ffmpeg) or .gif, chosen by the suffix."""
    import imageio.v2 as imageio

    path = Path(path)
    if not frames:
        raise ValueError("no frames to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        imageio.mimsave(path, list(frames), duration=1000 / fps, loop=0)
    elif path.suffix.lower() in (".mp4", ".mov", ".mkv", ".webm"):
        # macro_block_size=1 keeps odd frame sizes (e.g. 600x400 is fine, 84x84 too) without resizing.
        imageio.mimsave(path, list(frames), fps=fps, macro_block_size=1)
    else:
        raise ValueError(f"unsupported video format {path.suffix!r}: use .mp4 or .gif")
    return path
