"""EvoNorm layer graphs: the baselines equal direct implementations of their formulas (train and eval),
formulas print, mutation keeps graphs valid, any graph compiles and runs."""

import numpy as np
import pytest
import torch
from torch import nn

from evoforge.nas.evonorm import BASELINES, EPS, LayerGraph, compile_layer, group_count, swap_norm_act


def _randomise(layer, generator):
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
    for name, norm in (("bn_relu", nn.BatchNorm2d(8, eps=EPS, momentum=0.1)),
                       ("gn_relu", nn.GroupNorm(group_count(8), 8, eps=EPS))):
        layer = compile_layer(BASELINES[name], 8)
        _randomise(layer, torch.Generator().manual_seed(1))
        with torch.no_grad():
            norm.weight.copy_(layer.v1.flatten())
            norm.bias.copy_(layer.v0.flatten())

        def direct(x, training, norm=norm, layer=layer):
            norm.train(training)
            return torch.relu(norm(x)) * layer.weight + layer.bias

        _compare(layer, direct)


def test_evonorm_b0_equals_its_published_formula_with_a_running_variance():
    layer = compile_layer(BASELINES["evonorm_b0"], 8)
    _randomise(layer, torch.Generator().manual_seed(2))
    running = torch.ones(1, 8, 1, 1)

    def direct(x, training):
        nonlocal running
        if training:
            variance = x.var(dim=(0, 2, 3), keepdim=True, unbiased=False)
            running = 0.9 * running + 0.1 * x.var(dim=(0, 2, 3), keepdim=True, unbiased=True)
        else:
            variance = running
        instance = torch.sqrt(x.var(dim=(2, 3), keepdim=True, unbiased=False) + EPS)
        denominator = torch.maximum(torch.sqrt(variance + EPS), layer.v1 * x + instance)
        return x / denominator * layer.weight + layer.bias

    _compare(layer, direct)


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


def test_random_graphs_mutate_validly_and_compile():
    rng = np.random.default_rng(0)
    x = torch.randn(4, 16, 3, 3)
    graph = LayerGraph.random(rng)
    for _ in range(200):
        child = graph.mutate(rng)
        assert child != graph and len(child.nodes) == len(graph.nodes)
        assert LayerGraph.from_dict(child.to_dict()) == child
        layer = compile_layer(child, 16)
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
    assert swap_norm_act(model, BASELINES["evonorm_s0"]) == 2
    kinds = [type(m).__name__ for m in model.modules()]
    assert kinds.count("EvoNormLayer") == 2 and kinds.count("BatchNorm2d") == 1 and "ReLU" not in kinds
    assert model(torch.randn(2, 3, 9, 9)).shape == (2, 16 * 5 * 5)
