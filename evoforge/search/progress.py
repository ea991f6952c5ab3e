"""The progress bar of every long job (runs, benchmarks, ablations), sized to the terminal.

One line: the job's name, a bar, done/total, then ``key value`` pairs in the caller's order of importance,
then the time remaining. The count and the time remaining are never cut: the name is shortened and the
least important pairs are dropped until the line fits (an 80-column terminal shows
``quickstart ━━━━━━━━━━  40/100  best 500.0  mean 312.4  center 475.0  0:00:12``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

NAME_WIDTH = 18
ETA_WIDTH = 9  # "-:--:--" or "0:00:12", compact: "12s"


def fit_fields(fields: list[tuple[str, str]], width: int) -> str:
    """``key value`` pairs joined by two spaces, keeping a prefix of them (most important first) within ``width``."""
    text = ""
    for key, value in fields:
        item = f"{key} {value}" if key else value
        candidate = f"{text}  {item}" if text else item
        if len(candidate) > width:
            break
        text = candidate
    return text


@contextmanager
def progress_bar(name: str, total: int, completed: int = 0, enabled: bool = True, console: Any = None
                 ) -> Iterator[Callable[..., None]]:
    """A rich progress bar for ``total`` steps; yields ``update(completed, fields=[(key, value), ...])``.

    ``fields`` are shown most important first and dropped from the end when the terminal is too narrow.
    Disabled, ``update`` does nothing. The bar writes to stderr (or ``console``).
    """
    if not enabled:
        yield lambda completed, fields=(): None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = console or Console(stderr=True)
    short = name if len(name) <= NAME_WIDTH else name[:NAME_WIDTH - 1] + "…"
    bar_width = 10 if console.width < 100 else 24
    counter_width = 2 * len(str(max(total, 1))) + 1
    # the columns rich separates by one space each: name, bar, n/total, fields, ETA
    free = console.width - len(short) - bar_width - counter_width - ETA_WIDTH - 5
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(bar_width=bar_width),
                        MofNCompleteColumn(), TextColumn("{task.fields[line]}"),
                        TimeRemainingColumn(compact=True), console=console)
    task = progress.add_task(short, total=total, completed=completed, line="")

    def update(done: int, fields: list[tuple[str, str]] | tuple = ()) -> None:
        progress.update(task, completed=done, line=fit_fields(list(fields), max(0, free)))

    with progress:
        yield update
