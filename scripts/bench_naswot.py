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
    python scripts/bench_naswot.py --run runs/nb201-natural   # cells/s of a benchmark run, and the whole space

``--run`` reads a ``nas_benchmark`` run instead (its benchmark.jsonl and summary.json): NASWOT seconds per cell
on one core, the run's cells scored per second of wall time on its pool (every proxy it computes), and what
those rates make of the whole space of 15,625 cells.
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


def run_rates(run_dir: str) -> None:
    """Print the scoring rates of a finished or running ``nas_benchmark`` run and the whole-space projection."""
    from evoforge.nas.benchmark import BENCHMARK_FILE, read_rows
    from evoforge.nas.space import NUM_CELLS
    from evoforge.search.rundir import RunDir

    run = RunDir(run_dir).require()
    rows = [row for row in read_rows(run.artifact(BENCHMARK_FILE)) if not row.get("failed")]
    if not rows:
        raise SystemExit(f"{run_dir}: no scored cells yet")
    records = run.read_metrics()
    wall = sum(record.get("wall_s", 0.0) for record in records)
    naswot = np.array([row["naswot_seconds"] for row in rows if row.get("naswot_seconds") is not None])
    config = run.read_config()
    workers = config.get("pool", {}).get("workers") or "one per core"
    print(f"{run_dir}: {len(rows)} cells scored in {wall:.0f} s of generation wall time "
          f"(pool workers: {workers}; proxies: {', '.join(config.get('proxy', {}).get('names', []))})")
    if len(naswot):
        print(f"NASWOT alone: {naswot.mean():.3f} s per cell on one core = {1 / naswot.mean():.2f} cells/s per core; "
              f"the whole space ({NUM_CELLS} cells): {NUM_CELLS * naswot.mean() / 3600:.1f} core-hours")
    if wall > 0:
        rate = len(rows) / wall
        print(f"every proxy on the pool: {rate:.2f} cells/s; the whole space at that rate: "
              f"{NUM_CELLS / rate / 3600:.1f} h")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="a nas_benchmark run directory: print its rates instead of benchmarking")
    parser.add_argument("--cells", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.run:
        run_rates(args.run)
        return
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
