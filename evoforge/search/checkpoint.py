"""Atomic, self-checking checkpoint files.

A checkpoint is one file: an 8-byte magic, the payload length, the SHA-256 of the payload, then the pickled
payload. It is written to a temporary file, flushed to disk and renamed over its final name, so a crash
leaves either the old file or the new one, never half of one. Reading checks magic, length and hash, so a
truncated or corrupt file is reported as such (and the previous checkpoints, kept alongside, stay usable).
"""

from __future__ import annotations

import hashlib
import pickle
import re
import struct
from pathlib import Path
from typing import Any

from evoforge.errors import CheckpointError
from evoforge.search.storage import atomic_write_bytes

__all__ = ["CheckpointError", "atomic_write_bytes", "checkpoint_path", "decode", "encode", "list_checkpoints",
           "load_checkpoint", "load_latest_valid", "save_checkpoint"]

MAGIC = b"EVOFCKP1"
_HEADER = struct.Struct(">8sQ32s")
_NAME = re.compile(r"^ckpt-(\d{6,})\.ckpt$")


def encode(payload: Any) -> bytes:
    """Pickle ``payload`` behind a header: magic number, payload length and the payload's SHA-256."""
    body = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(MAGIC, len(body), hashlib.sha256(body).digest()) + body


def decode(data: bytes, source: str = "checkpoint") -> Any:
    """The payload of :func:`encode`'s bytes; raises :class:`CheckpointError` naming ``source`` when the bytes
    are truncated, not a checkpoint, fail the checksum or cannot be unpickled.
    """
    if len(data) < _HEADER.size:
        raise CheckpointError(f"{source} is truncated ({len(data)} bytes, header needs {_HEADER.size})")
    magic, length, digest = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CheckpointError(f"{source} is not an evoforge checkpoint (bad magic {magic!r})")
    body = data[_HEADER.size :]
    if len(body) != length:
        raise CheckpointError(f"{source} is truncated ({len(body)} of {length} payload bytes)")
    if hashlib.sha256(body).digest() != digest:
        raise CheckpointError(f"{source} is corrupt (checksum mismatch)")
    try:
        return pickle.loads(body)
    except Exception as exc:  # noqa: BLE001 - a valid hash with an unreadable payload: wrong version
        raise CheckpointError(f"{source} cannot be unpickled: {type(exc).__name__}: {exc}") from exc


def checkpoint_path(directory: Path, generation: int) -> Path:
    """``directory/ckpt-NNNNNN.ckpt``, the checkpoint file of the state after ``generation`` generations."""
    return Path(directory) / f"ckpt-{generation:06d}.ckpt"


def list_checkpoints(directory: Path) -> list[Path]:
    """Checkpoint files in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(directory: Path, generation: int, payload: Any, keep: int) -> Path:
    """Write ``payload`` as the checkpoint of ``generation`` and delete all but the newest ``keep``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(directory, generation)
    atomic_write_bytes(path, encode(payload))
    for old in list_checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path) -> Any:
    """The payload of the checkpoint file at ``path``; raises :class:`CheckpointError` if it is missing or damaged."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    return decode(path.read_bytes(), source=f"checkpoint {path.name}")


def load_latest_valid(directory: Path) -> tuple[Path, Any, list[tuple[Path, str]]]:
    """The newest checkpoint that reads cleanly, plus (path, error) for every newer one that did not."""
    skipped: list[tuple[Path, str]] = []
    for path in reversed(list_checkpoints(directory)):
        try:
            return path, load_checkpoint(path), skipped
        except CheckpointError as exc:
            skipped.append((path, str(exc)))
    if skipped:
        raise CheckpointError(f"no usable checkpoint in {directory}: " + "; ".join(err for _, err in skipped))
    raise CheckpointError(f"no checkpoint in {directory}")
