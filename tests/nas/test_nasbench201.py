"""NAS-Bench-201's table: the shipped 15,625 cells (strings, indices, known rows), CSV files in the shipped format,
and the official NATS-Bench files read through ``nats_bench`` (files in its on-disk format that the test writes)."""

from __future__ import annotations

import csv
import gzip
import io
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from evoforge.nas import nats_bench_files
from evoforge.nas.nasbench201 import COLUMNS, FILE_12, FILE_200, NASBench201
from evoforge.nas.space import NUM_CELLS, Cell

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "nas-bench-201"
# the first two rows of both shipped files (benchmark indices 0 and 1)
ROW_0 = {"arch": "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
         "cifar10_test_200": 85.86333333333334, "cifar100_test_200": 52.913333294677734,
         "imagenet16_test_200": 26.6333332739936, "cifar10_val_12": 63.364, "cifar10_test_12": 69.55,
         "cifar100_val_12": 31.84, "cifar100_test_12": 31.26, "imagenet16_val_12": 18.4667,
         "imagenet16_test_12": 17.0}
ROW_1 = {"arch": "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
         "cifar10_test_200": 93.66000000000001, "cifar100_test_200": 70.29333326822916,
         "imagenet16_test_200": 44.03333332316081, "cifar10_val_12": 82.834, "cifar10_test_12": 88.22,
         "cifar100_val_12": 57.8, "cifar100_test_12": 58.26, "imagenet16_val_12": 35.4333,
         "imagenet16_test_12": 33.8}


@pytest.fixture(scope="module")
def table() -> NASBench201:
    return NASBench201.shipped()


# -- the shipped table ----------------------------------------------------------------------------------------------
def test_the_shipped_table_has_every_cell_and_every_string_round_trips(table):
    assert len(table) == NUM_CELLS == 15_625
    assert set(table.columns) == set(COLUMNS)
    for index, arch in enumerate(table.archs):
        cell = Cell.from_string(arch)
        assert str(cell) == arch
        assert table.index_of(cell) == index and table.index_of(arch) == index
        assert table.index_of(table.cell(index)) == index
    assert len({Cell.from_string(arch) for arch in table.archs}) == NUM_CELLS


def test_the_benchmark_index_is_not_cell_index_and_maps_through_the_string(table):
    agree = [i for i in range(len(table)) if table.cell(i).index() == i]
    assert agree == [6341]  # the docs say the two numberings coincide for this one cell only
    cell = Cell.from_index(0)  # evoforge's cell 0 (every edge "none") sits elsewhere in the benchmark
    assert table.cell(table.index_of(cell)) == cell and table.index_of(cell) != 0


def test_lookups_by_string_cell_and_index_agree(table):
    for index in (0, 1, 6111, 15_624):
        arch = table.archs[index]
        by_index, by_string, by_cell = table[index], table[arch], table[Cell.from_string(arch)]
        assert by_index == by_string == by_cell == table.entry(index=index) == table.entry(arch)
        assert by_index.index == index and by_index.arch == arch
        for name in COLUMNS:
            assert table.accuracy(arch, name) == by_index[name] == table.column(name)[index]
    assert table[np.int64(1)] == table[1]
    assert ROW_0["arch"] in table and Cell.from_string(ROW_1["arch"]) in table and 15_624 in table
    assert 15_625 not in table and "not a cell" not in table


def test_known_rows_and_summary_values(table):
    for index, row in ((0, ROW_0), (1, ROW_1)):
        entry = table[index]
        assert entry.arch == row["arch"]
        for name in COLUMNS:
            assert entry[name] == pytest.approx(row[name], abs=1e-9), name
    best = table.column("cifar10_test_200")
    assert best.max() == pytest.approx(94.37333, abs=1e-5) and int(best.argmax()) == 6111
    assert best.mean() == pytest.approx(87.06, abs=0.005)
    assert table[0].isomorphism == "(0)@avg_pool_3x3+(0)@avg_pool_3x3+(0)@nor_conv_1x1+(0)@nor_conv_1x1"


@pytest.mark.skipif(not SHARED.is_dir(), reason="the original CSVs are not on this machine")
def test_the_shipped_table_equals_the_original_csvs(table):
    original = NASBench201.from_csv(SHARED / FILE_200.removesuffix(".gz"), SHARED / FILE_12.removesuffix(".gz"))
    assert original.archs == table.archs and original.isomorphisms == table.isomorphisms
    for name in COLUMNS:
        np.testing.assert_array_equal(original.column(name), table.column(name))


def test_a_column_is_a_numpy_array_in_index_order(table):
    column = table.column("cifar100_val_12")
    assert isinstance(column, np.ndarray) and column.dtype == np.float64 and column.shape == (NUM_CELLS,)
    assert column[1] == pytest.approx(ROW_1["cifar100_val_12"])


def test_unknown_column_and_cell_raise_clear_errors(table):
    with pytest.raises(KeyError, match="no column 'cifar10_test_90'; the columns are cifar10_test_200"):
        table.column("cifar10_test_90")
    with pytest.raises(KeyError, match="no column"):
        table[0]["nope"]
    with pytest.raises(KeyError, match="no column"):
        table.accuracy(ROW_0["arch"], "nope")
    with pytest.raises(IndexError, match=r"\[0, 15625\)"):
        table[15_625]
    with pytest.raises(IndexError):
        table.cell(-1)
    with pytest.raises(ValueError, match="not a NAS-Bench-201 cell string"):
        table.index_of("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    small = NASBench201(table.archs[:3], {}, [None] * 3)
    with pytest.raises(KeyError, match="is not in the benchmark table"):
        small.index_of(table.archs[3])
    with pytest.raises(ValueError, match="give a cell or an index"):
        table.entry()


# -- CSV files in the shipped format --------------------------------------------------------------------------------
def _write_csvs(folder: Path, archs: list[str], gzipped: bool, indices: list[int] | None = None) -> tuple[Path, Path]:
    rows_200 = [{"CIFAR10TestAccuracy200Epochs": 90 + k, "CIFAR100TestAccuracy200Epochs": 70 + k,
                 "ImageNetTestAccuracy200Epochs": 40 + k, "ArchitectureString": arch, "UniqueString": f"u{k}"}
                for k, arch in enumerate(archs)]
    rows_12 = [{"index": index, "ArchitectureString": arch, "cifar10-test": 80 + k, "cifar10-val": 75 + k,
                "cifar100-test": 50 + k, "cifar100-val": 49 + k, "imagenet-test": 30 + k, "imagenet-val": 29 + k}
               for k, (index, arch) in enumerate(zip(indices or range(len(archs)), archs))]
    paths = []
    for name, rows in ((FILE_200, rows_200), (FILE_12, rows_12)):
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(reversed(rows) if name == FILE_12 else rows)  # the 12-epoch rows order by their index
        path = folder / (name if gzipped else name.removesuffix(".gz"))
        path.write_bytes(gzip.compress(text.getvalue().encode()) if gzipped else text.getvalue().encode())
        paths.append(path)
    return paths[0], paths[1]


@pytest.mark.parametrize("gzipped", [True, False])
def test_from_csv_reads_small_files_gzipped_or_plain(tmp_path, table, gzipped):
    archs = table.archs[:3]
    path_200, path_12 = _write_csvs(tmp_path, archs, gzipped)
    small = NASBench201.from_csv(path_200, path_12)
    assert len(small) == 3 and small.archs == archs and small.isomorphisms == ["u0", "u1", "u2"]
    assert small[2]["cifar10_test_200"] == 92 and small[archs[1]]["cifar10_val_12"] == 76
    assert small.accuracy(Cell.from_string(archs[0]), "imagenet16_test_12") == 30
    np.testing.assert_array_equal(small.column("cifar100_test_12"), [50, 51, 52])
    only_200 = NASBench201.from_csv(path_200)
    assert set(only_200.columns) == {"cifar10_test_200", "cifar100_test_200", "imagenet16_test_200"}
    assert only_200.archs == archs and only_200.index_of(archs[2]) == 2


def test_from_csv_refuses_files_that_disagree(tmp_path, table):
    path_200, _ = _write_csvs(tmp_path, table.archs[:3], True)
    other = tmp_path / "other"
    other.mkdir()
    _, path_12 = _write_csvs(other, table.archs[1:4], True)
    with pytest.raises(ValueError, match="list different cells"):
        NASBench201.from_csv(path_200, path_12)
    gaps = tmp_path / "gaps"
    gaps.mkdir()
    path_200, path_12 = _write_csvs(gaps, table.archs[:3], False, indices=[0, 1, 5])
    with pytest.raises(ValueError, match="index column"):
        NASBench201.from_csv(path_200, path_12)


# -- the official NATS-Bench files ----------------------------------------------------------------------------------
# The files are written as NATS-Bench's own collection script wrote the official ones (AutoDL-Projects,
# exps/NATS-Bench/tss-collect.py: create_result_count, correct_time_related_info, simplify), with nats_bench's
# classes: per (dataset, seed) a ResultsCount whose evaluations are added per split with update_OLD_eval, the
# cifar10-valid run's ori-test and the cifar100 / ImageNet16-120 runs' x-valid / x-test at the last epoch only;
# then per-epoch pseudo times; per cell one {index:06d}.pickle.pbz2 of {"12": state, "200": state}.
BENCH_DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
SPLITS = ("train", "x-valid", "x-test", "ori-test")
PER_EPOCH_SPLITS = {"cifar10-valid": ("x-valid",), "cifar10": ("ori-test",), "cifar100": ("ori-test",),
                    "ImageNet16-120": ("ori-test",)}
LAST_EPOCH_SPLITS = {"cifar10-valid": ("ori-test",), "cifar10": (), "cifar100": ("x-valid", "x-test"),
                     "ImageNet16-120": ("x-valid", "x-test")}
SEEDS = {777: -0.1, 888: 0.1}  # per-seed offsets that cancel in the mean


def _accuracy(hp: str, dataset: str, split: str, k: int) -> float:
    """A distinct value per (schedule, dataset, split) and cell, so a column read from the wrong place shows."""
    return 20 + 30 * (hp == "200") + 7 * BENCH_DATASETS.index(dataset) + 2 * SPLITS.index(split) + 0.25 * k


def _train_seconds(dataset: str, k: int) -> float:
    return 10.0 + BENCH_DATASETS.index(dataset) + k  # per epoch


def _eval_seconds(dataset: str, split: str, k: int) -> float:
    return 1.5 + 0.1 * k + 0.01 * BENCH_DATASETS.index(dataset) + 0.001 * SPLITS.index(split)  # per epoch


def _per_epoch(hp: str, dataset: str, split: str, k: int, offset: float) -> dict[int, float]:
    """One trial's accuracies per epoch, ending at the cell's value plus the seed's offset."""
    epochs, final = int(hp), _accuracy(hp, dataset, split, k) + offset
    return {e: final - (epochs - 1 - e) * 0.01 for e in range(epochs)}


def _arch_results(nats_bench, k: int, arch: str, hp: str, with_times: bool):
    """One cell's results under one schedule, an ``ArchResults`` built as the official files' were."""
    epochs = int(hp)
    results = nats_bench.ArchResults(k, arch)
    for dataset in BENCH_DATASETS:
        for seed, offset in SEEDS.items():
            losses = {e: 1.0 for e in range(epochs)}
            run = nats_bench.ResultsCount(dataset, None, _per_epoch(hp, dataset, "train", k, offset), losses,
                                          0.5 + 0.1 * k + 0.01 * BENCH_DATASETS.index(dataset),
                                          20.0 + k + BENCH_DATASETS.index(dataset),
                                          {"channel": 16, "num_cells": 5, "arch_str": arch,
                                           "class_num": {"cifar100": 100, "ImageNet16-120": 120}.get(dataset, 10)},
                                          seed, epochs, None)
            for split in PER_EPOCH_SPLITS[dataset]:
                run.update_OLD_eval(split, _per_epoch(hp, dataset, split, k, offset), losses)
            for split in LAST_EPOCH_SPLITS[dataset]:
                last = _per_epoch(hp, dataset, split, k, offset)[epochs - 1]
                run.update_OLD_eval(split, {epochs - 1: last}, {epochs - 1: 1.0})
            run.update_latency([0.01])
            results.update(dataset, seed, run)
        if with_times:  # without them: NAS-Bench-201's older files, accuracies only
            results.reset_pseudo_train_times(dataset, None, _train_seconds(dataset, k))
            for split in (*PER_EPOCH_SPLITS[dataset], *LAST_EPOCH_SPLITS[dataset]):
                results.reset_pseudo_eval_times(dataset, None, split, _eval_seconds(dataset, split, k))
    return results


def _cell_data(nats_bench, k: int, arch: str, hps, with_times: bool) -> OrderedDict:
    return OrderedDict((hp, _arch_results(nats_bench, k, arch, hp, with_times).state_dict()) for hp in hps)


def _write_nats_dir(folder: Path, archs: list[str], hps=("12", "200"), with_times: bool = True) -> Path:
    """The fast-mode layout: ``meta.pickle.pbz2`` and ``{index:06d}.pickle.pbz2`` per cell (bz2 pickles)."""
    nats_bench = pytest.importorskip("nats_bench")
    folder.mkdir(parents=True)
    meta = {"meta_archs": list(archs), "total_archs": len(archs), "arch2infos": None, "evaluated_indexes": set()}
    nats_bench.pickle_save(meta, str(folder / "meta.pickle"))  # pickle_save appends ".pbz2"
    for k, arch in enumerate(archs):
        nats_bench.pickle_save(_cell_data(nats_bench, k, arch, hps, with_times), str(folder / f"{k:06d}.pickle"))
    return folder


def _expected(k: int) -> dict[str, float]:
    sources = {**nats_bench_files.ACCURACY_SOURCES}
    values = {}
    for name, (hp, dataset, key) in sources.items():
        split = {"valid-accuracy": "x-valid"}.get(key, "ori-test" if dataset == "cifar10" else "x-test")
        values[name] = _accuracy(hp, dataset, split, k)
    for prefix, dataset in nats_bench_files.DATASET_NAMES.items():
        values[f"{prefix}_train_seconds_12"] = 12 * _train_seconds(dataset, k)
        values[f"{prefix}_valid_seconds_12"] = _eval_seconds(dataset, "x-valid", k)
        values[f"{prefix}_flops_m"] = 20.0 + k + BENCH_DATASETS.index(dataset)
        values[f"{prefix}_params_m"] = 0.5 + 0.1 * k + 0.01 * BENCH_DATASETS.index(dataset)
    return values


def test_the_loader_fills_every_column_of_the_shipped_table():
    assert set(nats_bench_files.ACCURACY_SOURCES) == set(COLUMNS)


def test_nats_bench_reads_the_written_files_as_the_official_ones(tmp_path, table):
    nats_bench = pytest.importorskip("nats_bench")
    archs = table.archs[:3]
    folder = _write_nats_dir(tmp_path / "NATS-tss-v1_0-3ffb9-simple", archs)
    api = nats_bench.create(str(folder), "tss", fast_mode=True, verbose=False)
    assert api.meta_archs == archs and len(api) == 3
    info = api.get_more_info(2, "cifar10-valid", hp="12", is_random=False)
    assert info["valid-accuracy"] == pytest.approx(_accuracy("12", "cifar10-valid", "x-valid", 2))
    accuracy, _, seconds, _ = api.simulate_train_eval(1, "cifar10", hp="12")  # one random seed's numbers
    assert accuracy == pytest.approx(_accuracy("12", "cifar10-valid", "x-valid", 1), abs=0.11)
    assert seconds == pytest.approx(12 * _train_seconds("cifar10-valid", 1) + _eval_seconds("cifar10-valid", "x-valid", 1))


def test_read_nats_bench_fast_mode_directory(tmp_path, table):
    archs = table.archs[:3]
    folder = _write_nats_dir(tmp_path / "NATS-tss-v1_0-3ffb9-simple", archs)
    read_archs, columns = nats_bench_files.read_nats_bench(folder)
    assert read_archs == archs
    assert set(columns) == set(nats_bench_files.ACCURACY_SOURCES) | set(nats_bench_files.EXTRA_SOURCES)
    for k in range(3):
        for name, value in _expected(k).items():
            assert columns[name][k] == pytest.approx(value, abs=1e-9), name
    loaded = NASBench201.from_nats_bench(folder)
    assert loaded.archs == archs and loaded.isomorphisms == table.isomorphisms[:3]
    assert loaded[archs[1]]["cifar10_train_seconds_12"] == pytest.approx(12 * 11.0)
    assert loaded.accuracy(Cell.from_string(archs[2]), "cifar100_test_12") == pytest.approx(
        _accuracy("12", "cifar100", "x-test", 2))
    assert loaded[0]["cifar10_test_200"] == pytest.approx(_accuracy("200", "cifar10", "ori-test", 0))


def test_read_nats_bench_single_file(tmp_path, table):
    nats_bench = pytest.importorskip("nats_bench")
    archs = table.archs[:3]
    infos = {k: _cell_data(nats_bench, k, arch, ("12", "200"), True) for k, arch in enumerate(archs)}
    nats_bench.pickle_save({"meta_archs": archs, "total_archs": 3, "arch2infos": infos, "evaluated_indexes": {0, 1, 2}},
                           str(tmp_path / "NATS-tss-v1_0-3ffb9.pickle"))
    read_archs, columns = nats_bench_files.read_nats_bench(tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2")
    assert read_archs == archs
    for name, value in _expected(1).items():
        assert columns[name][1] == pytest.approx(value, abs=1e-9), name


def test_files_without_times_give_the_accuracy_columns_only(tmp_path, table):
    folder = _write_nats_dir(tmp_path / "old", table.archs[:3], with_times=False)
    _, columns = nats_bench_files.read_nats_bench(folder)
    time_columns = {name for name in nats_bench_files.EXTRA_SOURCES if "_seconds_" in name}
    assert not time_columns & set(columns) and set(COLUMNS) <= set(columns)
    assert columns["imagenet16_val_12"][2] == pytest.approx(_accuracy("12", "ImageNet16-120", "x-valid", 2))


def test_missing_files_and_schedules_give_clear_errors(tmp_path, table):
    with pytest.raises(FileNotFoundError, match="no NATS-Bench files at"):
        nats_bench_files.read_nats_bench(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no meta.pickle.pbz2"):
        NASBench201.from_nats_bench(tmp_path / "empty")
    only_12 = _write_nats_dir(tmp_path / "only12", table.archs[:2], hps=("12",))
    with pytest.raises(ValueError, match="lack test-accuracy on cifar10 after 200 epochs for cell 0"):
        nats_bench_files.read_nats_bench(only_12)
    gap = _write_nats_dir(tmp_path / "gap", table.archs[:3])
    (gap / "000001.pickle.pbz2").unlink()
    with pytest.raises(FileNotFoundError, match="lacks 000001.pickle.pbz2"):
        nats_bench_files.read_nats_bench(gap)


def test_a_missing_package_names_what_to_install(tmp_path, monkeypatch):
    (tmp_path / "meta.pickle.pbz2").write_bytes(b"")  # the check for the package comes before any reading
    monkeypatch.setitem(sys.modules, "nats_bench", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install 'evoforge\[nats\]'"):
        NASBench201.from_nats_bench(tmp_path)
