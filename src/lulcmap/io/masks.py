"""Which pixels of a scene are valid, and the optional mask raster brought onto its grid.

A pixel is invalid where the three chosen bands all equal their declared nodata (with none
declared: are all 0 in integer data, Sentinel-2's fill), where any of them is NaN, where the
scene's alpha band or internal mask is 0, or where the optional mask raster excludes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.warp import transform_bounds

from lulcmap.errors import CoverageError, NotARasterError
from lulcmap.grid import Grid
from lulcmap.io.env import gdal_env, quiet_open
from lulcmap.io.lazy import warped_on
from lulcmap.io.paths import require_local


def validity(
    dn: np.ndarray,
    nodata: Sequence[float | None],
    *,
    alpha: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    mask_values: Sequence[int] | None = None,
) -> np.ndarray:
    """``(h, w)`` bool: valid pixels of raw values ``(3, h, w)`` (see the module docstring).

    ``alpha``: the GDAL mask of the window (0 = invalid); ``labels``: the mask raster's values
    (invalid where not 0, or, with ``mask_values``, where one of them).
    """
    floating = np.issubdtype(dn.dtype, np.floating)
    declared = [(b, v) for b, v in enumerate(nodata) if v is not None and not np.isnan(v)]
    if not floating and all(v == 0 for _, v in declared):
        # Integer fill of 0 (declared, or Sentinel-2's all-zero DN): a bitwise OR of the
        # bands is non-zero where any band is -- one pass instead of three comparisons.
        index = [b for b, _ in declared]
        bands = dn[index] if declared and len(index) < len(dn) else dn
        valid = np.bitwise_or.reduce(bands, axis=0) != 0
    else:
        valid = ~np.isnan(dn).any(axis=0) if floating else np.ones(dn.shape[1:], bool)
        if declared:
            valid &= np.logical_or.reduce([dn[b] != v for b, v in declared])
    if alpha is not None:
        valid &= alpha != 0
    if labels is not None:
        valid &= labels == 0 if mask_values is None else ~np.isin(labels, mask_values)
    return valid


def mask_opener(mask: Path, grid: Grid) -> Callable[[ExitStack], Any]:
    """Opens ``mask`` on ``grid``: as it is when on that grid, else warped (nearest) onto it."""

    def opener(stack: ExitStack) -> Any:
        src = stack.enter_context(quiet_open(str(mask)))
        if (src.crs, src.transform, src.shape) == (grid.crs, grid.transform, grid.shape):
            return src
        return warped_on(stack, src, grid, Resampling.nearest)

    return opener


def check_mask(mask: Path, grid: Grid) -> None:
    """Fail unless ``mask`` is a raster GDAL reads that overlaps ``grid``."""
    require_local(mask, "mask")
    try:
        with gdal_env(), quiet_open(str(mask)) as src:
            mgrid = Grid.from_dataset(src, name="mask")
    except RasterioIOError:
        raise NotARasterError(
            f"mask {mask} is not a raster GDAL can read; pass e.g. the SCL band "
            "(.jp2/.tif) of the scene"
        ) from None
    left, bottom, right, top = transform_bounds(mgrid.crs, grid.crs, *mgrid.bounds)
    s_left, s_bottom, s_right, s_top = grid.bounds
    if left >= s_right or right <= s_left or bottom >= s_top or top <= s_bottom:
        raise CoverageError(
            f"mask {mask} does not overlap the scene (mask bounds {(left, bottom, right, top)} "
            f"vs scene {grid.bounds} in the scene CRS); pass the mask of this scene"
        )


__all__ = ["check_mask", "mask_opener", "validity"]
