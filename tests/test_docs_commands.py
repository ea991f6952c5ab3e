"""The shell commands of the worked examples run: every ``evoforge ...`` line of the ```bash blocks of each page in
:data:`WORKED_EXAMPLE_PAGES`, in order, in a temporary directory holding the paths the pages use (``configs/``,
``docs/``, ``scripts/``, ``ablations/`` linked from the repository), through ``evoforge.cli.main``. Each must
exit 0. Shown terminal sessions (```text blocks with ``$ evoforge ...`` lines) must print what the page shows.

Budgets are reduced, on purpose and only this way, so that all pages run in about a minute on 2 cores:

* ``evoforge run CONFIG ...`` gets ``--quiet --serial`` and the overrides :data:`BUDGETS` lists for CONFIG
  appended (fewer generations, smaller populations, shorter episodes; appended ``--set`` wins over the page's).
  The page's full budgets take minutes to hours; the runs themselves are tested at larger budgets elsewhere
  (tests/test_run.py, tests/experiments/), and the serial and Ray backends give the same evaluations
  (tests/test_pool.py). cluster.md's local command keeps Ray, what that page is about; it joins the local Ray
  instance the test session shares (tests/conftest.py) instead of starting one of its own.
* ``evoforge resume RUN --generations N`` runs one generation (iteration, architecture) past what RUN has.
* ``evoforge ablate SPEC`` gets ``--quiet`` and :data:`ABLATE_BUDGET`, and runs only with ``-m slow``.

Not run, by convention: lines with ``--address`` (they need a running Ray cluster; tests/test_distributed.py
runs a two-node cluster on loopback) and every line that is not an ``evoforge`` command (``ray start``,
``tensorboard``, ``pip``, ``python scripts/...``: the scripts have their own tests).
"""

from __future__ import annotations

import glob
import json
import shlex
import sys
import time
from pathlib import Path

import pytest

from evoforge.cli import main

from .conftest import REPO
from .markdown_blocks import PAGES, ShellCommand, fenced_blocks, shell_commands

WORKED_EXAMPLE_PAGES = ["getting-started.md", "engine.md", "extending.md", "cluster.md", "hebbian.md", "pcgrl.md",
                        "poet.md", "nas.md", "evonorm.md", "reports.md"]

_ES = ["search.generations=2", "search.popsize=4", "center_eval.evaluations=1"]
_QUADRUPED = ["search.generations=1", "search.popsize=2", "env.max_episode_steps=10", "center_eval.evaluations=1"]
_PCGRL = ["search.generations=1", "search.popsize=4", "generator.maps=2", "generator.init_samples=4",
          "center_eval.evaluations=1", "generator.nca_steps=5", "generator.max_iterations=20"]
_NAS = ["data.image_size=8", "data.max_train=64", "network.channels=4", "training.epochs=1", "proxy.batch_size=16"]
_NAS_SEARCH = [*_NAS, "search.generations=2", "search.children=2", "search.population_size=2",
               "search.sample_size=2", "search.area_candidates=3"]
BUDGETS: dict[str, list[str]] = {
    "quickstart.yaml": ["search.generations=2"],
    "es_cartpole.yaml": ["search.generations=2"],
    "function_sphere.yaml": ["search.generations=2"],
    "hebbian_quadruped_quick.yaml": _QUADRUPED,
    "hebbian_quadruped.yaml": _QUADRUPED,
    "static_quadruped_quick.yaml": _QUADRUPED,
    "hebbian_carracing_quick.yaml": [*_QUADRUPED, "env.max_episode_steps=10"],
    "hebbian_carracing.yaml": [*_QUADRUPED, "env.max_episode_steps=10"],
    "pcgrl_binary_nca.yaml": _PCGRL,
    "pcgrl_zelda_nca.yaml": _PCGRL,
    "pcgrl_sokoban_nca.yaml": _PCGRL,
    "pcgrl_binary_narrow.yaml": _PCGRL,
    "pcgrl_binary_cma_me.yaml": ["search.generations=1", "search.emitters=1", "search.batch_size=4",
                                 "generator.maps=2", "generator.init_samples=4", "generator.nca_steps=5"],
    "poet_paper.yaml": ["poet.generations=2", "agent.max_episode_steps=30", "search.popsize=4",
                        "poet.reproduce_every=1", "poet.transfer_every=1", "poet.repro_threshold=-1000",
                        "poet.mc_low=-1000", "poet.mc_high=1000", "poet.children=2", "poet.capacity=2"],
    "poet_cppn_quick.yaml": ["poet.generations=3", "agent.max_episode_steps=40", "search.popsize=4",
                             "poet.reproduce_every=2", "poet.transfer_every=2", "poet.repro_threshold=-1000",
                             "poet.mc_low=-1000", "poet.mc_high=1000", "poet.children=3", "poet.capacity=2"],
    "poet_quick.yaml": ["poet.generations=3", "agent.max_episode_steps=40", "search.popsize=4",
                        "poet.reproduce_every=2", "poet.transfer_every=2", "poet.repro_threshold=-1000",
                        "poet.mc_low=-1000", "poet.mc_high=1000", "poet.children=3", "poet.capacity=2"],
    "nas_random_digits.yaml": _NAS_SEARCH,
    "nas_rea_digits.yaml": _NAS_SEARCH,
    "nas_area_digits.yaml": _NAS_SEARCH,
    "nas_benchmark_digits.yaml": [*_NAS, "benchmark.architectures=2", "benchmark.chunk=2", "training.seeds=[0]",
                                  "benchmark.select_n=[2]", "benchmark.repeats=10"],
    "evonorm_digits.yaml": ["data.image_size=8", "data.max_train=128", "training.width=4", "training.steps=6",
                            "rejection.quality_steps=3", "rejection.stress_steps=3", "search.population_size=3",
                            "search.sample_size=2", "search.children=2", "search.generations=2"],
    "nas_benchmark_nb201.yaml": ["data.image_size=8", "network.channels=4", "network.cells_per_stage=1",
                                 "proxy.batch_size=16", "benchmark.architectures=2", "benchmark.chunk=2",
                                 "benchmark.select_n=[2]", "benchmark.repeats=10", "benchmark.bootstrap=10"],
    "nas_rea_nb201.yaml": ["search.budget_cells=6", "search.population_size=3", "search.sample_size=2"],
    "nas_area_nb201.yaml": ["search.budget_cells=6", "search.population_size=3", "search.sample_size=2",
                            "search.area_candidates=4", "data.image_size=8", "network.channels=4",
                            "network.cells_per_stage=1", "proxy.batch_size=16"],
    "nas_random_nb201.yaml": ["search.budget_cells=4", "data.image_size=8", "network.channels=4",
                              "network.cells_per_stage=1", "proxy.batch_size=16"],
    "extending.yaml": ["search.generations=5"],
}
ABLATE_BUDGET = ["--set", "search.generations=1"]
LINKED = ["configs", "docs", "scripts", "ablations"]


def _evoforge_commands(page: Path) -> list[ShellCommand]:
    return [c for c in shell_commands(page) if c.words[0] == "evoforge"]


def _skipped(command: ShellCommand) -> bool:
    return "--address" in command.words


def _slow(command: ShellCommand) -> bool:
    """``evoforge ablate`` starts Ray and runs variants x seeds: only with ``-m slow`` (tests/test_ablation*
    run ablations in the default suite)."""
    return command.words[1] == "ablate"


def _completed(run_dir: Path) -> int:
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("generations_completed", "iterations", "architectures"):
        if key in summary:
            return int(summary[key])
    raise AssertionError(f"{run_dir}/summary.json says nothing about how far the run got")


def _reduced(args: list[str], page: str) -> list[str]:
    """The command's arguments with the reduced budget (see the module docstring)."""
    args = list(args)
    if args[0] == "run":
        config = Path(args[1]).name
        assert config in BUDGETS, f"add a reduced budget for {config} to BUDGETS"
        backend = [] if page == "cluster.md" else ["--serial"]
        return args + ["--quiet", *backend] + [word for item in BUDGETS[config] for word in ("--set", item)]
    if args[0] == "resume":
        if "--generations" in args:
            at = args.index("--generations") + 1
            args[at] = str(_completed(Path(args[1])) + 1)
        return args + ["--quiet"]
    if args[0] == "ablate":
        return args + ["--quiet", *ABLATE_BUDGET]
    return args


def _expand(words: list[str]) -> list[str]:
    """Glob patterns as the shell expands them (a pattern that matches nothing stays as written)."""
    expanded = []
    for word in words:
        matches = sorted(glob.glob(word)) if any(ch in word for ch in "*?[") else []
        expanded.extend(matches or [word])
    return expanded


@pytest.fixture
def docs_cwd(tmp_path, monkeypatch):
    for name in LINKED:
        if (REPO / name).exists():
            (tmp_path / name).symlink_to(REPO / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # a user experiment's import adds the cwd
    return tmp_path


def _run_page(page: str, monkeypatch, slow: bool) -> list[str]:
    commands = [c for c in _evoforge_commands(REPO / "docs" / page) if not _skipped(c) and (slow or not _slow(c))]
    ran, last_unnamed_run = [], 0.0
    for command in commands:
        assert not {"&&", "||", "|", ";"} & set(command.words), f"{page}:{command.line}: one command per line"
        for key, value in command.env.items():
            monkeypatch.setenv(key, value)
        args = _reduced(_expand(command.words[1:]), page)
        if args[0] == "run" and "--out" not in args:
            # runs/NAME-TIMESTAMP has a resolution of one second; a second run in the same second would collide
            time.sleep(max(0.0, 1.05 - (time.time() - last_unnamed_run)))
            last_unnamed_run = time.time()
        code = main(args)
        assert code == 0, f"{page}:{command.line}: `{command.text}` exited {code} (ran as: evoforge {' '.join(args)})"
        ran.append(command.text)
    return ran


def test_every_worked_example_page_has_commands_that_run_by_default():
    for page in WORKED_EXAMPLE_PAGES:
        commands = _evoforge_commands(REPO / "docs" / page)
        assert [c for c in commands if not _skipped(c) and not _slow(c)], f"{page}: no evoforge command to run"


@pytest.mark.parametrize("page", WORKED_EXAMPLE_PAGES)
def test_worked_example_commands_run(page, docs_cwd, monkeypatch, request):
    if page == "cluster.md":
        request.getfixturevalue("ray_local")  # the Ray the other tests share: its pool joins it, as with --address
    assert _run_page(page, monkeypatch, slow=False)


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in WORKED_EXAMPLE_PAGES
                                  if any(_slow(c) for c in _evoforge_commands(REPO / "docs" / p))])
def test_worked_example_commands_run_with_the_slow_ones(page, docs_cwd, monkeypatch):
    assert _run_page(page, monkeypatch, slow=True)


# -- shown terminal sessions ---------------------------------------------------------------------------------


def _sessions() -> list[tuple[Path, int, str, list[str]]]:
    """(page, line, command, lines shown after it) for every ``$ evoforge ...`` line of a ```text block."""
    found = []
    for page in PAGES:
        for block in fenced_blocks(page, "text"):
            lines = block.text.splitlines()
            for offset, line in enumerate(lines):
                if line.startswith("$ evoforge "):
                    shown = []
                    for after in lines[offset + 1:]:
                        if after.startswith("$ "):
                            break
                        shown.append(after)
                    found.append((page, block.line + offset, line[2:], shown))
    return found


def test_shown_terminal_sessions_print_what_the_page_shows(docs_cwd, capsys):
    sessions = _sessions()
    assert sessions
    for page, line, command, shown in sessions:
        code = main(shlex.split(command)[1:])
        captured = capsys.readouterr()
        printed = (captured.out + captured.err).strip().splitlines()
        assert printed == shown, f"{page.name}:{line}: `{command}` (exit {code}) printed {printed}"
