"""Shared fixtures: one in-process Ray instance for the tests that use the Ray backend directly."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray with 2 CPUs shared by the tests of this session (pools join it instead of starting one)."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


def evoforge_cmd(*args: str) -> list[str]:
    """The evoforge CLI as a subprocess command, using this interpreter."""
    return [sys.executable, "-m", "evoforge.cli", *args]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env
