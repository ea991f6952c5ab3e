"""Judging a normalization-activation layer: short training on several anchor architectures, with the quality and
stability rejection of Liu et al. 2020 (arXiv 2004.02967, section 4).

* quality: train ``quality_steps`` steps on every anchor; below ``quality_threshold`` % test accuracy on any of
  them, the layer is rejected (the paper: < 20 % CIFAR-10 accuracy after 100 steps);
* stability: the paper picks a learning rate and batch size adversarially to maximise the gradient norm and
  rejects a layer whose norm passes a threshold (its exact procedure is not published); here the first anchor
  is trained ``stress_steps`` steps at ``stress_lr_factor`` times the learning rate on batches of
  ``stress_batch``, and the layer is rejected if a loss or gradient turns non-finite or the gradient norm
  exceeds ``max_grad_norm``;
* otherwise each anchor is trained ``steps`` steps and its test accuracy is one objective.

Any exception or non-finite value inside a candidate's training is a rejection with its reason, never a crash.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from evoforge.nas.anchors import ANCHORS
from evoforge.nas.data import ImageData
from evoforge.nas.evonorm import LayerGraph, compile_layer


class LayerTraining(BaseModel):
    """How each candidate layer is trained on every anchor: width, SGD steps, batch, learning rate, momentum,
    weight decay.
    """

    model_config = ConfigDict(extra="forbid")

    width: int = Field(16, ge=1, description="channels of the anchors' first stage")
    steps: int = Field(150, ge=1)
    batch_size: int = Field(64, ge=2)
    learning_rate: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)


class Rejection(BaseModel):
    """The quality and stability tests a candidate must pass before it is trained (Liu et al. 2020, Sec. 4)."""

    model_config = ConfigDict(extra="forbid")

    quality_steps: int = Field(30, ge=1)
    quality_threshold: float = Field(20.0, ge=0, le=100, description="% test accuracy every anchor must reach")
    stress_steps: int = Field(20, ge=0, description="0 turns the stability test off")
    stress_lr_factor: float = Field(10.0, gt=0)
    stress_batch: int = Field(4, ge=2)
    max_grad_norm: float = Field(1e3, gt=0)


class Unstable(RuntimeError):
    """A loss or gradient turned non-finite, or the gradient norm passed the limit."""


def make_model(layer: LayerGraph | Callable[[int], nn.Module], anchor: str, data: ImageData, width: int) -> nn.Module:
    """The ``anchor`` architecture for ``data`` with ``layer`` (a graph, or a ``channels -> module`` factory) as
    its normalization-activation.
    """
    norm_act = layer if callable(layer) and not isinstance(layer, LayerGraph) else (
        lambda channels: compile_layer(layer, channels))
    return ANCHORS[anchor](norm_act, data.input_shape[0], data.num_classes, width)


def train_model(model: nn.Module, data: ImageData, steps: int, batch_size: int, learning_rate: float,
                training: LayerTraining, seed: int, max_grad_norm: float = math.inf) -> dict[str, float]:
    """SGD (Nesterov) with a cosine schedule for ``steps`` steps on random batches; test accuracy after."""
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=training.momentum,
                                nesterov=training.momentum > 0, weight_decay=training.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=steps)
    loss_function = nn.CrossEntropyLoss()
    model.train()
    largest = 0.0
    loss = torch.tensor(math.nan)
    for _ in range(steps):
        index = torch.randint(len(data.train_y), (batch_size,), generator=generator)
        loss = loss_function(model(data.train_x[index]), data.train_y[index])
        if not torch.isfinite(loss):
            raise Unstable("non-finite loss")
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), math.inf))
        if not math.isfinite(norm) or norm > max_grad_norm:
            raise Unstable(f"gradient norm {norm:.3g}")
        largest = max(largest, norm)
        optimiser.step()
        schedule.step()
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(data.test_x[i:i + 512]) for i in range(0, len(data.test_y), 512)])
    if not torch.isfinite(logits).all():
        raise Unstable("non-finite outputs in eval mode")
    accuracy = 100.0 * float((logits.argmax(1) == data.test_y).float().mean())
    return {"accuracy": accuracy, "loss": float(loss.detach()), "max_grad_norm": largest}


def judge_layer(graph: LayerGraph, data: ImageData, anchors: Sequence[str], training: LayerTraining,
                rejection: Rejection, seed: int) -> dict[str, float]:
    """Metrics of one candidate: ``rejected`` (0 / 1), ``rejected_quality`` / ``rejected_stability``, and for
    accepted layers ``accuracy_<anchor>`` per anchor and their mean."""
    started = time.perf_counter()
    metrics: dict[str, float] = {"rejected": 0.0, "rejected_quality": 0.0, "rejected_stability": 0.0}

    def attempt(anchor: str, steps: int, batch: int, lr: float, limit: float = math.inf) -> dict[str, float] | None:
        torch.manual_seed(seed)
        try:
            model = make_model(graph, anchor, data, training.width)
            return train_model(model, data, steps, batch, lr, training, seed, limit)
        except (Unstable, RuntimeError, ValueError, ZeroDivisionError):
            return None

    for anchor in anchors:  # quality
        result = attempt(anchor, rejection.quality_steps, training.batch_size, training.learning_rate)
        if result is None or result["accuracy"] < rejection.quality_threshold:
            metrics.update(rejected=1.0, rejected_quality=1.0)
            break
    if not metrics["rejected"] and rejection.stress_steps:  # stability
        stressed = attempt(anchors[0], rejection.stress_steps, rejection.stress_batch,
                           training.learning_rate * rejection.stress_lr_factor, rejection.max_grad_norm)
        if stressed is None:
            metrics.update(rejected=1.0, rejected_stability=1.0)
    if not metrics["rejected"]:
        accuracies = []
        for anchor in anchors:
            result = attempt(anchor, training.steps, training.batch_size, training.learning_rate)
            if result is None:
                metrics.update(rejected=1.0, rejected_stability=1.0)
                break
            metrics[f"accuracy_{anchor}"] = result["accuracy"]
            accuracies.append(result["accuracy"])
        if not metrics["rejected"]:
            metrics["accuracy_mean"] = sum(accuracies) / len(accuracies)
    metrics["seconds"] = time.perf_counter() - started
    return metrics
