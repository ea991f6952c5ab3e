"""NAS-Bench-201's own accuracies for all 15,625 cells (Dong & Yang, ICLR 2020; NATS-Bench tss, Dong et al.,
TPAMI 2021): the ground truth that proxies and searches are judged by.

:class:`NASBench201` looks a cell up by its string, a :class:`~evoforge.nas.space.Cell` or the benchmark's
index, and returns every column the benchmark's search protocol and its evaluation use:

* the 200-epoch test accuracy (%) on CIFAR-10, CIFAR-100 and ImageNet16-120 (``cifar10_test_200`` ...), the
  numbers NASWOT's Table 2 and the zero-cost-proxy correlations report;
* the 12-epoch validation and test accuracies (``cifar10_val_12``, ``cifar10_test_12``, ...), the short schedule
  NAS-Bench-201's search protocol trains with (REA / AREA select on ``cifar10_val_12``).

The tables ship inside the package (``nasbench201_data/``, gzipped CSV, with their README: columns, provenance,
licences), so nothing is downloaded. :meth:`NASBench201.from_nats_bench` reads the official NATS-Bench
files instead, when a user has them on disk (``pip install 'evoforge[nats]'``); that table also has, where the
files hold them, the 12-epoch training and validation times the search protocol charges per cell
(``cifar10_train_seconds_12``, ``cifar10_valid_seconds_12``, likewise ``cifar100_`` / ``imagenet16_``) and the
benchmark's FLOPs / parameter counts (``cifar10_flops_m``, ``cifar10_params_m``, ...); see
:mod:`evoforge.nas.nats_bench_files`.

Indices: the benchmark's index is the row order of its official file (the API's ``meta_archs``: all 15,625 cells
shuffled with ``random.seed(88)``, AutoDL-Projects ``exps/NATS-Bench/tss-collect.py``, ``traverse_net``), which is not
:meth:`Cell.index` (the six operations read as base-5 digits in ``EDGES`` order): the two agree for one cell of
15,625 (benchmark index 6341). Map between them through the string: ``table.index_of(cell)`` is the benchmark's
index of a Cell, ``table.cell(i)`` the Cell at benchmark index ``i``, and ``Cell.from_index(k)`` /
``cell.index()`` evoforge's own numbering.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from evoforge.nas.space import NUM_CELLS, Cell

DATA_PACKAGE = "evoforge.nas.nasbench201_data"
FILE_200 = "nats_bench_tss_200epochs.csv.gz"
FILE_12 = "nb201_12epoch.csv.gz"
DATASETS = ("cifar10", "cifar100", "imagenet16")  # ImageNet16-120
# column name -> (file, column there)
COLUMNS: dict[str, tuple[str, str]] = {
    "cifar10_test_200": (FILE_200, "CIFAR10TestAccuracy200Epochs"),
    "cifar100_test_200": (FILE_200, "CIFAR100TestAccuracy200Epochs"),
    "imagenet16_test_200": (FILE_200, "ImageNetTestAccuracy200Epochs"),
    "cifar10_val_12": (FILE_12, "cifar10-val"),
    "cifar10_test_12": (FILE_12, "cifar10-test"),
    "cifar100_val_12": (FILE_12, "cifar100-val"),
    "cifar100_test_12": (FILE_12, "cifar100-test"),
    "imagenet16_val_12": (FILE_12, "imagenet-val"),
    "imagenet16_test_12": (FILE_12, "imagenet-test"),
}


@dataclass(frozen=True)
class BenchmarkEntry:
    """One cell's row: its benchmark index, string, isomorphism class and every column of its table (``accuracies``:
    the accuracies in %, and in a table read from NATS-Bench files also its times in s and cost counts)."""

    index: int
    arch: str
    isomorphism: str | None
    accuracies: dict[str, float]

    def __getitem__(self, column: str) -> float:
        if column not in self.accuracies:
            raise KeyError(f"no column {column!r}; the columns are {', '.join(self.accuracies)}")
        return self.accuracies[column]


class NASBench201:
    """The benchmark's table: ``table[cell]``, ``table["|nor_conv_3x3~0|+..."]`` or ``table.entry(index=...)``.

    Columns are numpy arrays in benchmark-index order (:meth:`column`); lookups by string or cell go through
    one dict, so a lookup is O(1)."""

    def __init__(self, archs: list[str], columns: dict[str, np.ndarray], isomorphisms: list[str | None]) -> None:
        if len(archs) != len(set(archs)):
            raise ValueError("the benchmark table lists a cell twice")
        for name, values in columns.items():
            if len(values) != len(archs):
                raise ValueError(f"column {name} has {len(values)} values for {len(archs)} cells")
        self.archs = archs
        self.columns = columns
        self.isomorphisms = isomorphisms
        self._index = {arch: i for i, arch in enumerate(archs)}

    def __len__(self) -> int:
        return len(self.archs)

    @classmethod
    def shipped(cls) -> "NASBench201":
        """The tables shipped with evoforge (all 15,625 cells; see ``nasbench201_data/README.md``)."""
        return _shipped()

    @classmethod
    def from_csv(cls, path_200: Path | str, path_12: Path | str | None = None) -> "NASBench201":
        """The tables from CSV files in the shipped format (gzipped or not): the 200-epoch file, and optionally
        the 12-epoch one (joined on the cell string; its ``index`` column gives the benchmark's order)."""
        return cls._from_rows(_read_csv(Path(path_200)), _read_csv(Path(path_12)) if path_12 else None)

    @classmethod
    def from_nats_bench(cls, path: Path | str) -> "NASBench201":
        """The tables from the official NATS-Bench topology files (``NATS-tss-v1_0-3ffb9-simple``) through the
        ``nats_bench`` package (the optional extra ``nats``): 200-epoch test accuracies and the 12-epoch
        validation / test accuracies of every cell, averaged over the benchmark's seeds, plus the times and
        costs the files hold (:func:`evoforge.nas.nats_bench_files.read_nats_bench`). ``path`` is the fast-mode
        directory ``NATS-tss-v1_0-3ffb9-simple`` or the single file ``NATS-tss-v1_0-3ffb9.pickle.pbz2``."""
        from evoforge.nas.nats_bench_files import isomorphism_strings, read_nats_bench

        archs, columns = read_nats_bench(Path(path))
        return cls(archs, columns, isomorphism_strings(archs))

    @classmethod
    def _from_rows(cls, rows_200: list[dict[str, str]], rows_12: list[dict[str, str]] | None) -> "NASBench201":
        if rows_12 is not None:
            order = sorted(rows_12, key=lambda row: int(row["index"]))
            if [int(row["index"]) for row in order] != list(range(len(order))):  # positions are the index
                raise ValueError("the 12-epoch table's index column is not 0, 1, ..., n - 1")
            archs = [row["ArchitectureString"] for row in order]
        else:
            archs = [row["ArchitectureString"] for row in rows_200]
        by_arch_200 = {row["ArchitectureString"]: row for row in rows_200}
        by_arch_12 = {row["ArchitectureString"]: row for row in rows_12 or []}
        if rows_12 is not None:  # the join is on the string: each file must list the other's cells
            missing = [arch for arch in archs if arch not in by_arch_200] + [
                arch for arch in by_arch_200 if arch not in by_arch_12]
            if missing:
                raise ValueError(f"the 200-epoch and 12-epoch tables list different cells, e.g. {missing[0]}")
        columns = {}
        for name, (file, source) in COLUMNS.items():
            rows = by_arch_200 if file == FILE_200 else by_arch_12
            if rows:
                columns[name] = np.array([float(rows[arch][source]) for arch in archs], dtype=np.float64)
        isomorphisms = [by_arch_200.get(arch, {}).get("UniqueString") for arch in archs]
        return cls(archs, columns, isomorphisms)

    # -- lookups -------------------------------------------------------------------------------------------
    def index_of(self, cell: Cell | str) -> int:
        """The benchmark's index of ``cell`` (a Cell or its string); KeyError when the table lacks it."""
        arch = str(cell) if isinstance(cell, Cell) else str(Cell.from_string(cell))
        try:
            return self._index[arch]
        except KeyError:
            raise KeyError(f"{arch} is not in the benchmark table") from None

    def cell(self, index: int) -> Cell:
        """The cell at the benchmark's ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"benchmark index must be in [0, {len(self)}), got {index}")
        return Cell.from_string(self.archs[index])

    def entry(self, cell: Cell | str | None = None, *, index: int | None = None) -> BenchmarkEntry:
        """Every column of one cell, given as a Cell, a string or (``index=``) the benchmark's index."""
        if (cell is None) == (index is None):
            raise ValueError("give a cell or an index")
        position = self.index_of(cell) if cell is not None else int(index)
        if not 0 <= position < len(self):
            raise IndexError(f"benchmark index must be in [0, {len(self)}), got {position}")
        return BenchmarkEntry(position, self.archs[position], self.isomorphisms[position],
                              {name: float(values[position]) for name, values in self.columns.items()})

    def __contains__(self, cell: object) -> bool:
        """Whether the table has ``cell``: a Cell, a cell string (a malformed one is not in it) or an index."""
        if isinstance(cell, (int, np.integer)) and not isinstance(cell, bool):
            return 0 <= int(cell) < len(self)
        if isinstance(cell, Cell):
            return str(cell) in self._index
        if isinstance(cell, str):
            try:
                return str(Cell.from_string(cell)) in self._index
            except ValueError:
                return False
        return False

    def __getitem__(self, cell: Cell | str | int) -> BenchmarkEntry:
        return self.entry(index=cell) if isinstance(cell, (int, np.integer)) else self.entry(cell)

    def accuracy(self, cell: Cell | str, column: str = "cifar10_test_200") -> float:
        """One accuracy (%) of one cell."""
        return float(self.column(column)[self.index_of(cell)])

    def column(self, name: str) -> np.ndarray:
        """A whole column in benchmark-index order."""
        if name not in self.columns:
            raise KeyError(f"no column {name!r}; the columns are {', '.join(self.columns)}")
        return self.columns[name]


def _read_csv(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    text = gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()
    return list(csv.DictReader(io.StringIO(text)))


@lru_cache(maxsize=1)
def _shipped() -> NASBench201:
    files = resources.files(DATA_PACKAGE)
    rows_200 = list(csv.DictReader(io.StringIO(gzip.decompress(files.joinpath(FILE_200).read_bytes()).decode())))
    rows_12 = list(csv.DictReader(io.StringIO(gzip.decompress(files.joinpath(FILE_12).read_bytes()).decode())))
    table = NASBench201._from_rows(rows_200, rows_12)
    if len(table) != NUM_CELLS:
        raise ValueError(f"the shipped table has {len(table)} cells, not {NUM_CELLS}")
    return table
