"""Write a normalization-activation layer as a graph, print its formula, and drop it into a model (docs/evonorm.md)."""

import torch
from torch import nn

from evoforge.nas.evonorm import BASELINES, VARIANTS, DegenerateGroups, GroupSettings, LayerGraph, compile_layer, \
    swap_norm_act


def main() -> dict:
    s0 = BASELINES["evonorm_s0"]  # x * sigmoid(v1 * x) / std_group(x), then the per-channel affine
    layer = compile_layer(s0, channels=64)  # the paper's 32 groups: 2 channels each
    out = layer(torch.randn(8, 64, 4, 4))
    try:  # at 16 channels, 32 groups lowered to 16 would leave one channel per group: an instance statistic
        compile_layer(s0, channels=16)
        refused = ""
    except DegenerateGroups as error:
        refused = str(error)
    narrow = compile_layer(s0, channels=16, grouping=GroupSettings(group_size=4))  # 4 groups of 4 channels
    # nodes 0-3 are x, v0, v1, zero; node 4 = std_batch(x), node 5 = x / node 4, node 6 = tanh(node 5)
    mine = LayerGraph.from_dict({"nodes": [["std_batch", [0]], ["div", [0, 4]], ["tanh", [5]]]})
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    swapped = swap_norm_act(model, mine)
    logits = model(torch.randn(4, 3, 8, 8))
    print(f"S0: {s0}\nS2a (timm): {VARIANTS['evonorm_s2a']}\nmine: {mine}\nrefused: {refused}\n"
          f"swapped {swapped} BatchNorm+ReLU pair(s); logits {tuple(logits.shape)}")
    return {"s0": str(s0), "mine": str(mine), "out_shape": tuple(out.shape), "swapped": swapped,
            "logits_shape": tuple(logits.shape), "refused": refused, "narrow_groups": narrow.groups}


if __name__ == "__main__":
    main()
