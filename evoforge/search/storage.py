"""Writing files so that readers never see half of one, and values as JSON that any reader can parse.

:func:`atomic_write_bytes` writes to a temporary file, flushes it to disk and renames it over the target, so
a crash leaves the old file or the new one, never a mix. :func:`jsonable` is the one JSON sanitiser: numpy
scalars become Python numbers, tensors lists, non-finite floats ``null`` (JSON has no inf / NaN), keys
strings.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old content or the new, never a mix."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def atomic_write_text(path: Path, text: str) -> None:
    """:func:`atomic_write_bytes` of UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def jsonable(value: Any) -> Any:
    """``value`` with every part JSON can hold: str keys, Python numbers, lists; inf and NaN as None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # torch tensors, without importing torch
        return jsonable(value.tolist())
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(value: Any, indent: int | None = None) -> str:
    """``value`` as JSON text through :func:`jsonable`; anything else JSON cannot hold becomes its ``str``."""
    return json.dumps(jsonable(value), indent=indent, default=str, allow_nan=False)


def write_json(path: Path, value: Any, indent: int | None = 2) -> None:
    """Write ``value`` as JSON (:func:`to_json`) atomically."""
    atomic_write_text(path, to_json(value, indent) + "\n")
