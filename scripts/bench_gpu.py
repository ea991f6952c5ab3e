"""Device speed, side by side in one run: NASWOT cells scored per second, the Hebbian CarRacing agent's CNN
forward for one chunk of genomes, and EvoNorm training steps per second, on the CPU and, where one is present,
on a CUDA GPU (the ``device`` setting, :mod:`evoforge.devices`). Prints each rate and the GPU / CPU ratio.

    python scripts/bench_gpu.py                      # 20 cells, a chunk of 8 genomes x 4 episodes, 30 steps
    python scripts/bench_gpu.py --cells 50 --threads 2

On a machine without a GPU only the CPU column is measured (and said so). Sizes: NASWOT on the NAS-Bench-201
skeleton (C = 16, N = 5) with a batch of 128 32x32x3 images; the CNN on 84x84x3 frames; EvoNorm-B0 and BN-ReLU
in the search's ResNet anchor at width 16 on 16x16 digits, batch 128.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch


def timed(work: Callable[[], None], repeats: int, device: torch.device) -> float:
    """Seconds per call of ``work`` after one warm-up call (the GPU synchronised around the clock)."""
    work()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    for _ in range(repeats):
        work()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - started) / repeats


def naswot_rate(device: torch.device, cells: int) -> float:
    from evoforge.nas.proxies import naswot
    from evoforge.nas.space import Cell

    rng = np.random.default_rng(0)
    sample = [Cell.random(rng) for _ in range(cells)]
    inputs = torch.randn(128, 3, 32, 32, generator=torch.Generator().manual_seed(0)).to(device)
    seconds = timed(lambda: [naswot(cell, inputs, 16, 5) for cell in sample], 1, device)
    return cells / seconds


def cnn_rate(device: torch.device, genomes: int, episodes: int, repeats: int) -> float:
    from evoforge.policies.conv import ConvFeatures

    conv = ConvFeatures()
    weights = conv.split(np.random.default_rng(0).normal(size=(genomes, conv.num_params)).astype(np.float32),
                         device)
    frames = np.random.default_rng(1).random((genomes, episodes, 3, 84, 84), dtype=np.float32)
    return 1.0 / timed(lambda: conv.features(weights, frames), repeats, device)  # chunk forwards per second


def evonorm_rate(device: torch.device, layer: str, steps: int) -> float:
    from evoforge.nas.data import DataSettings, load_data
    from evoforge.nas.evonorm import NAMED_LAYERS, GroupSettings
    from evoforge.nas.evonorm_train import LayerTraining, make_model, train_model

    data = load_data(DataSettings()).to(device)
    training = LayerTraining(width=16, steps=steps)
    model = make_model(NAMED_LAYERS[layer], "resnet", data, 16, GroupSettings(group_size=4))
    return steps / timed(lambda: train_model(model, data, steps, 128, 0.05, training, 0), 1, device)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=20)
    parser.add_argument("--genomes", type=int, default=8)
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    if len(devices) == 1:
        print("no CUDA GPU visible: CPU only")
    else:
        print(f"GPU: {torch.cuda.get_device_name(0)}")
    benches = [("NASWOT cells/s", lambda d: naswot_rate(d, args.cells)),
               ("CNN chunk forwards/s", lambda d: cnn_rate(d, args.genomes, args.episodes, 5)),
               ("EvoNorm-B0 train steps/s (b128)", lambda d: evonorm_rate(d, "evonorm_b0", args.steps)),
               ("BN-ReLU train steps/s (b128)", lambda d: evonorm_rate(d, "bn_relu", args.steps))]
    print(f"{'benchmark':<34}" + "".join(f"{str(d):>12}" for d in devices) + ("   GPU/CPU" if len(devices) > 1 else ""))
    for name, bench in benches:
        rates = [bench(device) for device in devices]
        ratio = f"   {rates[1] / rates[0]:.1f}x" if len(rates) > 1 else ""
        print(f"{name:<34}" + "".join(f"{rate:>12.2f}" for rate in rates) + ratio)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
