"""evoforge uses evotorch through its public API only: no module reads or writes evotorch's private attributes.

The check is static (``ast``) and deliberately simple. In a module that imports evotorch it reports:

* ``x._name`` (single leading underscore, not a dunder) unless ``x`` is ``self`` / ``cls`` of a class that does
  not derive from evotorch, or a name the module itself defines at top level (a function, class or variable);
  ``super()._name``, ``obj.attr._name`` and the like are always reported;
* ``getattr`` / ``setattr`` / ``delattr`` / ``hasattr`` with a literal ``"_name"``;
* in a class deriving from an evotorch class: any ``self._name`` (it would be evotorch's state), and any
  method with an underscore name other than the documented hook ``_evaluate_batch`` of ``evotorch.Problem``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "evoforge"
LIBRARIES = ("evotorch",)
ALLOWED_HOOKS = {"_evaluate_batch"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _library_names(tree: ast.Module) -> set[str]:
    """Names bound by importing from a library anywhere in the module (None if it imports none)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in LIBRARIES:
                    names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in LIBRARIES:
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _module_defined_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) else []
        for target in targets:
            names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def _root(node: ast.expr) -> ast.expr:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node


def private_library_accesses(source: str, filename: str = "<string>") -> list[str]:
    """``file:line: what`` for every private access the rules above forbid; empty if the module is clean."""
    tree = ast.parse(source, filename)
    library = _library_names(tree)
    if not library:
        return []
    own = _module_defined_names(tree)
    found: list[str] = []

    def report(node: ast.AST, what: str) -> None:
        found.append(f"{filename}:{node.lineno}: {what}")

    def derives_from_library(cls: ast.ClassDef) -> bool:
        return any(isinstance(_root(b), ast.Name) and _root(b).id in library for b in cls.bases)

    def visit(node: ast.AST, library_class: bool) -> None:
        if isinstance(node, ast.ClassDef):
            library_class = derives_from_library(node)
            if library_class:
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and _private(item.name) \
                            and item.name not in ALLOWED_HOOKS:
                        report(item, f"{node.name} overrides {item.name} of a library class")
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            base = node.value
            if not isinstance(base, ast.Name):
                report(node, f"private attribute {node.attr} of an expression")
            elif base.id in ("self", "cls"):
                if library_class:
                    report(node, f"{base.id}.{node.attr} in a subclass of a library class")
            elif base.id not in own:
                report(node, f"private attribute {base.id}.{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("getattr", "setattr", "delattr", "hasattr") and len(node.args) >= 2 \
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str) \
                and _private(node.args[1].value):
            report(node, f"{node.func.id}(..., {node.args[1].value!r})")
        for child in ast.iter_child_nodes(node):
            visit(child, library_class)

    visit(tree, False)
    return found


def test_no_evoforge_module_touches_private_library_attributes():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 10
    found = [hit for path in files for hit in private_library_accesses(path.read_text(), str(path))]
    assert found == []


def test_the_rule_reports_what_it_forbids():
    reached_in = '''
from evotorch.algorithms import PGPE

def centre(algorithm):
    return algorithm._distribution.mu
'''
    assert private_library_accesses(reached_in) == ["<string>:5: private attribute algorithm._distribution"]
    subclass = '''
import torch
from evotorch import Problem
from evotorch.algorithms import PGPE as Base

_CACHE = {}


class Mine(Base):
    def _update_distribution(self, gradients):
        self._distribution = None
        super()._update_distribution(gradients)


class Fine(Problem):
    def __init__(self):
        super().__init__("max", solution_length=3)

    def _evaluate_batch(self, batch):
        batch.set_evals(torch.zeros(len(batch)))


class Own:
    def __init__(self, algorithm):
        self._algorithm = algorithm  # our own attribute: fine
        _CACHE.clear()

    def peek(self):
        return getattr(self._algorithm, "_population")
'''
    assert private_library_accesses(subclass) == [
        "<string>:10: Mine overrides _update_distribution of a library class",
        "<string>:11: self._distribution in a subclass of a library class",
        "<string>:12: private attribute _update_distribution of an expression",
        "<string>:29: getattr(..., '_population')",
    ]
    assert private_library_accesses("import numpy\nx = numpy._private") == []  # not an evotorch module
