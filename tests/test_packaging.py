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


def test_a_built_wheel_carries_the_nas_bench_201_tables(tmp_path):
    """The benchmark's tables are package data: a wheel (what a non-editable install gets) holds them."""
    import subprocess
    import sys
    import zipfile

    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                             "-w", str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("evoforge-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("nats_bench_tss_200epochs.csv.gz", "nb201_12epoch.csv.gz", "README.md"):
        assert f"evoforge/nas/nasbench201_data/{name}" in names
