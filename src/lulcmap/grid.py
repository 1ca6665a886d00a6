"""One immutable grid value: ``crs``, ``transform`` and ``shape`` travel together.

Axis order is fixed once for the whole package: arrays are ``(band, y, x)``, shapes are
``(height, width)`` and bounds are ``(left, bottom, right, top)``. Grids are never mutated;
operations return new ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from lulcmap.errors import MissingCRSError

if TYPE_CHECKING:
    import rasterio.io

Bounds = tuple[float, float, float, float]
"""``(left, bottom, right, top)`` in the grid's CRS units."""


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: CRS, affine transform of the top-left corner, ``(height, width)``."""

    crs: CRS
    transform: Affine
    shape: tuple[int, int]

    def __post_init__(self) -> None:
        h, w = self.shape
        if h <= 0 or w <= 0:
            raise ValueError(f"grid shape must be positive (height, width), got {self.shape}")
        if self.transform.b != 0 or self.transform.d != 0:
            raise ValueError("only north-up grids (no rotation) are supported")

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_dataset(cls, ds: rasterio.io.DatasetReader, *, name: str = "raster") -> Grid:
        """The grid of an open rasterio dataset; a dataset without a CRS is an error."""
        if ds.crs is None:
            raise MissingCRSError(
                f"{name} {ds.name} has no coordinate reference system; assign one first, "
                f"e.g. `gdal_edit.py -a_srs EPSG:32630 {ds.name}`"
            )
        return cls(CRS.from_user_input(ds.crs), ds.transform, (ds.height, ds.width))

    # -- properties ---------------------------------------------------------------------------
    @property
    def height(self) -> int:
        return self.shape[0]

    @property
    def width(self) -> int:
        return self.shape[1]

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size ``(x, y)`` as positive numbers."""
        return (abs(self.transform.a), abs(self.transform.e))

    @property
    def bounds(self) -> Bounds:
        return self.window_bounds(0, 0, self.height, self.width)

    # -- operations ---------------------------------------------------------------------------
    def window_bounds(self, row_off: float, col_off: float, height: float, width: float) -> Bounds:
        """Bounds of a pixel window (rows/cols may be fractional or reach past the grid)."""
        t = self.transform
        x0, y0 = t.c + col_off * t.a, t.f + row_off * t.e
        x1, y1 = t.c + (col_off + width) * t.a, t.f + (row_off + height) * t.e
        return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    def scaled(self, factor: float, shape: tuple[int, int] | None = None) -> Grid:
        """A grid with the same origin and pixels ``factor`` times larger.

        ``shape`` defaults to enough pixels to cover this grid (ceil).
        """
        if shape is None:
            shape = (math.ceil(self.height / factor), math.ceil(self.width / factor))
        return Grid(
            self.crs,
            Affine(
                self.transform.a * factor,
                0.0,
                self.transform.c,
                0.0,
                self.transform.e * factor,
                self.transform.f,
            ),
            shape,
        )

    def xy_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """1-D coordinates of pixel centres: ``x`` of each column, ``y`` of each row."""
        cols = np.arange(self.width) + 0.5
        rows = np.arange(self.height) + 0.5
        x = self.transform.c + cols * self.transform.a
        y = self.transform.f + rows * self.transform.e
        return x, y

    def to_dict(self) -> dict[str, object]:
        return {
            "crs": self.crs.to_string(),
            "transform": list(self.transform)[:6],
            "shape": list(self.shape),
        }


__all__ = ["Bounds", "Grid"]
