"""Score NAS-Bench-201 cells without training them, and pick the best of N as NASWOT does (docs/nas.md)."""

import numpy as np
import torch

from evoforge.nas import proxies
from evoforge.nas.data import DataSettings, load_data
from evoforge.nas.space import Cell


def main(n: int = 10, seed: int = 0) -> dict:
    data = load_data(DataSettings(source="digits", image_size=16))  # ships with scikit-learn: no download
    batch = data.train_x[:128]  # the same minibatch for every candidate
    rng = np.random.default_rng(seed)
    cells = [Cell.random(rng) for _ in range(n)]
    scores = [proxies.naswot(cell, batch, channels=8, cells_per_stage=1, seed=0) for cell in cells]
    best = cells[int(np.argmax(scores))]
    print(f"best of {n} by NASWOT: {best}  (score {max(scores):.1f})")
    full = Cell.from_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
                            "|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    params = proxies.param_count(full, (3, 32, 32), channels=16, cells_per_stage=5, num_classes=10)
    print(f"{full}: {params:,} parameters in the NAS-Bench-201 skeleton")
    return {"best": best, "cells": cells, "scores": scores, "params": params, "batch_shape": tuple(batch.shape)}


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
