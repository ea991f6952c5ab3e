"""The progress bar fits an 80-column terminal without cutting the count or the time remaining."""

from __future__ import annotations

import io
import re

from rich.console import Console

from evoforge.search.progress import fit_fields, progress_bar


def _render(width: int, name: str, total: int, done: int, fields, eta=None) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=True, color_system=None)
    with progress_bar(name, total, 0, console=console) as bar:
        bar.update(done, fields, eta)
    last = buffer.getvalue().replace("\r", "\n").split("\n")
    lines = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line) for line in last]
    return [line for line in lines if line.strip()][-1]


FIELDS = [("best", "500.0"), ("mean", "312.4"), ("center", "475.0"), ("evals/s", "1234")]


def test_the_quick_start_line_fits_80_columns_with_the_count_and_eta_whole():
    line = _render(80, "quickstart", 100, 40, FIELDS, eta="0:00:12")
    assert len(line) <= 80
    assert "40/100" in line and line.rstrip().endswith("0:00:12") and "best 500.0" in line and "…" not in line


def test_a_narrow_terminal_drops_the_least_important_fields_and_a_long_name_is_shortened():
    line = _render(60, "a-very-long-run-name-indeed", 1000, 999, FIELDS, eta="1:02:03")
    assert len(line) <= 60 and "999/1000" in line and line.rstrip().endswith("1:02:03")
    assert "evals/s" not in line and "a-very-long-run-n…" in line


def test_fit_fields_keeps_a_prefix():
    assert fit_fields(FIELDS, 22) == "best 500.0  mean 312.4"
    assert fit_fields(FIELDS, 5) == ""
