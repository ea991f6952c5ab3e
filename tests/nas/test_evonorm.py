"""EvoNorm layer graphs: the baselines and timm's variants equal direct implementations of their formulas (train
and eval), group settings give GroupNorm's statistics and refuse one channel per group, formulas print,
mutation keeps graphs valid, any graph compiles and runs."""

import numpy as np
import pytest
import torch
from torch import nn

from evoforge.nas.evonorm import (BASELINES, EPS, VARIANTS, DegenerateGroups, GroupSettings, LayerGraph,
                                  compile_layer, group_count, swap_norm_act)

FOUR = GroupSettings(group_size=4)


def _randomise(layer, generator):
    """Random v0, v1, gamma, beta, so that a formula that mixed them up would not pass."""
    with torch.no_grad():
        for parameter in (layer.v0, layer.v1, layer.weight, layer.bias):
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5 + (1.0 if parameter is layer.v1
                                                                                      else 0.0))


def _compare(layer, direct, steps=3, channels=8):
    generator = torch.Generator().manual_seed(0)
    layer.train()
    for _ in range(steps):  # training steps move the running statistics
        x = torch.randn(4, channels, 5, 6, generator=generator) * 2 + 0.5
        torch.testing.assert_close(layer(x), direct(x, True), rtol=1e-5, atol=1e-5)
    layer.eval()
    x = torch.randn(3, channels, 5, 6, generator=generator)
    torch.testing.assert_close(layer(x), direct(x, False), rtol=1e-5, atol=1e-5)


def test_bn_relu_and_gn_relu_genomes_equal_torch_norm_layers_then_relu():
    # GN-ReLU with groups of 4 channels: 2 groups at 8 channels, GroupNorm's statistics exactly
    for name, norm in (("bn_relu", nn.BatchNorm2d(8, eps=EPS, momentum=0.1)),
                       ("gn_relu", nn.GroupNorm(2, 8, eps=EPS))):
        layer = compile_layer(BASELINES[name], 8, grouping=FOUR)
        _randomise(layer, torch.Generator().manual_seed(1))
        with torch.no_grad():
            norm.weight.copy_(layer.v1.flatten())
            norm.bias.copy_(layer.v0.flatten())

        def direct(x, training, norm=norm, layer=layer):
            norm.train(training)
            return torch.relu(norm(x)) * layer.weight + layer.bias

        _compare(layer, direct)


def _b_series(layer, right, channels):
    """The B series' formula, x / max(sqrt(var_batch + eps), right(x)) then the affine, with its own running
    variance (momentum 0.1, unbiased) standing in for the batch variance in eval mode."""
    running = torch.ones(1, channels, 1, 1)

    def direct(x, training):
        nonlocal running
        if training:
            variance = x.var(dim=(0, 2, 3), keepdim=True, unbiased=False)
            running = 0.9 * running + 0.1 * x.var(dim=(0, 2, 3), keepdim=True, unbiased=True)
        else:
            variance = running
        return x / torch.maximum(torch.sqrt(variance + EPS), right(x)) * layer.weight + layer.bias

    return direct


def test_evonorm_b0_equals_its_published_formula_with_a_running_variance():
    layer = compile_layer(BASELINES["evonorm_b0"], 8)
    _randomise(layer, torch.Generator().manual_seed(2))

    def right(x):
        return layer.v1 * x + torch.sqrt(x.var(dim=(2, 3), keepdim=True, unbiased=False) + EPS)

    _compare(layer, _b_series(layer, right, 8))


def test_evonorm_s0_equals_its_published_formula():
    channels = 64
    layer = compile_layer(BASELINES["evonorm_s0"], channels)
    _randomise(layer, torch.Generator().manual_seed(3))

    def direct(x, training):
        n, c, h, w = x.shape
        groups = x.reshape(n, 32, c // 32, h, w)
        std = torch.sqrt(groups.var(dim=(2, 3, 4), keepdim=True, unbiased=False) + EPS)
        std = std.expand_as(groups).reshape(n, c, h, w)
        return x * torch.sigmoid(layer.v1 * x) / std * layer.weight + layer.bias

    _compare(layer, direct, channels=channels)
    assert not BASELINES["evonorm_s0"].uses_batch and BASELINES["evonorm_b0"].uses_batch


def test_formulas_print_readably():
    assert str(BASELINES["evonorm_s0"]) == "(x * sigmoid(v1 * x)) / std_group(x)"
    assert str(BASELINES["evonorm_b0"]) == "x / max(std_batch(x), (v1 * x) + std_instance(x))"
    assert str(LayerGraph((("neg", (0,)), ("add", (4, 2)), ("mul", (5, 5))))) == "(-x + v1) * (-x + v1)"
    assert group_count(24) == 24 and group_count(64) == 32 and group_count(48) == 24
    assert str(VARIANTS["evonorm_s1a"]) == "(x * sigmoid(x)) / std_group(x)  [eps 0.001]"


def test_group_settings_count_groups_and_refuse_one_channel_per_group():
    assert GroupSettings().count(64) == 32 and GroupSettings().count(48) == 24  # the TF rule: 32, lowered
    assert GroupSettings(groups=4).count(8) == 4 and FOUR.count(32) == 8 and FOUR.count(4) == 1
    for settings, channels in ((GroupSettings(), 8), (GroupSettings(), 32), (GroupSettings(groups=16), 16),
                               (GroupSettings(group_size=1), 8)):
        with pytest.raises(DegenerateGroups, match="one channel per group"):
            settings.count(channels)
    assert GroupSettings(allow_single_channel=True).count(8) == 8  # instance statistics, when asked for
    with pytest.raises(DegenerateGroups, match="do not split"):
        FOUR.count(6)
    with pytest.raises(ValueError, match="not both"):
        GroupSettings(groups=2, group_size=4)
    # only layers that read group statistics care: BN-ReLU compiles at any width, GN-ReLU is refused at 8 / 32
    compile_layer(BASELINES["bn_relu"], 8)
    with pytest.raises(DegenerateGroups):
        compile_layer(BASELINES["gn_relu"], 8)
    x = torch.randn(2, 8, 3, 3)
    single = compile_layer(BASELINES["gn_relu"], 8, grouping=GroupSettings(allow_single_channel=True))
    instance = nn.InstanceNorm2d(8, eps=EPS, affine=False)
    torch.testing.assert_close(single(x), torch.relu(instance(x)), rtol=1e-5, atol=1e-5)


def _group_statistic(x, groups, eps, rms=False):
    n, c, h, w = x.shape
    grouped = x.reshape(n, groups, c // groups, h, w)
    if rms:
        value = torch.sqrt(grouped.square().mean(dim=(2, 3, 4), keepdim=True) + eps)
    else:
        value = torch.sqrt(grouped.var(dim=(2, 3, 4), keepdim=True, unbiased=False) + eps)
    return value.expand_as(grouped).reshape(n, c, h, w)


def test_timm_variants_equal_their_formulas_in_train_and_eval_mode():
    """B1, B2 (with the running variance), S0a, S1, S1a, S2, S2a as timm writes them, groups of 4."""
    channels = 8

    def instance_rms(x):
        return torch.sqrt(x.square().mean(dim=(2, 3), keepdim=True) + EPS)

    for name, right in (("evonorm_b1", lambda x: (x + 1) * instance_rms(x)),
                        ("evonorm_b2", lambda x: instance_rms(x) - x)):
        layer = compile_layer(VARIANTS[name], channels)
        _randomise(layer, torch.Generator().manual_seed(4))
        _compare(layer, _b_series(layer, right, channels), channels=channels)
        assert VARIANTS[name].uses_batch
    for name, eps, gate, rms in (("evonorm_s0a", 1e-3, True, False), ("evonorm_s1", 1e-5, False, False),
                                 ("evonorm_s1a", 1e-3, False, False), ("evonorm_s2", 1e-5, False, True),
                                 ("evonorm_s2a", 1e-3, False, True)):
        layer = compile_layer(VARIANTS[name], channels, grouping=FOUR)
        _randomise(layer, torch.Generator().manual_seed(5))

        def direct(x, training, layer=layer, eps=eps, gate=gate, rms=rms):
            activated = x * torch.sigmoid(layer.v1 * x if gate else x)
            return activated / _group_statistic(x, 2, eps, rms) * layer.weight + layer.bias

        _compare(layer, direct, channels=channels)
        assert VARIANTS[name].eps == eps and not VARIANTS[name].uses_batch and VARIANTS[name].uses_groups
        assert LayerGraph.from_dict(VARIANTS[name].to_dict()) == VARIANTS[name]


def test_random_graphs_mutate_validly_and_compile():
    rng = np.random.default_rng(0)
    x = torch.randn(4, 16, 3, 3)
    graph = LayerGraph.random(rng)
    for _ in range(200):
        child = graph.mutate(rng)
        assert child != graph and len(child.nodes) == len(graph.nodes)
        assert LayerGraph.from_dict(child.to_dict()) == child
        layer = compile_layer(child, 16, grouping=FOUR)
        layer.train()
        out = layer(x)
        layer.eval()
        assert layer(x).shape == out.shape == x.shape
        graph = child
    s_graph = LayerGraph.random(rng, allow_batch=False)
    for _ in range(50):
        s_graph = s_graph.mutate(rng, allow_batch=False)
        assert not any(op.endswith("_batch") for op, _ in s_graph.nodes)


def test_bad_graphs_are_refused_with_one_clear_error():
    with pytest.raises(ValueError, match="unknown op"):
        LayerGraph((("relu", (0,)),))
    with pytest.raises(ValueError, match="needs 2 input"):
        LayerGraph((("add", (0,)),))
    with pytest.raises(ValueError, match="among nodes"):
        LayerGraph((("neg", (4,)),))


def test_swapping_bn_relu_pairs_in_an_existing_model():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Sequential(nn.Conv2d(8, 16, 3), nn.BatchNorm2d(16), nn.ReLU()),
                          nn.BatchNorm2d(16), nn.Flatten())  # a BN without a ReLU after it stays
    assert swap_norm_act(model, BASELINES["evonorm_s0"], grouping=FOUR) == 2
    kinds = [type(m).__name__ for m in model.modules()]
    assert kinds.count("EvoNormLayer") == 2 and kinds.count("BatchNorm2d") == 1 and "ReLU" not in kinds
    assert model(torch.randn(2, 3, 9, 9)).shape == (2, 16 * 5 * 5)
