"""Fenced code blocks of the documentation pages, for the tests that execute them."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from .conftest import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class Block:
    page: Path
    language: str  # what follows the opening ```, "" when nothing does
    line: int  # line number of the block's first line in the page
    text: str


def fenced_blocks(page: Path, language: str | None = None) -> list[Block]:
    """The page's top-level ``` blocks in order; only those of ``language`` when given."""
    blocks, opened, start, lines = [], None, 0, []
    for number, line in enumerate(page.read_text().splitlines(), start=1):
        if opened is None:
            if line.startswith("```"):
                opened, start, lines = line[3:].strip(), number + 1, []
        elif line.startswith("```"):
            blocks.append(Block(page, opened, start, "\n".join(lines)))
            opened = None
        else:
            lines.append(line)
    assert opened is None, f"{page.name}: the block opened at line {start - 1} is never closed"
    return [b for b in blocks if language is None or b.language == language]


@dataclass(frozen=True)
class ShellCommand:
    page: Path
    line: int
    text: str  # as written in the page, continuation lines joined
    env: dict[str, str]  # leading VAR=value assignments
    words: list[str]  # the command and its arguments, comments removed


def shell_commands(page: Path) -> list[ShellCommand]:
    """Every command line of the page's ```bash blocks (``\\`` continuations joined, ``# comments`` dropped)."""
    commands = []
    for block in fenced_blocks(page, "bash"):
        pending, first = "", 0
        for offset, raw in enumerate(block.text.splitlines()):
            if not pending:
                first = block.line + offset
            pending += raw.rstrip()
            if pending.endswith("\\"):
                pending = pending[:-1] + " "
                continue
            words, pending = shlex.split(pending, comments=True), ""
            env = {}
            while words and _ENV_ASSIGNMENT.match(words[0]):
                key, _, value = words.pop(0).partition("=")
                env[key] = value
            if words:
                commands.append(ShellCommand(page, first, " ".join(words), env, words))
    return commands
