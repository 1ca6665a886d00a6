"""Pure chip planning: grid + chip size + stride -> output cells and the chip each one reads.

No I/O and no torch here; everything is integer arithmetic on the scene's pixel grid.

Output semantics (DESIGN.md): the output grid starts at the scene's top-left corner, a cell is
``stride`` scene pixels wide, and there are ``ceil(W / stride) x ceil(H / stride)`` cells, so the
grid covers the whole scene. The chip of a cell is the ``chip_size`` window centred on the cell,
shifted inward where it would leave the scene. Consecutive chips are at most ``stride <=
chip_size`` pixels apart, so every scene pixel lies in some chip.

A scene smaller than one chip along an axis gets chips as long as the scene along that axis (the
reader pads them to ``chip_size``; see :mod:`lulcmap.stream`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lulcmap.grid import Grid

Window = tuple[int, int, int, int]
"""``(row_off, col_off, height, width)`` in scene pixels."""


def _offsets(n_cells: int, length: int, size: int, stride: int) -> np.ndarray:
    """Chip start offsets along one axis, centred on each cell then clamped into the scene."""
    starts = np.arange(n_cells, dtype=np.int64) * stride + (stride - size) // 2
    return np.clip(starts, 0, max(length - size, 0))


@dataclass(frozen=True)
class ChipPlan:
    """Where every output cell's chip lies in the scene.

    Attributes:
        scene: the scene's pixel grid.
        chip_size: side of a chip in scene pixels (224 for the published models).
        stride: side of an output cell in scene pixels (``1 <= stride <= chip_size``).
    """

    scene: Grid
    chip_size: int = 224
    stride: int = 224

    def __post_init__(self) -> None:
        if self.chip_size < 1:
            raise ValueError(f"chip_size must be >= 1, got {self.chip_size}")
        if not 1 <= self.stride <= self.chip_size:
            raise ValueError(
                f"stride must be between 1 and the chip size ({self.chip_size}) so that every "
                f"scene pixel lies in some chip, got {self.stride}"
            )

    # -- output grid --------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """Output grid shape ``(rows, cols)`` = ``(ceil(H / stride), ceil(W / stride))``."""
        return (
            math.ceil(self.scene.height / self.stride),
            math.ceil(self.scene.width / self.stride),
        )

    @property
    def n_cells(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def cell_grid(self) -> Grid:
        """The output grid: same origin and CRS as the scene, pixels ``stride`` times larger."""
        return self.scene.scaled(self.stride, self.shape)

    # -- chips --------------------------------------------------------------------------------
    @property
    def chip_shape(self) -> tuple[int, int]:
        """Pixels actually read per chip: ``chip_size`` or the scene's extent, if smaller."""
        return (min(self.chip_size, self.scene.height), min(self.chip_size, self.scene.width))

    @property
    def row_offsets(self) -> np.ndarray:
        """First scene row of the chip of each output row, shape ``(rows,)``."""
        return _offsets(self.shape[0], self.scene.height, self.chip_size, self.stride)

    @property
    def col_offsets(self) -> np.ndarray:
        """First scene column of the chip of each output column, shape ``(cols,)``."""
        return _offsets(self.shape[1], self.scene.width, self.chip_size, self.stride)

    def chip_window(self, row: int, col: int) -> Window:
        """The scene window ``(row_off, col_off, height, width)`` read for cell ``(row, col)``."""
        h, w = self.chip_shape
        return (int(self.row_offsets[row]), int(self.col_offsets[col]), h, w)

    def cell_window(self, row: int, col: int) -> Window:
        """The scene pixels a cell stands for (may reach past the scene's last row/column)."""
        return (row * self.stride, col * self.stride, self.stride, self.stride)

    def chip_bounds(self) -> np.ndarray:
        """Bounds ``(left, bottom, right, top)`` of every cell's chip, shape ``(rows, cols, 4)``."""
        h, w = self.chip_shape
        t = self.scene.transform
        x0 = t.c + self.col_offsets * t.a
        x1 = t.c + (self.col_offsets + w) * t.a
        y0 = t.f + self.row_offsets * t.e
        y1 = t.f + (self.row_offsets + h) * t.e
        rows, cols = self.shape
        out = np.empty((rows, cols, 4))
        out[..., 0] = np.minimum(x0, x1)[None, :]
        out[..., 2] = np.maximum(x0, x1)[None, :]
        out[..., 1] = np.minimum(y0, y1)[:, None]
        out[..., 3] = np.maximum(y0, y1)[:, None]
        return out


__all__ = ["ChipPlan", "Window"]
