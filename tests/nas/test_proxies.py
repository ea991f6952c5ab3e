"""Zero-cost proxies: the NASWOT kernel by hand and against the reference procedure, determinism, baselines."""

import math
import runpy

import numpy as np
import pytest
import torch
from torch import nn

from evoforge.nas import proxies
from evoforge.nas.space import Cell

from ..conftest import REPO


class Fixed(nn.Module):
    """Identity weights, so the ReLU inputs are the inputs themselves."""

    def __init__(self, relus: int = 1):
        super().__init__()
        self.relus = nn.ModuleList(nn.ReLU() for _ in range(relus))

    def forward(self, x):
        return sum(relu(x) for relu in self.relus)


def test_naswot_kernel_of_a_hand_made_case():
    # ReLU inputs (1, -1), (2, 3), (-1, -2): codes 10, 11, 00; N_A = 2; Hamming distances 1, 1, 2
    x = torch.tensor([[1.0, -1.0], [2.0, 3.0], [-1.0, -2.0]])
    kernel = proxies.naswot_kernel(Fixed(), x)
    expected = torch.tensor([[2.0, 1.0, 1.0], [1.0, 2.0, 0.0], [1.0, 0.0, 2.0]], dtype=torch.float64)
    torch.testing.assert_close(kernel, expected)
    assert proxies.log_determinant(kernel) == pytest.approx(math.log(4.0))  # det = 2*4 - 1*2 + 1*(0 - 2)
    # two ReLU modules reading the same tensor count twice, as two hooked modules do in the reference
    torch.testing.assert_close(proxies.naswot_kernel(Fixed(relus=2), x), 2 * expected)
    assert proxies.log_determinant(proxies.hamming_kernel([x > 0])) == pytest.approx(math.log(4.0))


def test_repeated_codes_give_a_singular_kernel_not_a_crash():
    x = torch.tensor([[1.0, -1.0], [3.0, -2.0]])  # the same code twice
    assert proxies.log_determinant(proxies.naswot_kernel(Fixed(), x)) == -math.inf


def test_one_pass_score_equals_the_reference_procedure():
    bench = runpy.run_path(str(REPO / "scripts" / "bench_naswot.py"))
    inputs = torch.randn(16, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    rng = np.random.default_rng(5)
    for _ in range(4):
        cell = Cell.random(rng)
        ours = proxies.naswot(cell, inputs, channels=4, cells_per_stage=2, seed=3)
        reference = bench["reference_score"](cell, inputs, channels=4, cells_per_stage=2, seed=3)
        assert ours == pytest.approx(reference, rel=1e-6)


def test_every_proxy_is_deterministic_for_a_fixed_batch_and_seed():
    inputs = torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(16) % 4
    cell = Cell.from_string("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
                            "none~2|")
    first = proxies.score(cell, proxies.PROXIES, inputs, labels, 4, channels=4, cells_per_stage=1, seed=7)
    again = proxies.score(cell, proxies.PROXIES, inputs, labels, 4, channels=4, cells_per_stage=1, seed=7)
    assert first == again and set(first) == set(proxies.PROXIES)
    assert all(np.isfinite(v) for v in first.values())
    other_seed = proxies.score(cell, ["naswot", "snip"], inputs, labels, 4, channels=4, cells_per_stage=1, seed=8)
    assert other_seed["snip"] != first["snip"]
    with pytest.raises(ValueError, match="unknown proxies"):
        proxies.score(cell, ["zen"], inputs, labels, 4, 4, 1)


def test_proxies_see_the_difference_between_an_empty_and_a_full_cell():
    inputs = torch.randn(32, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(32) % 10
    empty = Cell(("none",) * 6)  # the cells' output is zero: only the reductions carry signal
    full = Cell(("nor_conv_3x3",) * 6)
    a = proxies.score(empty, proxies.PROXIES, inputs, labels, 10, 4, 1)
    b = proxies.score(full, proxies.PROXIES, inputs, labels, 10, 4, 1)
    assert b["params"] > a["params"] and b["flops"] > a["flops"] and b["synflow"] > a["synflow"]
    assert b["naswot"] > a["naswot"]  # more ReLU units, more distinct codes
