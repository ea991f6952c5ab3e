"""Every example under docs/examples runs and does what its text says."""

import runpy

from .conftest import REPO


def test_custom_evaluator_example_finds_the_rosenbrock_optimum():
    module = runpy.run_path(str(REPO / "docs" / "examples" / "custom_evaluator.py"))
    center = module["main"]("serial")
    assert all(abs(v - 1.0) < 0.05 for v in center.tolist())


def test_pcgrl_example_steps_one_env_and_a_batch():
    module = runpy.run_path(str(REPO / "docs" / "examples" / "pcgrl_envs.py"))
    result = module["main"]()
    assert result["obs_shape"] == (512, 1, 28, 28)
    assert result["image_shape"] == (7 * 16, 11 * 16, 3)
    assert (result["changes"] <= 39).all() and result["changes"].max() > 0
