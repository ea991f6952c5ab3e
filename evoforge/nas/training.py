"""Ground truth for the proxies: train a cell's network on a short fixed schedule and measure its validation and
test accuracy (searches select on the first, reports quote the second).

NAS-Bench-201's recipe, shortened: SGD with Nesterov momentum 0.9, learning rate cosine-annealed to 0, weight
decay 5e-4 (Dong & Yang 2020 use batch 256 for 200 epochs, or 12 in their cheap variant); no augmentation. The
same seed gives the same initialisation and batch order, so a result is reproducible on one machine.
"""

from __future__ import annotations

import time

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from evoforge.nas.data import ImageData
from evoforge.nas.network import build_network
from evoforge.nas.space import Cell


class NetworkSettings(BaseModel):
    """The ``network:`` section: the NAS-Bench-201 skeleton's C (channels) and N (cells per stage)."""

    model_config = ConfigDict(extra="forbid")

    channels: int = Field(16, ge=1, description="C: channels of the first stage (NAS-Bench-201: 16)")
    cells_per_stage: int = Field(5, ge=0, description="N: cells per stage (NAS-Bench-201: 5)")


class TrainingSettings(BaseModel):
    """How a network is trained, NAS-Bench-201's recipe on a short budget: epochs, batch size, learning rate
    (cosine-annealed), Nesterov momentum and weight decay.
    """

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(12, ge=1)
    batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)


def train_and_test(cell: Cell, data: ImageData, network: NetworkSettings, training: TrainingSettings,
                   seed: int) -> dict[str, float]:
    """Train ``cell``'s network from scratch; returns test ``accuracy`` and ``val_accuracy`` (%), the final
    training loss and seconds."""
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = build_network(cell, data.input_shape, data.num_classes, network.channels, network.cells_per_stage)
    model = model.to(data.train_x.device, memory_format=torch.channels_last)  # the data's device
    optimiser = torch.optim.SGD(model.parameters(), lr=training.learning_rate, momentum=training.momentum,
                                nesterov=training.momentum > 0, weight_decay=training.weight_decay)
    steps_per_epoch = -(-len(data.train_y) // training.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=training.epochs * steps_per_epoch)
    loss_function = nn.CrossEntropyLoss()
    model.train()
    loss = torch.tensor(float("nan"))
    for _ in range(training.epochs):
        order = torch.randperm(len(data.train_y), generator=generator)
        for start in range(0, len(order), training.batch_size):
            index = order[start:start + training.batch_size]
            if len(index) < 2:  # BN needs two samples
                continue
            inputs = data.train_x[index].contiguous(memory_format=torch.channels_last)
            loss = loss_function(model(inputs), data.train_y[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
    model.eval()
    accuracies = {name: _accuracy(model, *data.split(split)) for name, split in
                  (("accuracy", "test"), ("val_accuracy", "validation"))}
    return {**accuracies, "train_loss": float(loss.detach()), "train_seconds": time.perf_counter() - started}


def _accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy (%) of ``model`` in eval mode on ``images``."""
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), 512):
            inputs = images[start:start + 512].contiguous(memory_format=torch.channels_last)
            correct += int((model(inputs).argmax(1) == labels[start:start + 512]).sum())
    return 100.0 * correct / len(labels)
