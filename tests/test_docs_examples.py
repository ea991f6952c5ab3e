"""Every example under docs/examples runs and does what its text says."""

import runpy

from .conftest import REPO


def test_custom_evaluator_example_finds_the_rosenbrock_optimum():
    module = runpy.run_path(str(REPO / "docs" / "examples" / "custom_evaluator.py"))
    center = module["main"]("serial")
    assert all(abs(v - 1.0) < 0.05 for v in center.tolist())
