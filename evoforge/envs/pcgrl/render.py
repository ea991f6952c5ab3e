"""RGB pictures of PCGRL levels: one flat colour per tile (distinct within a problem), grid lines, an optional
outline around the editing agent, and grids of many levels for inspection."""

from __future__ import annotations

import numpy as np

PALETTES: dict[str, dict[str, tuple[int, int, int]]] = {
    "binary": {"empty": (236, 236, 228), "solid": (52, 56, 66)},
    "zelda": {"empty": (236, 226, 190), "solid": (70, 96, 60), "player": (40, 110, 230), "key": (250, 200, 20),
              "door": (150, 80, 30), "bat": (150, 60, 190), "scorpion": (230, 90, 40), "spider": (200, 20, 60)},
    "sokoban": {"empty": (232, 232, 232), "solid": (110, 70, 50), "player": (40, 110, 230),
                "crate": (230, 160, 40), "target": (60, 190, 90)},
}
AGENT_OUTLINE = (255, 0, 0)


def palette(problem_name: str, tiles: tuple[str, ...]) -> np.ndarray:
    """One RGB colour per tile of ``tiles``, (N, 3) uint8; tiles this problem has no colour for get fixed ones."""
    colours = PALETTES.get(problem_name, {})
    fallback = np.random.default_rng(0).integers(40, 230, size=(len(tiles), 3))  # unknown problems: fixed colours
    return np.array([colours.get(tile, tuple(fallback[i])) for i, tile in enumerate(tiles)], dtype=np.uint8)


def render_level(level: np.ndarray, colours: np.ndarray, tile_px: int = 16,
                 agent: tuple[int, int] | None = None) -> np.ndarray:
    """(H, W) tile indices -> (H*tile_px, W*tile_px, 3) uint8 image."""
    image = np.repeat(np.repeat(colours[level], tile_px, axis=0), tile_px, axis=1)
    image[::tile_px, :] = image[::tile_px, :] * 0.85  # faint grid lines
    image[:, ::tile_px] = image[:, ::tile_px] * 0.85
    if agent is not None:
        r, c = agent[0] * tile_px, agent[1] * tile_px
        for t in range(2):
            image[r + t, c:c + tile_px] = image[r + tile_px - 1 - t, c:c + tile_px] = AGENT_OUTLINE
            image[r:r + tile_px, c + t] = image[r:r + tile_px, c + tile_px - 1 - t] = AGENT_OUTLINE
    return image


def level_grid(levels: np.ndarray, colours: np.ndarray, columns: int = 8, tile_px: int = 12,
               gap_px: int = 4, marks: np.ndarray | None = None) -> np.ndarray:
    """Many levels side by side on a white sheet; ``marks`` (bool per level) draws a green bar under valid ones."""
    count = len(levels)
    rows = max(1, -(-count // columns))
    columns = min(columns, max(count, 1))
    h, w = levels.shape[1] * tile_px, levels.shape[2] * tile_px
    bar = 4 if marks is not None else 0
    sheet = np.full((rows * (h + gap_px + bar) + gap_px, columns * (w + gap_px) + gap_px, 3), 255, dtype=np.uint8)
    for k, level in enumerate(levels):
        top, left = gap_px + (k // columns) * (h + gap_px + bar), gap_px + (k % columns) * (w + gap_px)
        sheet[top:top + h, left:left + w] = render_level(level, colours, tile_px)
        if marks is not None:
            sheet[top + h + 1:top + h + bar, left:left + w] = (40, 170, 60) if marks[k] else (200, 200, 200)
    return sheet


def archive_sheet(levels: np.ndarray, cells: np.ndarray, dims: tuple[int, int], colours: np.ndarray,
                  tile_px: int = 3, gap_px: int = 1) -> np.ndarray:
    """Levels placed on a grid by their archive cell: ``levels`` (n, H, W), ``cells`` (n, 2) grid indices
    (first descriptor -> column, left to right; second -> row, bottom to top); empty cells light grey."""
    h, w = levels.shape[1] * tile_px, levels.shape[2] * tile_px
    sheet = np.full((dims[1] * (h + gap_px) + gap_px, dims[0] * (w + gap_px) + gap_px, 3), 255, dtype=np.uint8)
    for i in range(dims[0]):
        for j in range(dims[1]):
            top, left = gap_px + (dims[1] - 1 - j) * (h + gap_px), gap_px + i * (w + gap_px)
            sheet[top:top + h, left:left + w] = 225
    for level, (i, j) in zip(levels, cells):
        top, left = gap_px + (dims[1] - 1 - int(j)) * (h + gap_px), gap_px + int(i) * (w + gap_px)
        sheet[top:top + h, left:left + w] = np.repeat(np.repeat(colours[level], tile_px, axis=0), tile_px, axis=1)
    return sheet
