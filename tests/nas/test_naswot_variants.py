"""NASWOT's kernel read as the reference code reads it, as the paper defines it, and normalised."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from evoforge.nas import proxies
from evoforge.nas.network import build_network
from evoforge.nas.space import Cell

CELL = Cell.from_string("|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|")


def _network():
    torch.manual_seed(0)
    return build_network(CELL, (3, 8, 8), 1, 4, 1)


def test_the_paper_selection_is_the_hamming_kernel_of_every_relu_unit_once():
    network, inputs = _network(), torch.randn(16, 3, 8, 8)
    codes = []
    hooks = [m.register_forward_pre_hook(lambda _, args: codes.append(args[0] > 0))
             for m in network.modules() if isinstance(m, nn.ReLU)]
    network.train()
    with torch.no_grad():
        network(inputs)
    for hook in hooks:
        hook.remove()
    expected = proxies.hamming_kernel(codes)
    torch.testing.assert_close(proxies.naswot_kernel(_network(), inputs, selection="paper"), expected)
    # the reference's selection also reads the ReLU-conv-BN containers: more units, a different kernel
    reference = proxies.naswot_kernel(_network(), inputs)
    assert reference[0, 0] > expected[0, 0]


def test_the_normalised_kernel_has_a_unit_diagonal_and_shifts_the_log_determinant():
    inputs = torch.randn(16, 3, 8, 8)
    raw = proxies.naswot_kernel(_network(), inputs)
    normalised = proxies.naswot_kernel(_network(), inputs, normalise=True)
    torch.testing.assert_close(torch.diagonal(normalised), torch.ones(16, dtype=torch.float64))
    units = float(raw[0, 0])
    assert proxies.log_determinant(normalised) == pytest.approx(proxies.log_determinant(raw) - 16 * math.log(units))


def test_the_variants_are_proxies_the_benchmark_can_name_and_the_default_set_is_unchanged():
    assert set(proxies.NASWOT_VARIANTS) <= set(proxies.PROXIES)
    assert proxies.STANDARD == ("naswot", "jacob_cov", "synflow", "snip", "grad_norm", "params", "flops")
    x, y = torch.randn(8, 3, 8, 8), torch.from_numpy(np.arange(8) % 2)
    scores = proxies.score(CELL, ["naswot", "naswot_paper", "naswot_normalised"], x, y, 2, 4, 1, 0)
    assert scores["naswot"] != scores["naswot_paper"] and scores["naswot_normalised"] < scores["naswot"]
    with pytest.raises(ValueError, match="unknown ReLU selection"):
        proxies.relu_modules(_network(), "some")
