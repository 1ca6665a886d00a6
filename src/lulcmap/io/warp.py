"""Pixel sizes in metres, and a scene read at another pixel size.

A model is trained at one pixel size (the card's ``input.pixel_size_m``): a 224-px chip covers
2.24 km at 10 m but 6.72 km at 30 m. To prepare (or predict) a scene at another pixel size, the
scene is not copied: :func:`at_pixel_size` returns it :meth:`~lulcmap.io.scene.Scene.warped` onto
:func:`resampled_grid` (the scene's CRS and top-left corner, the new pixel size), which GDAL
resamples as it is read, strip by strip, keeping the bands, per-band radiometry and validity
the scene was opened with.

Two pixel sizes within :data:`PIXEL_SIZE_TOLERANCE` of each other are the same: the one rule by
which ``predict`` decides whether a scene is at its model's pixel size, ``prepare --pixel-size``
whether to resample, and both whether pixels are square.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from affine import Affine
from rasterio.errors import CRSError

from lulcmap.errors import ConfigError
from lulcmap.grid import Grid

if TYPE_CHECKING:
    from lulcmap.io.scene import Scene

PIXEL_SIZE_TOLERANCE = 0.01
"""Pixel sizes closer than this (relative, 1 %) are taken as equal: no resampling."""

_FLOOR_SLACK = 1e-6
"""Pixels added before ``floor`` in :func:`resampled_grid`: rounding must not lose a whole one."""


def metres_per_unit(grid: Grid, what: str = "scene") -> float:
    """Metres per CRS unit of a projected grid; geographic grids are an error."""
    if not grid.crs.is_projected:
        raise ConfigError(
            f"{what} is in a geographic CRS ({grid.crs.to_string()}); chips, pixel sizes and "
            "blocks are in metres: warp it to a projected CRS first (e.g. its UTM zone)"
        )
    try:
        return float(grid.crs.linear_units_factor[1])
    except CRSError:
        return 1.0


def same_pixel_size(a: float, b: float) -> bool:
    """Whether pixel sizes ``a`` and ``b`` are equal within :data:`PIXEL_SIZE_TOLERANCE`."""
    return abs(a - b) <= PIXEL_SIZE_TOLERANCE * max(abs(a), abs(b))


def pixel_size_m(grid: Grid, what: str = "scene") -> float:
    """The grid's (square, within :data:`PIXEL_SIZE_TOLERANCE`) pixel width in metres."""
    unit = metres_per_unit(grid, what)
    x, y = (r * unit for r in grid.res)
    if not same_pixel_size(x, y):
        raise ConfigError(
            f"{what} has non-square pixels ({x:g} x {y:g} m); pass --pixel-size to resample it "
            "to square pixels"
        )
    return x


def resampled_grid(grid: Grid, pixel_size: float) -> Grid:
    """The grid of ``pixel_size`` metres with ``grid``'s CRS and top-left corner, inside it.

    It holds only whole new pixels that lie inside ``grid`` (``floor``), so no pixel is half
    made of fill.
    """
    unit = metres_per_unit(grid)
    size = pixel_size / unit
    h = math.floor(grid.height * grid.res[1] / size + _FLOOR_SLACK)
    w = math.floor(grid.width * grid.res[0] / size + _FLOOR_SLACK)
    if h < 1 or w < 1:
        raise ConfigError(
            f"a {pixel_size:g} m pixel is larger than the scene ({grid.width} x {grid.height} px "
            f"of {grid.res[0] * unit:g} m); pass a smaller --pixel-size"
        )
    t = grid.transform
    return Grid(grid.crs, Affine(size, 0.0, t.c, 0.0, -size, t.f), (h, w))


def at_pixel_size(scene: Scene, pixel_size: float) -> Scene:
    """``scene`` read at ``pixel_size`` metres: the scene itself when its pixels are that size
    (:func:`same_pixel_size`), else warped onto :func:`resampled_grid` (bilinear onto finer
    pixels, average onto coarser ones)."""
    if same_pixel_size(pixel_size_m(scene.grid), pixel_size):
        return scene
    return scene.warped(resampled_grid(scene.grid, pixel_size))


__all__ = [
    "PIXEL_SIZE_TOLERANCE",
    "at_pixel_size",
    "metres_per_unit",
    "pixel_size_m",
    "resampled_grid",
    "same_pixel_size",
]
