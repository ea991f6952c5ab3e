"""Build the API reference of evoforge from its docstrings with pdoc (HTML, one page per module).

    python scripts/build_api_docs.py                 # -> docs/api/index.html (generated, not committed)
    python scripts/build_api_docs.py --out /tmp/api

Every module of the package is listed explicitly (pkgutil walk), so a subpackage that re-exports only a few
names still gets a page for each of its modules.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "docs" / "api"


def evoforge_modules() -> list[str]:
    """Every importable module of the evoforge package, sorted, private ones (``_name``) left out."""
    import evoforge

    names = ["evoforge"] + [info.name for info in pkgutil.walk_packages(evoforge.__path__, "evoforge.")]
    return sorted(name for name in names if not any(part.startswith("_") for part in name.split(".")))


def build(out: Path = DEFAULT_OUT) -> list[str]:
    """Render every evoforge module into ``out`` (``out/evoforge/search/run.html`` etc.); returns the modules."""
    import pdoc
    import pdoc.render

    modules = evoforge_modules()
    for name in modules:
        importlib.import_module(name)  # an import error should stop the build, not become a missing page
    pdoc.render.configure(docformat="google", show_source=True, footer_text="evoforge API reference")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # third-party deprecation noise while pdoc imports the modules
        pdoc.pdoc(*modules, output_directory=Path(out))
    return modules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: docs/api)")
    args = parser.parse_args()
    modules = build(args.out)
    print(f"{len(modules)} modules -> {args.out / 'index.html'}")


if __name__ == "__main__":
    main()
