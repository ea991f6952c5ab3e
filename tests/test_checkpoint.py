"""Checkpoint files: atomic, self-checking; a damaged one is named clearly and older ones stay usable."""

import re

import pytest

from evoforge.search import checkpoint as ckpt


def _write_three(tmp_path):
    for generation in (1, 2, 3):
        ckpt.save_checkpoint(tmp_path, generation, {"generation": generation, "blob": b"x" * 1000}, keep=3)
    return ckpt.list_checkpoints(tmp_path)


def test_round_trip_and_pruning(tmp_path):
    paths = _write_three(tmp_path)
    assert [p.name for p in paths] == ["ckpt-000001.ckpt", "ckpt-000002.ckpt", "ckpt-000003.ckpt"]
    assert ckpt.load_checkpoint(paths[-1])["generation"] == 3
    ckpt.save_checkpoint(tmp_path, 4, {"generation": 4}, keep=2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["ckpt-000003.ckpt", "ckpt-000004.ckpt"]
    assert not list(tmp_path.glob(".*tmp*")), "no temporary files left behind"


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda data: data[: len(data) // 2], "is truncated"),
        (lambda data: data[:20], "is truncated"),
        (lambda data: data[:-5] + b"XXXXX", "is corrupt (checksum mismatch)"),
        (lambda data: b"NOTACKPT" + data[8:], "not an evoforge checkpoint"),
    ],
)
def test_damaged_latest_is_reported_and_previous_still_loads(tmp_path, damage, message):
    paths = _write_three(tmp_path)
    paths[-1].write_bytes(damage(paths[-1].read_bytes()))
    with pytest.raises(ckpt.CheckpointError, match=re.escape(message)):
        ckpt.load_checkpoint(paths[-1])
    path, payload, skipped = ckpt.load_latest_valid(tmp_path)
    assert path == paths[1] and payload["generation"] == 2
    assert skipped[0][0] == paths[-1] and message in skipped[0][1]


def test_no_usable_checkpoint(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="no checkpoint"):
        ckpt.load_latest_valid(tmp_path)
    paths = _write_three(tmp_path)
    for path in paths:
        path.write_bytes(b"")
    with pytest.raises(ckpt.CheckpointError, match="no usable checkpoint"):
        ckpt.load_latest_valid(tmp_path)
