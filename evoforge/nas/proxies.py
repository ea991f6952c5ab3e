"""Zero-cost proxies: scores of *untrained* networks that should rank architectures like their trained accuracy.

* :func:`naswot` -- Mellor et al. 2021 (ICML; arXiv 2006.04647): every ReLU unit is 1 if its input is > 0, else 0;
  the binary codes c_i of the minibatch's inputs x_i give the kernel ``K_H[i, j] = N_A - d_H(c_i, c_j)`` (N_A the
  number of ReLU units, d_H the Hamming distance), summed over every module whose type name contains "ReLU",
  as the reference's hooks select them -- in NAS-Bench-201 that includes the ReLU-conv-BN operations, so the
  input of a convolution edge counts twice (once for the op, once for its ReLU); the score is log|K_H|
  (slogdet, sign ignored). Fresh network, train-mode BN, one output. Computed in one forward pass: with codes
  as +-1 vectors s = 2c - 1, ``s_i . s_j = n - 2 d_H``, so ``K_H = (N_A + S S^T) / 2`` -- one matrix product
  per distinct ReLU input (a node feeding several convolutions is multiplied by its number of ReLUs instead
  of being recomputed), exact in float32 (integers below 2^24) and summed in float64.
  Variants: ``naswot_paper`` reads each ``nn.ReLU`` unit once (the paper's N_A); ``naswot_normalised`` divides
  K_H by N_A (unit diagonal, as the paper's Fig. 1 draws it), so that the count of ReLU units does not enter.
* :func:`jacob_cov` -- NASWOT v1 (arXiv 2006.04647v1): J = d(sum_i y_i)/dx for a one-output network, Sigma_J
  the correlation matrix of J's rows, eigenvalues s; score ``-sum_i [log(s_i + k) + 1/(s_i + k)]``, k = 1e-5.
* :func:`synflow` (Tanaka et al. 2020, as in Abdelfattah et al. 2021): BN removed, float64, weights replaced by
  their absolute values, an all-ones input of batch 1; R = sum of the outputs; ``sum |theta * dR/dtheta|``.
* :func:`snip` and :func:`grad_norm` (Abdelfattah et al. 2021): from the cross-entropy gradient of one
  minibatch, ``sum |W * dL/dW|`` and ``sum_layers ||dL/dW||_2`` over conv and linear weights.
* :func:`param_count` and :func:`flops` (multiply-accumulates of the conv and linear layers for one input).

Every proxy builds its own network from ``torch.manual_seed(seed)``, so a score is deterministic for a fixed
batch and seed, and every candidate sees the same initialisation procedure and the same minibatch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from evoforge.nas.network import build_network
from evoforge.nas.space import Cell

STANDARD = ("naswot", "jacob_cov", "synflow", "snip", "grad_norm", "params", "flops")  # a benchmark's default
# NASWOT's kernel read as the paper defines it (each ReLU unit once) and normalised to a unit diagonal
NASWOT_VARIANTS = ("naswot_paper", "naswot_normalised")
PROXIES = STANDARD + NASWOT_VARIANTS  # every proxy :func:`score` knows


def hamming_kernel(codes: Sequence[torch.Tensor]) -> torch.Tensor:
    """``K_H = sum over layers of (n_l - d_H)`` for per-layer binary codes (B, n_l) -- the definition, for
    checking :func:`naswot_kernel` and small hand-made cases."""
    batch = codes[0].shape[0]
    kernel = torch.zeros(batch, batch, dtype=torch.float64)
    for layer in codes:
        c = layer.reshape(batch, -1).to(torch.float64)
        kernel += c @ c.T + (1 - c) @ (1 - c).T
    return kernel


def relu_modules(network: nn.Module, selection: str = "reference") -> list[nn.Module]:
    """The modules whose inputs give NASWOT's codes. ``reference``: every module whose type name contains
    "ReLU", as the reference's hooks select them (in NAS-Bench-201 the ReLU-conv-BN containers as well as their
    ReLUs, so a convolution's input counts twice); ``paper``: the ``nn.ReLU`` units only, each counted once, as
    the paper defines N_A."""
    if selection == "reference":
        return [module for module in network.modules() if "ReLU" in type(module).__name__]
    if selection == "paper":
        return [module for module in network.modules() if isinstance(module, nn.ReLU)]
    raise ValueError(f"unknown ReLU selection {selection!r}: reference or paper")


def naswot_kernel(network: nn.Module, inputs: torch.Tensor, selection: str = "reference",
                  normalise: bool = False) -> torch.Tensor:
    """K_H of ``network`` on ``inputs``: one forward pass in train mode, hooks on the input of every module
    :func:`relu_modules` selects; with ``normalise``, K_H / N_A (unit diagonal, Mellor et al.'s Fig. 1), which
    takes the number of ReLU units out of log|K|: ``log|K / N_A| = log|K| - B log N_A``."""
    batch = inputs.shape[0]
    relus = relu_modules(network, selection)
    if not relus:
        raise ValueError("the network has no ReLU modules to read codes from")
    grams: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # id(input) -> (input kept alive, +-1 Gram)
    total = torch.zeros(batch, batch, dtype=torch.float64, device=inputs.device)
    units = 0

    def read_codes(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        nonlocal total, units
        x = args[0]
        entry = grams.get(id(x))
        if entry is None or entry[0] is not x:
            # the order of units inside a row does not change a Gram matrix: flatten in memory order
            flat = x.permute(0, 2, 3, 1).reshape(batch, -1) if x.dim() == 4 else x.reshape(batch, -1)
            signs = torch.where(flat > 0, 1.0, -1.0)
            entry = (x, (signs @ signs.T).to(torch.float64))
            grams[id(x)] = entry
        total += entry[1]
        units += x[0].numel()

    handles = [relu.register_forward_pre_hook(read_codes) for relu in relus]
    try:
        network.train()
        with torch.no_grad():
            network(inputs)
    finally:
        for handle in handles:
            handle.remove()
    kernel = (units + total) / 2
    return kernel / units if normalise else kernel


def log_determinant(kernel: torch.Tensor) -> float:
    """log|det K| with the sign ignored, as the reference; -inf for a singular kernel (e.g. repeated codes)."""
    _, value = torch.linalg.slogdet(kernel)
    return float(value)


def naswot(cell: Cell, inputs: torch.Tensor, channels: int, cells_per_stage: int, seed: int = 0,
           selection: str = "reference", normalise: bool = False) -> float:
    """Mellor et al.'s score of ``cell``: log|K_H| of a fresh one-output network on the minibatch (the ReLU
    ``selection`` and ``normalise`` of :func:`naswot_kernel`; the defaults are the reference code's).

    Runs in channels-last memory format (the same numbers; CPU convolutions about twice as fast, measured on
    the NAS-Bench-201 skeleton at batch 128)."""
    torch.manual_seed(seed)
    network = build_network(cell, inputs.shape[1:], 1, channels, cells_per_stage).to(inputs.device)
    network = network.to(memory_format=torch.channels_last)
    kernel = naswot_kernel(network, inputs.contiguous(memory_format=torch.channels_last), selection, normalise)
    return log_determinant(kernel)


def jacob_cov(cell: Cell, inputs: torch.Tensor, channels: int, cells_per_stage: int, seed: int = 0) -> float:
    """NASWOT v1 (Mellor et al., arXiv 2006.04647v1): -sum_i [log(s_i + k) + 1 / (s_i + k)], k = 1e-5, over the
    eigenvalues s of the correlation matrix of the input Jacobians of a one-output network; NaN when undefined.
    """
    torch.manual_seed(seed)
    network = build_network(cell, inputs.shape[1:], 1, channels, cells_per_stage).to(inputs.device)
    network.train()
    x = inputs.clone().requires_grad_(True)
    network(x).sum().backward()
    jacobian = x.grad.reshape(x.shape[0], -1).to(torch.float64).cpu().numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = np.corrcoef(jacobian)
    if not np.all(np.isfinite(correlation)):
        return float("nan")  # a constant Jacobian row (e.g. the output does not depend on the input)
    eigenvalues = np.linalg.eigvalsh(correlation)
    k = 1e-5
    return float(-np.sum(np.log(eigenvalues + k) + 1.0 / (eigenvalues + k)))


def _weights(network: nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in network.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def synflow(cell: Cell, inputs: torch.Tensor, channels: int, cells_per_stage: int, num_classes: int,
            seed: int = 0) -> float:
    """SynFlow (Tanaka et al. 2020): sum |theta * dR/dtheta| with BN removed, |weights|, an all-ones input and
    R the sum of the outputs (float64).
    """
    torch.manual_seed(seed)
    network = build_network(cell, inputs.shape[1:], num_classes, channels, cells_per_stage)
    _remove_batch_norm(network)
    network = network.double().to(inputs.device)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.abs_()
    network(torch.ones(1, *inputs.shape[1:], dtype=torch.float64, device=inputs.device)).sum().backward()
    return float(sum((w * w.grad).abs().sum() for w in _weights(network)).detach())


def _remove_batch_norm(network: nn.Module) -> None:
    for name, child in network.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(network, name, nn.Identity())
        else:
            _remove_batch_norm(child)


def _loss_gradients(cell: Cell, inputs: torch.Tensor, labels: torch.Tensor, channels: int, cells_per_stage: int,
                    num_classes: int, seed: int) -> list[torch.Tensor]:
    torch.manual_seed(seed)
    network = build_network(cell, inputs.shape[1:], num_classes, channels, cells_per_stage).to(inputs.device)
    network.train()
    nn.functional.cross_entropy(network(inputs), labels).backward()
    return _weights(network)


def snip(cell: Cell, inputs: torch.Tensor, labels: torch.Tensor, channels: int, cells_per_stage: int,
         num_classes: int, seed: int = 0) -> float:
    """SNIP as a zero-cost proxy (Abdelfattah et al. 2021): sum |W * dL/dW| over conv and linear weights, L the
    cross-entropy of one minibatch.
    """
    weights = _loss_gradients(cell, inputs, labels, channels, cells_per_stage, num_classes, seed)
    return float(sum((w * w.grad).abs().sum() for w in weights).detach())


def grad_norm(cell: Cell, inputs: torch.Tensor, labels: torch.Tensor, channels: int, cells_per_stage: int,
              num_classes: int, seed: int = 0) -> float:
    """Gradient norm (Abdelfattah et al. 2021): sum over conv and linear layers of ||dL/dW||_2 for one minibatch."""
    weights = _loss_gradients(cell, inputs, labels, channels, cells_per_stage, num_classes, seed)
    return float(sum(w.grad.norm() for w in weights))


def param_count(cell: Cell, input_shape: Sequence[int], channels: int, cells_per_stage: int,
                num_classes: int) -> int:
    """Trainable parameters of the cell's network in the benchmark's skeleton (NAS-Bench-201 reports the same)."""
    network = build_network(cell, input_shape, num_classes, channels, cells_per_stage)
    return sum(p.numel() for p in network.parameters())


def flops(cell: Cell, input_shape: Sequence[int], channels: int, cells_per_stage: int, num_classes: int) -> int:
    """Multiply-accumulates of every conv and linear layer for one input (what NAS papers call FLOPs)."""
    network = build_network(cell, input_shape, num_classes, channels, cells_per_stage)
    total = 0

    def count(module: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
            total += output[0].numel() * per_output
        else:
            total += module.in_features * module.out_features

    handles = [m.register_forward_hook(count) for m in network.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    network.eval()
    with torch.no_grad():
        network(torch.zeros(1, *input_shape))
    for handle in handles:
        handle.remove()
    return total


def score(cell: Cell, proxies: Sequence[str], inputs: torch.Tensor, labels: torch.Tensor, num_classes: int,
          channels: int, cells_per_stage: int, seed: int = 0) -> dict[str, float]:
    """The named proxies of ``cell`` on one minibatch (``inputs`` (B, C, H, W), ``labels`` (B,))."""
    unknown = [p for p in proxies if p not in PROXIES]
    if unknown:
        raise ValueError(f"unknown proxies {unknown}; known: {', '.join(PROXIES)}")
    shape = inputs.shape[1:]
    compute: dict[str, Callable[[], float]] = {
        "naswot": lambda: naswot(cell, inputs, channels, cells_per_stage, seed),
        "naswot_paper": lambda: naswot(cell, inputs, channels, cells_per_stage, seed, selection="paper"),
        "naswot_normalised": lambda: naswot(cell, inputs, channels, cells_per_stage, seed, normalise=True),
        "jacob_cov": lambda: jacob_cov(cell, inputs, channels, cells_per_stage, seed),
        "synflow": lambda: synflow(cell, inputs, channels, cells_per_stage, num_classes, seed),
        "snip": lambda: snip(cell, inputs, labels, channels, cells_per_stage, num_classes, seed),
        "grad_norm": lambda: grad_norm(cell, inputs, labels, channels, cells_per_stage, num_classes, seed),
        "params": lambda: float(param_count(cell, shape, channels, cells_per_stage, num_classes)),
        "flops": lambda: float(flops(cell, shape, channels, cells_per_stage, num_classes)),
    }
    return {name: compute[name]() for name in proxies}

