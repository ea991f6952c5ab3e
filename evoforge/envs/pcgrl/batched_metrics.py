"""The map metrics of :mod:`evoforge.envs.pcgrl.metrics` for a whole batch of maps at once.

Same semantics, tested equal on random maps: the batch of M maps is one graph of M*H*W tiles (4-connected
passable neighbours, no edge between maps) and every breadth-first search is one multi-source unit-cost shortest
path call of scipy's csgraph over it -- each map's (or each component's) source reaches only its own tiles, so
one call serves the whole batch. Components are labelled by scipy.ndimage with a structuring element that does
not connect neighbouring maps. This is what makes :class:`~evoforge.envs.pcgrl.vector.PCGRLVectorEnv` fast.

:func:`hamming_diversity` measures a set of levels as a whole: how different a generator's levels are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse import csgraph

# 4-neighbourhood inside each map, nothing across the batch axis.
_IN_MAP_CROSS = np.zeros((3, 3, 3), dtype=bool)
_IN_MAP_CROSS[1, 1, :] = _IN_MAP_CROSS[1, :, 1] = True


def passable_mask(levels: np.ndarray, passable: Sequence[int]) -> np.ndarray:
    """Boolean mask of the tiles of ``levels`` (any shape) that are one of the ``passable`` tile indices."""
    mask = levels == passable[0]
    for tile in passable[1:]:
        mask |= levels == tile
    return mask


def grid_graph(mask: np.ndarray) -> sparse.csr_matrix:
    """Directed CSR graph over the flat tiles of ``mask`` (M, H, W): an edge both ways between 4-neighbours that
    are both passable. Built directly in CSR form (row-major tiles, neighbours left/right/up/down)."""
    m, h, w = mask.shape
    n = m * h * w
    horizontal = mask[:, :, 1:] & mask[:, :, :-1]
    vertical = mask[:, 1:, :] & mask[:, :-1, :]
    edges = np.zeros((m, h, w, 4), dtype=bool)
    edges[:, :, 1:, 0] = horizontal  # left neighbour
    edges[:, :, :-1, 1] = horizontal  # right
    edges[:, 1:, :, 2] = vertical  # up
    edges[:, :-1, :, 3] = vertical  # down
    # neighbours per tile: the 4 flags of a tile are 4 bytes of one uint32; multiplying by 0x01010101 sums them
    # into the top byte
    flags = edges.reshape(n, 4).view(np.uint32).ravel()
    counts = ((flags * np.uint32(0x01010101)) >> np.uint32(24)).astype(np.int32)
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=indptr[1:])
    slots = np.flatnonzero(edges).astype(np.int32)
    indices = (slots >> 2) + np.array([-1, 1, -w, w], dtype=np.int32)[slots & 3]
    return sparse.csr_matrix((np.ones(len(indices)), indices, indptr), shape=(n, n))


def distances_from(graph: sparse.csr_matrix, sources: np.ndarray) -> np.ndarray:
    """Unit-cost BFS distances from the nearest of ``sources`` (flat tile indices) to every tile; -1 where
    unreachable. With one source per connected part this is every part's own BFS.

    One breadth-first search from an extra root joined to all sources. scipy returns the visiting order and
    predecessors; in BFS order the predecessors' positions never decrease, so each depth level is one
    contiguous slice found by a binary search -- no per-tile Python work.
    """
    n = graph.shape[0]
    distances = np.full(n, -1, dtype=np.int64)
    if len(sources) == 0:
        return distances
    rooted = sparse.csr_matrix(
        (np.ones(graph.nnz + len(sources)), np.concatenate([graph.indices, np.asarray(sources, dtype=np.int32)]),
         np.append(graph.indptr, graph.indptr[-1] + len(sources)).astype(np.int32)), shape=(n + 1, n + 1))
    order, predecessors = csgraph.breadth_first_order(rooted, n, directed=True, return_predecessors=True)
    position = np.empty(n + 1, dtype=np.int64)
    position[order] = np.arange(len(order))
    parent_position = position[predecessors[order[1:]]]  # nondecreasing
    starts = [1]  # order[0] is the root; depth-1 tiles (the sources) start at 1
    while starts[-1] < len(order):
        starts.append(int(np.searchsorted(parent_position, starts[-1], side="left")) + 1)
    depth = np.repeat(np.arange(len(starts) - 1), np.diff(starts))  # distance from the sources
    distances[order[1:]] = depth
    return distances


def label_components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat component labels (0 = not passable, 1..K in raster order over the batch) and the flat index of each
    component's first tile in raster order (K,)."""
    labels, _ = ndimage.label(mask, structure=_IN_MAP_CROSS)
    flat = labels.ravel()
    tiles = np.flatnonzero(flat)
    seen = flat[tiles]
    # labels are numbered in raster order, so a label's first tile is where it exceeds every label before it
    first = tiles[seen > np.maximum.accumulate(np.concatenate([[0], seen[:-1]]))] if len(tiles) else tiles
    return flat, first


def num_regions(levels: np.ndarray, passable: Sequence[int]) -> np.ndarray:
    """Components of passable tiles per map (M,)."""
    mask = passable_mask(levels, passable)
    _, first = label_components(mask)
    return np.bincount(first // mask[0].size, minlength=len(levels)).astype(np.int64)


def regions_and_longest_path(levels: np.ndarray, passable: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per map: the number of regions and the reference's approximate longest path (see
    :func:`evoforge.envs.pcgrl.metrics.longest_path`) for a *single* passable tile value, where the reference's
    visiting order is plain raster order: BFS from each component's first tile, then from its farthest tile
    (first in raster order among ties), and the largest distance over the map's components."""
    if len(passable) != 1:  # several values change the reference's per-component start tile
        raise ValueError("regions_and_longest_path supports one passable tile value")
    m = len(levels)
    mask = passable_mask(levels, passable)
    tiles_per_map = mask[0].size
    labels, first = label_components(mask)
    regions = np.bincount(first // tiles_per_map, minlength=m).astype(np.int64)
    graph = grid_graph(mask)
    from_first = distances_from(graph, first)
    # farthest tile of every component, the first in raster order among ties
    tiles = np.flatnonzero(labels)
    tile_labels = labels[tiles]
    farthest_distance = np.zeros(len(first) + 1, dtype=np.int64)
    np.maximum.at(farthest_distance, tile_labels, from_first[tiles])
    candidates = tiles[from_first[tiles] == farthest_distance[tile_labels]]
    farthest = np.full(len(first) + 1, labels.size, dtype=np.int64)
    np.minimum.at(farthest, labels[candidates], candidates)
    farthest = farthest[1:]
    from_farthest = distances_from(graph, farthest)
    longest = np.maximum(from_farthest.reshape(m, tiles_per_map).max(axis=1), 0)
    return regions, longest


def range_reward(new: np.ndarray, old: np.ndarray, low: float, high: float) -> np.ndarray:
    """:func:`evoforge.envs.pcgrl.metrics.range_reward` elementwise over arrays of statistics.

    With d(v) the distance from v to [low, high], the reference's cases reduce to d(old) - d(new), except a jump
    over the whole range, which scores -(d(old) + d(new)); an infinite target rewards plain increase / decrease.
    """
    new = np.asarray(new, dtype=np.float64)
    old = np.asarray(old, dtype=np.float64)
    if low == high == math.inf:
        return new - old
    if low == high == -math.inf:
        return old - new
    d_new = np.maximum(low - new, 0) + np.maximum(new - high, 0)
    d_old = np.maximum(low - old, 0) + np.maximum(old - high, 0)
    jumped = ((old < low) & (new > high)) | ((old > high) & (new < low))
    return np.where(jumped, -(d_old + d_new), d_old - d_new)


def hamming_diversity(levels: np.ndarray) -> float:
    """Mean pairwise Hamming distance between levels (K, H, W), divided by the number of tiles (the paper's).

    For K levels x_1..x_K of T tiles: (2 / (K (K - 1))) sum_{i<j} |{t : x_i[t] != x_j[t]}| / T; 0 for K < 2.
    """
    count = len(levels)
    if count < 2:
        return 0.0
    flat = np.asarray(levels).reshape(count, -1)
    distances = (flat[:, None, :] != flat[None, :, :]).sum(axis=2)
    return float(distances[np.triu_indices(count, 1)].mean() / flat.shape[1])


def distinct_count(levels: np.ndarray) -> int:
    """Number of different levels among ``levels`` (K, H, W): identical arrays count once."""
    return len({np.asarray(level).tobytes() for level in levels})


def spread_count(levels: np.ndarray, min_distance: float) -> int:
    """Size of a set of ``levels`` (K, H, W) whose members differ pairwise in at least ``min_distance`` of their
    tiles (Hamming distance / tiles), chosen greedily in order: each level joins if it is that far from every
    member so far. A lower bound on the largest such set; "how many designs" rather than how many arrays."""
    levels = np.asarray(levels)
    if len(levels) == 0:
        return 0
    kept: list[np.ndarray] = []
    for level in levels.reshape(len(levels), -1):
        if all((level != other).mean() >= min_distance for other in kept):
            kept.append(level)
    return len(kept)
