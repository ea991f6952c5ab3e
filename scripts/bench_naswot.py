"""NASWOT scoring speed: evoforge's one-pass kernel against the reference procedure, side by side.

Both score the same random NAS-Bench-201 cells in the benchmark skeleton (C = 16, N = 5, one output) on the same
batch of 128 random 32x32x3 inputs, on CPU with 2 torch threads, and must agree on every score. The reference
procedure (BayesWatch/nas-without-training, ``score_networks.py``): build the network; forward + backward with
an all-ones output gradient to arm the "visited" flags of every module whose type name contains "ReLU" (the
ReLUs and the ReLU-conv-BN ops); a second forward on a clone of the batch in which every visited one adds
``c c^T + (1 - c)(1 - c)^T`` of its binarised input to a numpy kernel; slogdet.
evoforge's (:func:`evoforge.nas.proxies.naswot`): build; one no-grad forward in channels-last format whose
pre-hooks add one +-1 Gram matrix per distinct input tensor; slogdet. Prints architectures scored per second
for each, and the ratio (goal: >= 4x).

    python scripts/bench_naswot.py                 # 20 cells, 2 threads
    python scripts/bench_naswot.py --cells 50 --threads 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from evoforge.nas.network import build_network
from evoforge.nas.proxies import naswot
from evoforge.nas.space import Cell


def reference_score(cell: Cell, inputs: torch.Tensor, channels: int = 16, cells_per_stage: int = 5,
                    seed: int = 0) -> float:
    """The reference code's procedure, written out (numpy kernel, two forward passes and a backward)."""
    torch.manual_seed(seed)
    network = build_network(cell, inputs.shape[1:], 1, channels, cells_per_stage)
    batch = inputs.shape[0]
    network.K = np.zeros((batch, batch))
    visited: set[int] = set()

    def forward_hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        if id(module) not in visited:
            return
        codes = (args[0].view(batch, -1) > 0).float()
        k = codes @ codes.t()
        k2 = (1.0 - codes) @ (1.0 - codes.t())
        network.K = network.K + k.cpu().numpy() + k2.cpu().numpy()

    def backward_hook(module: nn.Module, grad_input: tuple, grad_output: tuple) -> None:
        visited.add(id(module))

    for module in network.modules():
        if "ReLU" in type(module).__name__:
            module.register_forward_hook(forward_hook)
            module.register_full_backward_hook(backward_hook)
    network.train()
    x = inputs.clone()
    y = network(x)
    y.backward(torch.ones_like(y))
    network(inputs.clone())
    _, value = np.linalg.slogdet(network.K)
    return float(value)


def evoforge_score(cell: Cell, inputs: torch.Tensor, channels: int = 16, cells_per_stage: int = 5,
                   seed: int = 0) -> float:
    return naswot(cell, inputs, channels, cells_per_stage, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    cells = [Cell.random(rng) for _ in range(args.cells)]
    inputs = torch.randn(args.batch, 3, 32, 32, generator=torch.Generator().manual_seed(args.seed))
    evoforge_score(cells[0], inputs)  # warm-up: first-call allocations and kernels
    reference_score(cells[0], inputs)
    times = {"reference": 0.0, "evoforge": 0.0}
    worst = 0.0
    for index, cell in enumerate(cells):  # alternate the order so drift hits both alike
        order = (("reference", reference_score), ("evoforge", evoforge_score))
        scores = {}
        for name, function in (order if index % 2 == 0 else order[::-1]):
            start = time.perf_counter()
            scores[name] = function(cell, inputs)
            times[name] += time.perf_counter() - start
        if np.isfinite(scores["reference"]) or np.isfinite(scores["evoforge"]):
            worst = max(worst, abs(scores["reference"] - scores["evoforge"]) / max(1.0, abs(scores["reference"])))
    rate = {name: args.cells / seconds for name, seconds in times.items()}
    print(f"{args.cells} NAS-Bench-201 cells, C=16 N=5, batch {args.batch} x 3 x 32 x 32, {args.threads} threads")
    print(f"reference procedure: {rate['reference']:.2f} archs/s ({times['reference'] / args.cells:.3f} s each)")
    print(f"evoforge one pass:   {rate['evoforge']:.2f} archs/s ({times['evoforge'] / args.cells:.3f} s each)")
    print(f"ratio evoforge / reference: {rate['evoforge'] / rate['reference']:.2f}x  (largest relative score "
          f"difference {worst:.1e})")


if __name__ == "__main__":
    main()
