"""Which torch device an evaluator computes on: the ``device`` setting of every run config.

``auto`` is the first CUDA GPU the process can see, else the CPU; ``cpu``; ``cuda`` or ``cuda:i`` ask for a GPU
and fail with one line (exit 2) where there is none. On Ray, an actor sees a GPU only when the pool asks for one
(``pool.gpus_per_worker`` > 0: Ray hides the GPUs from actors that request none), so ``auto`` on a cluster whose
pool requests no GPUs runs on the CPU, exactly as before devices existed. Genomes, environments and results stay
on the CPU; an evaluator moves its own networks and batches to the device and brings numbers back.
"""

from __future__ import annotations

import re

import torch

from evoforge.errors import UserError

DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?)$"


def resolve_device(spec: str) -> torch.device:
    """The torch device ``spec`` names in this process (``auto``: cuda if available, else cpu); UserError for a
    GPU that is not there."""
    if not re.match(DEVICE_PATTERN, spec):
        raise UserError(f"device {spec!r}: expected auto, cpu, cuda or cuda:INDEX")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UserError(f"device {spec} asked for, but this process sees no CUDA GPU (torch.cuda.is_available() "
                        "is False); use device: auto or cpu")
    device = torch.device(spec)
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"device {spec} asked for, but this process sees {torch.cuda.device_count()} CUDA GPU(s)")
    return device


def check_device_request(spec: str, backend: str, gpus_per_worker: float) -> None:
    """Refuse, before anything starts, a ``device`` the pool cannot provide: a GPU on the serial backend of a
    machine without one, or a GPU on Ray actors that request none (Ray would hide it from them)."""
    if backend == "serial":
        resolve_device(spec)
    elif spec.startswith("cuda") and gpus_per_worker <= 0:
        raise UserError(f"device {spec} on Ray needs pool.gpus_per_worker > 0 (actors that request no GPU see "
                        "none)")
