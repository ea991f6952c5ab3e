"""The API reference: scripts/build_api_docs.py renders a page for every evoforge module, and every public
module, class, function, method and property defined in evoforge has a docstring to show there."""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import runpy

import evoforge

from .conftest import REPO


def _public_modules() -> list[str]:
    names = ["evoforge"] + [info.name for info in pkgutil.walk_packages(evoforge.__path__, "evoforge.")]
    return sorted(n for n in names if not any(part.startswith("_") for part in n.split(".")))


def _member_doc(cls: type, name: str, member: object) -> str | None:
    if isinstance(member, (property, functools.cached_property)):
        for base in cls.__mro__:  # an overriding property without a docstring shows its parent's
            parent = vars(base).get(name)
            if isinstance(parent, (property, functools.cached_property)) and (parent.__doc__ or "").strip():
                return parent.__doc__
        return None
    return inspect.getdoc(getattr(cls, name))  # methods inherit their parent's docstring, as pdoc shows them


def undocumented() -> list[str]:
    """Public modules, classes, functions, methods and properties of evoforge without a docstring."""
    missing = []
    for name in _public_modules():
        module = importlib.import_module(name)
        if not (module.__doc__ or "").strip():
            missing.append(name)
        for attr, obj in vars(module).items():
            if attr.startswith("_") or getattr(obj, "__module__", None) != name:
                continue  # private, or imported from elsewhere (documented where it is defined)
            if inspect.isfunction(obj) and not (obj.__doc__ or "").strip():
                missing.append(f"{name}.{attr}")
            if not inspect.isclass(obj):
                continue
            if not (obj.__doc__ or "").strip():
                missing.append(f"{name}.{attr}")
            for member_name, member in vars(obj).items():
                if member_name.startswith("_"):
                    continue
                routine = inspect.isfunction(getattr(member, "__func__", member))
                if (routine or isinstance(member, (property, functools.cached_property))) and not (
                        _member_doc(obj, member_name, member) or "").strip():
                    missing.append(f"{name}.{attr}.{member_name}")
    return missing


def test_every_public_module_class_and_function_has_a_docstring():
    missing = undocumented()
    assert not missing, f"{len(missing)} without a docstring:\n" + "\n".join(missing)


def test_the_api_reference_has_a_page_for_every_module(tmp_path):
    build = runpy.run_path(str(REPO / "scripts" / "build_api_docs.py"))["build"]
    built = build(tmp_path)
    modules = _public_modules()
    assert built == modules and len(modules) > 50
    assert (tmp_path / "index.html").is_file()
    for name in modules:
        page = tmp_path / (name.replace(".", "/") + ".html")
        assert page.is_file(), f"no page for {name}"
        text = page.read_text()
        assert name in text
        first_line = importlib.import_module(name).__doc__.strip().splitlines()[0]
        assert first_line.split()[0].strip("`*:") in text  # the docstring made it onto the page
