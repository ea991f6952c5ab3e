"""The package installs whole: every source folder is a regular package (namespace folders are left out of
wheels by setuptools' package discovery), and the layout of the design is there."""

from .conftest import REPO


def test_every_source_folder_is_a_package():
    for folder in (REPO / "evoforge").rglob("*"):
        if folder.is_dir() and folder.name != "__pycache__" and any(folder.glob("*.py")):
            assert (folder / "__init__.py").is_file(), f"{folder.relative_to(REPO)} has no __init__.py"


def test_design_layout_exists():
    for package in ("search", "envs", "policies", "plasticity", "nas", "experiments"):
        assert (REPO / "evoforge" / package / "__init__.py").is_file()
    for folder in ("tests", "scripts", "configs", "docs"):
        assert (REPO / folder).is_dir()
