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


def test_nas_example_scores_cells_and_picks_the_best():
    module = runpy.run_path(str(REPO / "docs" / "examples" / "nas_proxies.py"))
    result = module["main"](n=4)
    assert result["batch_shape"] == (128, 3, 16, 16) and len(result["scores"]) == 4
    assert result["scores"][result["cells"].index(result["best"])] == max(result["scores"])
    assert result["params"] == 1_531_546  # NAS-Bench-201's count for the all-3x3-conv cell


def test_evonorm_example_prints_formulas_and_swaps_a_layer():
    module = runpy.run_path(str(REPO / "docs" / "examples" / "evonorm_layers.py"))
    result = module["main"]()
    assert result["s0"] == "(x * sigmoid(v1 * x)) / std_group(x)" and result["mine"] == "tanh(x / std_batch(x))"
    assert result["out_shape"] == (8, 64, 4, 4) and result["swapped"] == 1 and result["logits_shape"] == (4, 10)
