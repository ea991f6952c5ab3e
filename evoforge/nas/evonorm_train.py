"""Judging a normalization-activation layer: short training on several anchor architectures, with the quality and
stability rejection of Liu et al. 2020 (arXiv 2004.02967, section 4). Everything a search selects on is measured
on the data's validation split; the test split is only touched by :func:`train_model` calls that ask for it
(the comparisons and re-rankings that report).

* screening (optional, beyond the paper): a zero-cost score of the untrained anchors with the layer
  (:func:`screen_score`, NASWOT's log|K| of the sign codes at every norm-act output, Mellor et al. 2021); below
  ``min_screen_score`` the layer is rejected without training. The score is recorded for every candidate, so
  a search without the threshold shows what a threshold would have saved and lost;
* quality: train ``quality_steps`` steps on every anchor; below ``quality_threshold`` % validation accuracy on
  any of them, the layer is rejected (the paper: < 20 % CIFAR-10 validation accuracy after 100 steps);
* stability: the paper picks a learning rate and batch size adversarially to maximise the gradient norm and
  rejects a layer whose norm passes a threshold (its exact procedure is not published); here the first anchor
  is trained ``stress_steps`` steps at ``stress_lr_factor`` times the learning rate on batches of
  ``stress_batch``, and the layer is rejected if a loss or gradient turns non-finite or the gradient norm
  exceeds ``max_grad_norm``;
* otherwise each anchor is trained for ``search_epochs`` epochs and its validation accuracy is one objective.

Any exception or non-finite value inside a candidate's training is a rejection with its reason, never a crash.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from evoforge.nas.anchors import ANCHORS
from evoforge.nas.data import ImageData
from evoforge.nas.evonorm import PAPER_GROUPS, EvoNormLayer, GroupSettings, LayerGraph, compile_layer
from evoforge.nas.proxies import hamming_kernel, log_determinant


class LayerTraining(BaseModel):
    """How a layer is trained on an architecture: width, schedule, batch, learning rate, momentum, weight decay.

    * Schedules are in epochs of ``len(train) // batch`` full batches (the last, smaller batch is dropped: batch
      statistics of another size would be another layer), so batch 4 and batch 128 see the same images.
      ``epochs`` is the schedule of comparisons and re-rankings, long enough for the baselines to converge;
      ``search_epochs`` the shortened one each search candidate gets (Liu et al. 2020 also score candidates on
      a shortened schedule). ``steps`` fixes one step count for both instead (so a small batch sees fewer
      images).
    * ``learning_rate`` is the rate at ``batch_size``; with ``lr_scaling: linear`` another batch B trains at
      learning_rate * B / batch_size (Goyal et al. 2017's linear scaling rule), so that equal epochs are
      comparable across batch sizes.
    """

    model_config = ConfigDict(extra="forbid")

    width: int = Field(16, ge=1, description="channels of the anchors' first stage")
    epochs: float = Field(30.0, gt=0, description="passes over the training split in comparisons (equal across "
                                                  "batch sizes)")
    search_epochs: float | None = Field(None, gt=0, description="passes per search candidate (default: epochs)")
    steps: int | None = Field(None, ge=1, description="a fixed step count instead of epochs, the same at every "
                                                      "batch size (so a small batch sees fewer images)")
    batch_size: int = Field(64, ge=2)
    learning_rate: float = Field(0.05, gt=0, description="at batch_size")
    lr_scaling: Literal["linear", "none"] = Field("linear", description="linear: learning_rate * B / batch_size "
                                                                        "at batch B")
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)

    def steps_for(self, batch_size: int, train_images: int, search: bool = False) -> int:
        """SGD steps of one training at ``batch_size``: ``steps`` if set, else ``epochs`` (``search_epochs``
        for a search candidate) epochs."""
        if self.steps is not None:
            return self.steps
        epochs = self.search_epochs if search and self.search_epochs is not None else self.epochs
        return max(1, round(epochs * max(train_images // batch_size, 1)))

    def lr_for(self, batch_size: int) -> float:
        """The learning rate at ``batch_size`` (linear scaling from ``batch_size``, or the same)."""
        return self.learning_rate * (batch_size / self.batch_size if self.lr_scaling == "linear" else 1.0)

    def describe(self, search: bool = False) -> str:
        """The schedule in words, e.g. "30 epochs, lr 0.05 x B / 64"."""
        epochs = self.search_epochs if search and self.search_epochs is not None else self.epochs
        length = f"{self.steps} steps" if self.steps is not None else f"{epochs:g} epochs"
        rate = (f"lr {self.learning_rate:g} x B / {self.batch_size}" if self.lr_scaling == "linear"
                else f"lr {self.learning_rate:g}")
        return f"{length}, {rate}"


class Rejection(BaseModel):
    """The quality and stability tests a candidate must pass before it is trained (Liu et al. 2020, Sec. 4)."""

    model_config = ConfigDict(extra="forbid")

    quality_steps: int = Field(30, ge=1)
    quality_threshold: float = Field(20.0, ge=0, le=100,
                                     description="% validation accuracy every anchor must reach")
    stress_steps: int = Field(20, ge=0, description="0 turns the stability test off")
    stress_lr_factor: float = Field(10.0, gt=0)
    stress_batch: int = Field(4, ge=2)
    max_grad_norm: float = Field(1e3, gt=0)
    min_screen_score: float | None = Field(None, description="reject without training below this zero-cost score "
                                                             "(screen_score, mean over the anchors); off if unset")
    screen_batch: int = Field(32, ge=2, description="training images the zero-cost score reads")


class Unstable(RuntimeError):
    """A loss or gradient turned non-finite, or the gradient norm passed the limit."""


def make_model(layer: LayerGraph | Callable[[int], nn.Module], anchor: str, data: ImageData, width: int,
               grouping: GroupSettings = PAPER_GROUPS) -> nn.Module:
    """The ``anchor`` architecture for ``data`` with ``layer`` (a graph compiled with ``grouping``, or a
    ``channels -> module`` factory) as its normalization-activation.
    """
    norm_act = layer if callable(layer) and not isinstance(layer, LayerGraph) else (
        lambda channels: compile_layer(layer, channels, grouping=grouping))
    # built on the CPU (the same initial weights on any device), then moved to the data's device
    return ANCHORS[anchor](norm_act, data.input_shape[0], data.num_classes, width).to(data.train_x.device)


def train_model(model: nn.Module, data: ImageData, steps: int, batch_size: int, learning_rate: float,
                training: LayerTraining, seed: int, max_grad_norm: float = math.inf,
                splits: Sequence[str] = ("validation",)) -> dict[str, float]:
    """SGD (Nesterov) with a cosine schedule for ``steps`` steps over seeded epoch permutations of the training
    split (full batches only); then the accuracy (%) on each of ``splits``: ``val_accuracy`` for validation,
    ``accuracy`` for test. Raises :class:`Unstable` on a non-finite loss, gradient or output."""
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=training.momentum,
                                nesterov=training.momentum > 0, weight_decay=training.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=steps)
    loss_function = nn.CrossEntropyLoss()
    model.train()
    largest = 0.0
    loss = torch.tensor(math.nan)
    for index in _batches(len(data.train_y), batch_size, steps, generator):
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
    result = {"loss": float(loss.detach()), "max_grad_norm": largest, "steps": float(steps)}
    for split in splits:
        result["val_accuracy" if split == "validation" else "accuracy"] = _accuracy(model, *data.split(split))
    return result


def _batches(count: int, batch_size: int, steps: int, generator: torch.Generator):
    """``steps`` index batches of ``batch_size`` (at most ``count``), epoch after epoch of fresh permutations,
    each epoch's incomplete last batch dropped."""
    batch_size = min(batch_size, count)
    done = 0
    while done < steps:
        order = torch.randperm(count, generator=generator)
        for start in range(0, count - batch_size + 1, batch_size):
            if done == steps:
                return
            yield order[start:start + batch_size]
            done += 1


def _accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        logits = torch.cat([model(images[i:i + 512]) for i in range(0, len(labels), 512)])
    if not torch.isfinite(logits).all():
        raise Unstable("non-finite outputs in eval mode")
    return 100.0 * float((logits.argmax(1) == labels).float().mean())


def screen_score(graph: LayerGraph, data: ImageData, anchor: str, width: int, grouping: GroupSettings,
                 seed: int, batch: int = 32) -> float:
    """A zero-cost score of ``graph`` in the untrained ``anchor``: NASWOT's log|K_H| (Mellor et al. 2021, Eq. 2)
    with the binary codes read at the output of every normalization-activation layer (positive or not), in
    train mode, on the first ``batch`` training images. A layer that maps distinct inputs to the same codes
    (a constant, an all-positive or a dead output) gets a singular kernel, -inf."""
    torch.manual_seed(seed)
    model = make_model(graph, anchor, data, width, grouping)
    codes: list[torch.Tensor] = []
    hooks = [module.register_forward_hook(lambda _m, _i, out: codes.append((out > 0).flatten(1).cpu()))
             for module in model.modules() if isinstance(module, EvoNormLayer)]
    try:
        model.train()
        with torch.no_grad():
            model(data.train_x[:batch])
    finally:
        for hook in hooks:
            hook.remove()
    return log_determinant(hamming_kernel(codes))


def judge_layer(graph: LayerGraph, data: ImageData, anchors: Sequence[str], training: LayerTraining,
                rejection: Rejection, seed: int, grouping: GroupSettings = PAPER_GROUPS) -> dict[str, float]:
    """Metrics of one candidate, all on the validation split: ``screen_score``; ``rejected`` (0 / 1),
    ``rejected_screen`` / ``rejected_quality`` / ``rejected_stability``; for accepted layers ``accuracy_<anchor>``
    (validation accuracy after the full schedule) per anchor and their mean."""
    started = time.perf_counter()
    metrics: dict[str, float] = {"rejected": 0.0, "rejected_screen": 0.0, "rejected_quality": 0.0,
                                 "rejected_stability": 0.0}

    def attempt(anchor: str, steps: int, batch: int, lr: float, limit: float = math.inf) -> dict[str, float] | None:
        torch.manual_seed(seed)
        try:
            model = make_model(graph, anchor, data, training.width, grouping)
            return train_model(model, data, steps, batch, lr, training, seed, limit)
        except (Unstable, RuntimeError, ValueError, ZeroDivisionError):
            return None

    try:
        scores = [screen_score(graph, data, anchor, training.width, grouping, seed, rejection.screen_batch)
                  for anchor in anchors]
        metrics["screen_score"] = float(sum(scores) / len(scores))
    except (RuntimeError, ValueError, ZeroDivisionError):
        metrics["screen_score"] = -math.inf
    if rejection.min_screen_score is not None and not metrics["screen_score"] >= rejection.min_screen_score:
        metrics.update(rejected=1.0, rejected_screen=1.0)
    for anchor in anchors if not metrics["rejected"] else []:  # quality
        result = attempt(anchor, rejection.quality_steps, training.batch_size, training.learning_rate)
        if result is None or result["val_accuracy"] < rejection.quality_threshold:
            metrics.update(rejected=1.0, rejected_quality=1.0)
            break
    if not metrics["rejected"] and rejection.stress_steps:  # stability
        stressed = attempt(anchors[0], rejection.stress_steps, rejection.stress_batch,
                           training.learning_rate * rejection.stress_lr_factor, rejection.max_grad_norm)
        if stressed is None:
            metrics.update(rejected=1.0, rejected_stability=1.0)
    if not metrics["rejected"]:
        accuracies = []
        steps = training.steps_for(training.batch_size, len(data.train_y), search=True)
        for anchor in anchors:
            result = attempt(anchor, steps, training.batch_size, training.learning_rate)
            if result is None:
                metrics.update(rejected=1.0, rejected_stability=1.0)
                break
            metrics[f"accuracy_{anchor}"] = result["val_accuracy"]
            accuracies.append(result["val_accuracy"])
        if not metrics["rejected"]:
            metrics["accuracy_mean"] = sum(accuracies) / len(accuracies)
    metrics["seconds"] = time.perf_counter() - started
    return metrics
