"""The NAS-Bench-201 cell space: strings, indices, mutation; the network builder against the benchmark's costs."""

import numpy as np
import pytest
import torch

from evoforge.nas.network import build_network
from evoforge.nas.proxies import flops, param_count
from evoforge.nas.space import NUM_CELLS, OPS, Cell

BEST_KNOWN = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_the_space_has_15625_cells_that_round_trip_through_strings_and_indices():
    assert NUM_CELLS == 15_625 and len(OPS) == 5
    strings = set()
    for index in range(NUM_CELLS):
        cell = Cell.from_index(index)
        assert cell.index() == index
        assert Cell.from_string(str(cell)) == cell
        strings.add(str(cell))
    assert len(strings) == NUM_CELLS


def test_the_string_is_the_benchmarks_format():
    cell = Cell.from_string(BEST_KNOWN)
    assert cell.ops == ("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_3x3",
                        "nor_conv_3x3")  # edges 0->1, 0->2, 1->2, 0->3, 1->3, 2->3
    assert str(cell) == BEST_KNOWN and Cell.from_dict(cell.to_dict()) == cell


@pytest.mark.parametrize("text", ["", "|nor_conv_3x3~0|", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                                  "|none~0|+|none~0|+|none~0|none~1|none~2|"])
def test_bad_strings_fail_with_one_clear_error(text):
    with pytest.raises(ValueError, match="not a NAS-Bench-201 cell string"):
        Cell.from_string(text)


def test_mutation_changes_exactly_one_edge_to_another_operation():
    rng = np.random.default_rng(0)
    cell = Cell.random(rng)
    changed_edges = set()
    for _ in range(300):
        child = cell.mutate(rng)
        diff = [i for i, (a, b) in enumerate(zip(cell.ops, child.ops)) if a != b]
        assert len(diff) == 1
        changed_edges.add(diff[0])
        cell = child
    assert changed_edges == set(range(6))


def test_costs_match_nas_bench_201_on_cifar10():
    """NAS-Bench-201 reports 1.531546 M parameters and 220.11968 MFLOPs for the all-3x3-conv cell and 0.073306 M /
    7.78305 MFLOPs for the all-none cell (C = 16, N = 5, 32x32x3 inputs, 10 classes)."""
    full, empty = Cell(("nor_conv_3x3",) * 6), Cell(("none",) * 6)
    assert param_count(full, (3, 32, 32), 16, 5, 10) == 1_531_546
    assert flops(full, (3, 32, 32), 16, 5, 10) == 220_119_680
    assert param_count(empty, (3, 32, 32), 16, 5, 10) == 73_306
    assert abs(flops(empty, (3, 32, 32), 16, 5, 10) - 7_783_050) < 20


@pytest.mark.parametrize("shape,classes", [((3, 32, 32), 10), ((1, 16, 16), 1), ((3, 20, 12), 7)])
def test_the_builder_takes_any_input_shape_and_class_count(shape, classes):
    network = build_network(Cell.from_string(BEST_KNOWN), shape, classes, channels=4, cells_per_stage=1)
    assert network(torch.randn(2, *shape)).shape == (2, classes)
    for bad in ((3, 2, 2), (3, 17, 24)):
        with pytest.raises(ValueError, match="multiples of 4"):
            build_network(Cell.from_string(BEST_KNOWN), bad, 10)
