"""Read the official NATS-Bench topology-search-space files (= NAS-Bench-201's cells; Dong, Liu, Musial & Gabrys,
TPAMI 2021) into the columns of :class:`~evoforge.nas.nasbench201.NASBench201`, through the ``nats_bench``
package (``pip install 'evoforge[nats]'``; MIT licence).

Two layouts are read, the two ``nats_bench.create(path, "tss", fast_mode=...)`` accepts (nats_bench 1.8,
``api_topology.py`` / ``api_utils.py``):

* the fast-mode directory ``NATS-tss-v1_0-3ffb9-simple/``: ``meta.pickle.pbz2`` (a bz2-compressed pickle of
  ``{"meta_archs": [cell string, ...]}``, whose order is the benchmark's index) and one ``{index:06d}.pickle.pbz2``
  per cell, a dict from the schedule (``"12"``, ``"200"`` epochs) to an ``ArchResults`` state dict: per
  ``(dataset, seed)`` trial, the accuracies, losses and times of its train and evaluation splits per epoch
  (CIFAR-100's and ImageNet16-120's x-valid / x-test, and cifar10-valid's ori-test, at the last epoch only);
* the single file ``NATS-tss-v1_0-3ffb9.pickle.pbz2``: ``{"meta_archs", "arch2infos", "evaluated_indexes"}``
  holding the same per-cell dicts.

Every value is the benchmark's mean over its training seeds (``get_more_info(..., is_random=False)``) after the
schedule's last epoch. Columns (:data:`ACCURACY_SOURCES`, :data:`EXTRA_SOURCES`):

* the nine accuracy columns of :data:`evoforge.nas.nasbench201.COLUMNS` (%), required for every cell;
* where the files have them, the 12-epoch times NAS-Bench-201's search protocol charges: ``{d}_train_seconds_12``
  (``train-all-time``: 12 epochs of training) and ``{d}_valid_seconds_12`` (``valid-per-time``: one pass over the
  validation split), for ``d`` in cifar10 (trained on ``cifar10-valid``), cifar100, imagenet16.
  ``api.simulate_train_eval(cell, dataset, hp="12")`` charges their sum per cell trained (nats_bench 1.8,
  ``NASBenchMetaAPI.simulate_train_eval``), the clock REA's 12,000 s budget is counted on. The files' times are
  the benchmark's estimates, the same for every seed: the per-epoch training time of the cell's 12-epoch
  cifar10-valid run (seed 777) scaled by each training set's size, and a per-image evaluation time times each
  split's size (AutoDL-Projects, ``exps/NATS-Bench/tss-collect.py``, ``correct_time_related_info``);
* the benchmark's own cost counts ``{d}_flops_m`` (MFLOPs) and ``{d}_params_m`` (millions of parameters)
  (``get_cost_info``).

A column that the files lack for every cell is left out; one they lack for some cells is NaN there.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

META_FILE = "meta.pickle.pbz2"
INSTALL_HINT = "pip install 'evoforge[nats]' (or: pip install nats_bench)"
# the benchmark's dataset names, per evoforge dataset prefix; CIFAR-10's validation runs train on cifar10-valid
DATASET_NAMES = {"cifar10": "cifar10-valid", "cifar100": "cifar100", "imagenet16": "ImageNet16-120"}

# column -> (schedule hp, benchmark dataset, get_more_info key); see nasbench201_data/README.md for the splits:
# cifar10's 12-epoch "test" is the run trained on train+valid ("cifar10", ori-test), its "val" the cifar10-valid
# run's x-valid; CIFAR-100 / ImageNet16-120 hold out x-valid and x-test halves of their test set.
ACCURACY_SOURCES: dict[str, tuple[str, str, str]] = {
    "cifar10_test_200": ("200", "cifar10", "test-accuracy"),
    "cifar100_test_200": ("200", "cifar100", "test-accuracy"),
    "imagenet16_test_200": ("200", "ImageNet16-120", "test-accuracy"),
    "cifar10_val_12": ("12", "cifar10-valid", "valid-accuracy"),
    "cifar10_test_12": ("12", "cifar10", "test-accuracy"),
    "cifar100_val_12": ("12", "cifar100", "valid-accuracy"),
    "cifar100_test_12": ("12", "cifar100", "test-accuracy"),
    "imagenet16_val_12": ("12", "ImageNet16-120", "valid-accuracy"),
    "imagenet16_test_12": ("12", "ImageNet16-120", "test-accuracy"),
}
# optional columns: times from get_more_info (hp "12"), costs from get_cost_info (hp "12"; costs do not depend on it)
EXTRA_SOURCES: dict[str, tuple[str, str, str]] = {
    **{f"{prefix}_train_seconds_12": ("12", name, "train-all-time") for prefix, name in DATASET_NAMES.items()},
    **{f"{prefix}_valid_seconds_12": ("12", name, "valid-per-time") for prefix, name in DATASET_NAMES.items()},
    **{f"{prefix}_flops_m": ("12", name, "flops") for prefix, name in DATASET_NAMES.items()},
    **{f"{prefix}_params_m": ("12", name, "params") for prefix, name in DATASET_NAMES.items()},
}
COST_KEYS = ("flops", "params")


def read_nats_bench(path: Path | str) -> tuple[list[str], dict[str, np.ndarray]]:
    """The cell strings in the benchmark's index order and every column (numpy arrays in that order) of the
    NATS-Bench topology files at ``path``: the fast-mode directory (``NATS-tss-v1_0-3ffb9-simple``) or the
    single ``.pickle.pbz2`` file. Reading the 15,625 per-cell files of the directory takes minutes (each is
    decompressed once).

    Raises FileNotFoundError when ``path`` (or the directory's ``meta.pickle.pbz2``) is missing, ImportError when
    ``nats_bench`` is not installed, ValueError when a cell lacks one of the nine accuracy columns."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no NATS-Bench files at {path}: give the directory NATS-tss-v1_0-3ffb9-simple "
                                f"or the file NATS-tss-v1_0-3ffb9.pickle.pbz2")
    if path.is_dir() and not (path / META_FILE).is_file():
        raise FileNotFoundError(f"{path} has no {META_FILE}: not a NATS-Bench fast-mode directory "
                                f"(NATS-tss-v1_0-3ffb9-simple)")
    if path.suffix == ".pth":  # NAS-Bench-201's own torch files are read by nas_201_api, not nats_bench
        raise ValueError(f"{path.name} is a NAS-Bench-201 .pth file; read the NATS-Bench topology files "
                         f"(NATS-tss-v1_0-3ffb9-simple) instead, which hold the same cells")
    api = _create_api(path)
    archs = [str(arch) for arch in api.meta_archs]
    values: dict[str, list[float]] = {name: [] for name in (*ACCURACY_SOURCES, *EXTRA_SOURCES)}
    for index in range(len(archs)):
        if path.is_dir() and not any((path / f"{name}.pickle.pbz2").is_file() for name in (f"{index:06d}", index)):
            raise FileNotFoundError(f"{path} lacks {index:06d}.pickle.pbz2, the file of cell {index} ({archs[index]})")
        infos: dict[tuple[str, str], dict[str, Any]] = {}
        for name, (hp, dataset, key) in {**ACCURACY_SOURCES, **EXTRA_SOURCES}.items():
            values[name].append(_value(api, index, hp, dataset, key, infos))
        _forget(api, index)
    columns: dict[str, np.ndarray] = {}
    for name, column in values.items():
        array = np.array(column, dtype=np.float64)
        if name in ACCURACY_SOURCES and np.isnan(array).any():
            missing = int(np.flatnonzero(np.isnan(array))[0])
            hp, dataset, key = ACCURACY_SOURCES[name]
            raise ValueError(f"the NATS-Bench files at {path} lack {key} on {dataset} after {hp} epochs for cell "
                             f"{missing} ({archs[missing]}), needed for column {name}")
        if not np.isnan(array).all():
            columns[name] = array
    return archs, columns


def isomorphism_strings(archs: list[str]) -> list[str]:
    """Each cell's isomorphism-class string as NATS-Bench computes it (``get_unique_str``:
    ``topology_str2structure(arch).to_unique_str(consider_zero=True)``); equal to the shipped table's
    ``UniqueString`` for all 15,625 cells. Needs ``nats_bench``."""
    genotype_utils = _import_nats_bench("genotype_utils")
    return [genotype_utils.topology_str2structure(arch).to_unique_str(consider_zero=True) for arch in archs]


def _import_nats_bench(module: str | None = None) -> Any:
    import importlib

    try:
        return importlib.import_module("nats_bench" + (f".{module}" if module else ""))
    except ImportError:
        raise ImportError(f"reading the NATS-Bench files needs the nats_bench package: {INSTALL_HINT}") from None


def _create_api(path: Path) -> Any:
    nats_bench = _import_nats_bench()
    # fast mode reads one cell's file on demand; the single file is loaded whole
    return nats_bench.create(os.fspath(path), "tss", fast_mode=path.is_dir(), verbose=False)


def _value(api: Any, index: int, hp: str, dataset: str, key: str,
           infos: dict[tuple[str, str], dict[str, Any]]) -> float:
    """One number for one cell, NaN when the files lack it (a missing schedule, dataset, split or time)."""
    cache_key = (hp, dataset if key not in COST_KEYS else f"cost:{dataset}")
    if cache_key not in infos:
        try:
            if key in COST_KEYS:
                infos[cache_key] = api.get_cost_info(index, dataset, hp=hp)
            else:
                infos[cache_key] = api.get_more_info(index, dataset, hp=hp, is_random=False)
        except (KeyError, ValueError, TypeError, ZeroDivisionError):
            infos[cache_key] = {}  # nats_bench raises these for a schedule or dataset the files do not hold
    value = infos[cache_key].get(key)
    return float(value) if value is not None and not math.isnan(float(value)) else math.nan


def _forget(api: Any, index: int) -> None:
    """Drop a cell's results once read, so that reading all 15,625 keeps one cell in memory (fast mode); the
    API reloads a dropped cell from its file if asked again."""
    if api.fast_mode:
        api.arch2infos_dict.pop(index, None)
        api.evaluated_indexes.discard(index)
