"""The progress bar of every long job (runs, ablations), sized to the terminal.

One line: the job's name, a bar, done/total, then ``key value`` pairs in the caller's order of importance,
then the time remaining. The count and the time remaining are never cut: the name is shortened and the
least important pairs are dropped until the line fits (an 80-column terminal shows
``quickstart ━━━━━━━━━━  40/100 best 500.0  mean 312.4  center 475.0 0:00:12``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

NAME_WIDTH = 18
ETA_WIDTH = 9  # "-:--:--" or "0:00:12"

Fields = Sequence[tuple[str, str]]


def fit_fields(fields: Fields, width: int) -> str:
    """``key value`` pairs joined by two spaces, keeping a prefix of them (most important first) within ``width``."""
    text = ""
    for key, value in fields:
        item = f"{key} {value}" if key else value
        candidate = f"{text}  {item}" if text else item
        if len(candidate) > width:
            break
        text = candidate
    return text


class ProgressLine:
    """The handle :func:`progress_bar` yields: :meth:`update` the bar, :meth:`print` a line above it."""

    def __init__(self, progress: Any = None, task: Any = None, free: int = 0) -> None:
        self.progress, self.task, self.free = progress, task, free

    def update(self, done: int, fields: Fields = (), eta: str | None = None) -> None:
        """Show ``done`` steps and ``fields``; ``eta`` replaces rich's own estimate of the time remaining."""
        if self.progress is not None:
            self.progress.update(self.task, completed=done, line=fit_fields(fields, self.free), eta=eta or "")

    def print(self, text: str) -> None:
        """A line above the bar (or on stderr when the bar is off)."""
        if self.progress is not None:
            self.progress.console.print(text, highlight=False)
        else:
            import sys

            print(text, file=sys.stderr, flush=True)


@contextmanager
def progress_bar(name: str, total: int, completed: int = 0, enabled: bool = True, console: Any = None
                 ) -> Iterator[ProgressLine]:
    """A rich progress bar for ``total`` steps on stderr (or ``console``); yields a :class:`ProgressLine`.
    Disabled, its ``update`` does nothing and ``print`` writes to stderr."""
    if not enabled:
        yield ProgressLine()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.text import Text

    class Remaining(TimeRemainingColumn):
        """rich's time remaining, or the caller's own estimate when it gives one."""

        def render(self, task: Any) -> Text:
            given = task.fields.get("eta")
            return Text(given, style="progress.remaining") if given else super().render(task)

    console = console or Console(stderr=True)
    short = name if len(name) <= NAME_WIDTH else name[:NAME_WIDTH - 1] + "…"
    bar_width = 10 if console.width < 100 else 24
    counter_width = 2 * len(str(max(total, 1))) + 1
    # the columns rich separates by one space each: name, bar, n/total, fields, time remaining
    free = max(0, console.width - len(short) - bar_width - counter_width - ETA_WIDTH - 5)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(bar_width=bar_width),
                        MofNCompleteColumn(), TextColumn("{task.fields[line]}"), Remaining(), console=console)
    task = progress.add_task(short, total=total, completed=completed, line="", eta="")
    with progress:
        yield ProgressLine(progress, task, free)
