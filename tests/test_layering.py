"""The architecture as a test: imports flow one way (DESIGN.md, README's layout).

cli -> {report, ablation} -> experiments -> {search, policies, envs, nas, plasticity}; policies -> plasticity,
envs; every package may import the engine's leaf modules ``evoforge.errors``, ``evoforge.media`` and
``evoforge.stats``. Every import counts, including the ones inside functions (a lazy import is still a dependency); cycles are checked on the
package graph (every import) and on the module graph (imports that run when a module is imported).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import REPO

PACKAGE = REPO / "evoforge"
DOMAIN = {"envs", "policies", "nas", "plasticity"}
UPPER = {"experiments", "report", "ablation", "cli"}

# (importer, imported) pairs of top-level packages that must never occur
FORBIDDEN = (
    {("search", other) for other in DOMAIN | UPPER}
    | {("envs", "search"), ("envs", "policies")}
    | {("plasticity", "policies")}
    | {(domain, upper) for domain in DOMAIN for upper in UPPER}
    | {(package, "cli") for package in DOMAIN | UPPER | {"search", "errors", "media", "stats"} if package != "cli"}
    | {(leaf, other) for leaf in ("errors", "media", "stats") for other in DOMAIN | UPPER | {"search"}}
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_of(module: str) -> str:
    """``evoforge.search.run`` -> ``search``; ``evoforge.cli`` -> ``cli``; ``evoforge`` -> ``evoforge``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports(source: str, module: str, is_package: bool, known: set[str] | frozenset = frozenset()
            ) -> list[tuple[str, bool]]:
    """(imported evoforge module, at module level?) for every import in ``source``; ``from x import y`` is an
    import of module ``x.y`` when that is one of the ``known`` modules, else of ``x``."""
    tree = ast.parse(source)
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # `if TYPE_CHECKING:` blocks never run
        if isinstance(node, ast.If):
            top_level |= {id(child) for child in node.body + node.orelse}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for name in names:
            if name == "evoforge" or name.startswith("evoforge."):
                found.append((name, id(node) in top_level))
    return found


def import_graph(root: Path = PACKAGE) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(every import, module-level imports) per module of the package, resolved to modules that exist."""
    files = {module_name(path): path for path in root.rglob("*.py")}
    every: dict[str, set[str]] = {m: set() for m in files}
    eager: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        for name, at_top in imports(path.read_text(), module, path.name == "__init__.py", set(files)):
            while name not in files and "." in name:  # `from evoforge.x import Name` -> evoforge.x
                name = name.rsplit(".", 1)[0]
            if module.startswith(name + "."):
                continue  # a module's own parent packages are always initialised first: not a dependency
            if name in files and name != module:
                every[module].add(name)
                if at_top:
                    eager[module].add(name)
    return every, eager


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of a directed graph as a list of nodes (first = last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def violations(every: dict[str, set[str]]) -> list[str]:
    """Every import that breaks a rule of :data:`FORBIDDEN`, as 'importer -> imported'."""
    return sorted(f"{a} -> {b}" for a, targets in every.items() for b in targets
                  if (package_of(a), package_of(b)) in FORBIDDEN)


def package_graph(every: dict[str, set[str]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for a, targets in every.items():
        for b in targets:
            if package_of(a) != package_of(b) and "evoforge" not in (package_of(a), package_of(b)):
                graph.setdefault(package_of(a), set()).add(package_of(b))
    return graph


def test_no_import_breaks_the_layering():
    every, _ = import_graph()
    assert len(every) > 50  # the whole package was read
    assert violations(every) == []


def test_there_is_no_import_cycle():
    every, eager = import_graph()
    assert find_cycle(package_graph(every)) is None
    assert find_cycle(eager) is None


def test_the_checks_can_fail(tmp_path):
    """A package that breaks each rule is caught: search importing a domain package, envs importing policies,
    a domain package importing experiments, a library module importing cli, and a cycle."""
    root = tmp_path / "evoforge"
    sources = {
        "search/__init__.py": "", "search/run.py": "from evoforge.envs import walker\n",
        "envs/__init__.py": "", "envs/walker.py": "def f():\n    import evoforge.policies.mlp\n",
        "policies/__init__.py": "", "policies/mlp.py": "from ..experiments import base\n",
        "experiments/__init__.py": "", "experiments/base.py": "from evoforge import cli\n",
        "cli.py": "import evoforge.experiments.base\n", "__init__.py": "",
        "nas/__init__.py": "", "nas/a.py": "from evoforge.nas import b\n", "nas/b.py": "from evoforge.nas import a\n",
    }
    for name, text in sources.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    global REPO
    saved, REPO = REPO, tmp_path
    try:
        every, eager = import_graph(root)
    finally:
        REPO = saved
    assert {"evoforge.envs.walker -> evoforge.policies.mlp", "evoforge.experiments.base -> evoforge.cli",
            "evoforge.policies.mlp -> evoforge.experiments.base", "evoforge.search.run -> evoforge.envs.walker"
            } <= set(violations(every))
    assert all(line.split(" -> ")[0] in {"evoforge.envs.walker", "evoforge.experiments.base", "evoforge.policies.mlp",
                                         "evoforge.search.run"} for line in violations(every))
    assert find_cycle(package_graph(every)) is not None  # experiments -> cli -> experiments
    assert find_cycle(eager) in (["evoforge.nas.a", "evoforge.nas.b", "evoforge.nas.a"],
                                 ["evoforge.cli", "evoforge.experiments.base", "evoforge.cli"])


@pytest.mark.parametrize("source,expected", [
    ("from . import seeds\n", {"evoforge.search.seeds"}),
    ("from ..envs import make_env\n", {"evoforge.envs"}),
])
def test_relative_imports_resolve(source, expected):
    names = {name for name, _ in imports(source, "evoforge.search.run", False, {"evoforge.search.seeds"})}
    assert expected <= names
