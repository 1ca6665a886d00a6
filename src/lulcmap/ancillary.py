"""Ancillary values per output cell: DEM and climate means over each chip's footprint.

Every source (the DEM, its slope, each climate grid) goes the same way:

1. open it and check it covers the scene (:mod:`lulcmap.io.rasters`);
2. read only the window over the scene plus ``MARGIN_PIXELS`` source pixels, decimated (GDAL
   average) when the source is much finer than needed, so memory does not follow the file size;
3. warp it onto an *ancillary grid*: the scene's CRS and origin, pixels ``k`` times the scene's
   (:func:`ancillary_factor`); bilinear when the source is coarser, average when finer -- a
   finer source already in the scene's CRS is not warped: step 4 averages its own pixels;
4. average it over every chip rectangle, exactly, with summed-area tables of value and of
   valid count (:func:`lulcmap.zonal.footprint_means`); no-data is left out of the means.

Slope is computed on the DEM window in the DEM's own CRS, in metres
(:func:`lulcmap.terrain.slope_degrees`, so geographic DEMs are handled correctly), at the DEM's own
resolution: the window is read in strips, and slope and elevation are averaged over the
decimation's blocks (:func:`lulcmap.zonal.block_means`) only after slope is computed (slope is
not linear in the DEM, so decimating first would flatten it). Both then go through steps 3-4 like
any other source.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import rasterio.io
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window

from lulcmap.chips import ChipPlan
from lulcmap.errors import MissingVariableError
from lulcmap.grid import Grid
from lulcmap.io.climate import canonical_name
from lulcmap.io.env import gdal_env
from lulcmap.io.rasters import check_covers, open_raster, read_float, window_around
from lulcmap.process import available_cores
from lulcmap.terrain import slope_degrees
from lulcmap.zonal import block_means, footprint_means

log = logging.getLogger(__name__)

ELEVATION = "elevation"
SLOPE = "slope"
DEM_VARIABLES = (ELEVATION, SLOPE)
MAX_GRID_SIDE = 4000
"""Largest side of an ancillary grid (4000 x 4000 float64 = 128 MB per array)."""
MARGIN_PIXELS = 2
"""Source pixels read beyond the scene, so slope and bilinear warping have neighbours."""
STRIP_PIXELS = 1 << 20
"""DEM pixels per strip when slope is computed at the DEM's resolution (4 MB per float32 array)."""
MAX_DEM_THREADS = 4
"""Threads computing DEM strips at once (at most the cores this process may use)."""
GROUP_PIXELS = 4096
"""Side (scene pixels) of the tiles :func:`footprint_ancillary` groups scattered footprints by."""

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Raster:
    """An in-memory float64 raster on a grid; NaN marks no data."""

    data: np.ndarray
    grid: Grid


# -- public API ---------------------------------------------------------------------------------
def compute_ancillary(
    plan: ChipPlan,
    *,
    variables: Sequence[str],
    dem: PathLike | None,
    climate: Mapping[str, PathLike],
) -> dict[str, np.ndarray]:
    """Mean of each ancillary variable over every cell's chip footprint.

    ``elevation`` (m) and ``slope`` (degrees) come from ``dem``; any other variable from
    ``climate`` (canonical name -> raster, see :func:`lulcmap.io.climate.find_climate`).
    Returns float64 arrays of shape ``plan.shape`` in ``variables`` order; NaN where a
    footprint holds no valid data.
    """
    return _means(plan, plan.chip_bounds(), variables=variables, dem=dem, climate=climate)


def footprint_ancillary(
    footprints: np.ndarray,
    crs: CRS,
    *,
    variables: Sequence[str],
    dem: PathLike | None,
    climate: Mapping[str, PathLike],
    pixel_size: float,
    chip_size: int = 224,
    group_pixels: int = GROUP_PIXELS,
) -> dict[str, np.ndarray]:
    """Mean of each ancillary variable over footprints that need not come from one scene.

    ``footprints`` has shape ``(n, 4)``: bounds ``(left, bottom, right, top)`` in ``crs`` (e.g.
    chips centred on known points). They are grouped by their centre into tiles of
    ``group_pixels`` x ``group_pixels`` pixels of ``pixel_size``; each group is taken as a scene
    of ``pixel_size`` pixels covering its footprints and goes through the very steps of
    :func:`compute_ancillary` (ancillary grid, warping, exact summed-area means), so memory
    follows the tile, not the spread of the footprints. Returns float64 arrays of shape ``(n,)``
    in ``variables`` order; NaN where a footprint holds no valid data.
    """
    fp = np.asarray(footprints, dtype=np.float64).reshape(-1, 4)
    out = {name: np.full(len(fp), np.nan) for name in variables}
    for index, plan in _footprint_groups(fp, crs, pixel_size, chip_size, group_pixels):
        means = _means(plan, fp[index], variables=variables, dem=dem, climate=climate)
        for name in variables:
            out[name][index] = means[name]
    return out


def _footprint_groups(
    fp: np.ndarray, crs: CRS, pixel_size: float, chip_size: int, group_pixels: int
) -> list[tuple[np.ndarray, ChipPlan]]:
    """Footprint indexes per tile, each with a plan whose scene covers those footprints."""
    tile = group_pixels * pixel_size
    centres = np.stack([fp[:, 0] + fp[:, 2], fp[:, 1] + fp[:, 3]], axis=1) / 2
    keys = np.floor(centres / tile).astype(np.int64)
    _, group = np.unique(keys, axis=0, return_inverse=True)
    groups = []
    for g in range(int(group.max()) + 1 if len(fp) else 0):
        index = np.flatnonzero(group.ravel() == g)
        left, bottom = fp[index, 0].min(), fp[index, 1].min()
        right, top = fp[index, 2].max(), fp[index, 3].max()
        shape = (
            max(1, math.ceil((top - bottom) / pixel_size - 1e-9)),
            max(1, math.ceil((right - left) / pixel_size - 1e-9)),
        )
        scene = Grid(crs, Affine(pixel_size, 0.0, left, 0.0, -pixel_size, top), shape)
        groups.append((index, ChipPlan(scene, chip_size=chip_size, stride=chip_size)))
    return groups


def _means(
    plan: ChipPlan,
    footprints: np.ndarray,
    *,
    variables: Sequence[str],
    dem: PathLike | None,
    climate: Mapping[str, PathLike],
) -> dict[str, np.ndarray]:
    """The means of :func:`compute_ancillary` over ``footprints`` in ``plan``'s scene."""
    values: dict[str, np.ndarray] = {}
    dem_needed = [v for v in variables if v in DEM_VARIABLES]
    if dem_needed:
        if dem is None:
            raise MissingVariableError(
                f"the model needs {' and '.join(dem_needed)}; pass --dem with a DEM raster "
                "(any GDAL format and CRS) that covers the scene"
            )
        values.update(_dem_means(plan, dem, footprints))
    for name in variables:
        if name not in DEM_VARIABLES:
            path = _climate_path(climate, name, variables)
            values[name] = _source_means(plan, path, f"climate grid {name}", footprints)
    return {name: values[name] for name in variables}


def ancillary_factor(source_res: float, plan: ChipPlan) -> int:
    """The ``k`` of the ancillary grid (pixel = ``k`` scene pixels) for a source.

    ``k = floor(source_res / (2 * scene_res))``: pixels about half the source's or finer, so
    bilinear warping resolves the source; at least ``chip_size // 32`` (32 samples across a
    chip are plenty for a footprint mean, and memory stays small: a 10980 px tile gives a
    1569 px grid), at most ``chip_size // 8`` (at least 8 pixels across a chip), then raised as
    needed so the grid has at most ``MAX_GRID_SIDE`` pixels a side. ``source_res`` is in scene
    CRS units.
    """
    k = math.floor(source_res / (2 * min(plan.scene.res)))
    k = min(max(k, plan.chip_size // 32, 1), max(plan.chip_size // 8, 1))
    return max(k, math.ceil(max(plan.scene.shape) / MAX_GRID_SIDE))


def warp(raster: Raster, grid: Grid, *, resampling: Resampling) -> np.ndarray:
    """``raster`` resampled onto ``grid`` (float64, NaN = no data)."""
    out = np.full(grid.shape, np.nan)
    with gdal_env():
        reproject(
            raster.data, out,
            src_transform=raster.grid.transform, src_crs=raster.grid.crs, src_nodata=np.nan,
            dst_transform=grid.transform, dst_crs=grid.crs, dst_nodata=np.nan,
            resampling=resampling,
        )  # fmt: skip
    return out


# -- steps --------------------------------------------------------------------------------------
def _climate_path(climate: Mapping[str, PathLike], name: str, needed: Sequence[str]) -> PathLike:
    path = climate.get(name) or climate.get(canonical_name(name))
    if path is None:
        raise MissingVariableError(
            f"no climate grid for {name}; the model needs {', '.join(needed)}; pass --climate "
            f"FOLDER holding {name}.tif or --climate-var {name}=PATH"
        )
    return path


def _dem_means(plan: ChipPlan, path: PathLike, footprints: np.ndarray) -> dict[str, np.ndarray]:
    with open_raster(path, what="DEM", threads=1) as ds:
        read = _plan_read(ds, plan, what="DEM")
        dem, slope = _dem_and_slope(ds, read, what="DEM")
    return {
        ELEVATION: _warped_means(dem, read.grid, read.resampling, footprints),
        SLOPE: _warped_means(slope, read.grid, read.resampling, footprints),
    }


def _dem_and_slope(
    ds: rasterio.io.DatasetReader, read: _SourceRead, *, what: str
) -> tuple[Raster, Raster]:
    """Elevation and slope, each averaged over blocks of ``read.steps`` DEM pixels.

    Slope is a nonlinear function of the DEM's derivatives, so it is computed on the DEM at
    its own resolution, then averaged: slope of a decimated DEM is lower wherever the relief
    varies within a block (a 30 m DEM decimated to 60 m loses most of the slope of 120 m
    ridges). The window is read in strips of about ``STRIP_PIXELS`` DEM pixels, each with a
    row of the strips above and below, so the derivatives are those of the whole window and
    memory does not follow the DEM's size. Strips are computed in threads (numpy and GDAL
    release the GIL; reads of the one dataset handle take turns): on a full tile's 30 m DEM
    this takes back what computing slope at 30 m instead of 60 m costs.
    """
    sx, sy = read.steps
    w = read.window
    if sx == sy == 1:
        data, transform = read_float(ds, w, out_shape=(w.height, w.width), what=what)
        dem = Raster(data, Grid(ds.crs, transform, data.shape))
        return dem, Raster(slope_degrees(data, transform, ds.crs), dem.grid)
    shape = read.shape
    elevation, slope = np.empty(shape), np.empty(shape)
    rows = max(1, STRIP_PIXELS // (w.width * sy)) * sy  # DEM rows per strip, whole blocks
    lock = threading.Lock()  # one dataset handle: reads take turns, the arithmetic need not

    def strip(top: int) -> None:
        bottom = min(top + rows, w.height)
        above, below = min(top, 1), min(w.height - bottom, 1)
        window = Window(w.col_off, w.row_off + top - above, w.width, bottom - top + above + below)
        with lock:
            z, transform = read_float(
                ds, window, out_shape=(window.height, window.width), what=what, dtype=np.float32
            )
        s = slope_degrees(z, transform, ds.crs)
        inner = slice(above, above + bottom - top)
        out = slice(top // sy, math.ceil(bottom / sy))
        elevation[out] = block_means(z[inner], sy, sx)
        slope[out] = block_means(s[inner], sy, sx)

    tops = range(0, w.height, rows)
    with ThreadPoolExecutor(min(len(tops), MAX_DEM_THREADS, available_cores())) as pool:
        list(pool.map(strip, tops))
    grid = Grid(ds.crs, ds.window_transform(w) @ Affine.scale(sx, sy), shape)
    return Raster(elevation, grid), Raster(slope, grid)


def _source_means(plan: ChipPlan, path: PathLike, what: str, footprints: np.ndarray) -> np.ndarray:
    with open_raster(path, what=what, threads=1) as ds:
        read = _plan_read(ds, plan, what=what)
        source = _read_decimated(ds, read, what=what)
    return _warped_means(source, read.grid, read.resampling, footprints)


def _warped_means(
    source: Raster, grid: Grid, resampling: Resampling, footprints: np.ndarray
) -> np.ndarray:
    """Footprint means of ``source`` warped onto its ancillary ``grid`` (steps 3-4).

    A source finer than the grid (``average``) that is already in the grid's CRS, north-up, is
    averaged over the footprints on its own pixels instead: the exact value that warping it by
    averaging approximates, without the warp (a 10980 px tile's DEM: ~0.3 s less).
    """
    t = source.grid.transform
    if resampling == Resampling.average and source.grid.crs == grid.crs and t.b == t.d == 0:
        return footprint_means(source.data, source.grid, footprints)
    return footprint_means(warp(source, grid, resampling=resampling), grid, footprints)


@dataclass(frozen=True)
class _SourceRead:
    """How a source is read: its window, decimation and the ancillary grid it goes to."""

    window: Window
    steps: tuple[int, int]
    """Source pixels per read pixel, ``(x, y)``."""
    grid: Grid
    resampling: Resampling

    @property
    def shape(self) -> tuple[int, int]:
        """Rows and columns of the window averaged over ``steps`` blocks (the last partial)."""
        (sx, sy), w = self.steps, self.window
        return math.ceil(w.height / sy), math.ceil(w.width / sx)


def _plan_read(ds: rasterio.io.DatasetReader, plan: ChipPlan, *, what: str) -> _SourceRead:
    """The window around the scene, the decimation, the ancillary grid and the resampling."""
    scene = plan.scene
    inside = check_covers(ds, scene.bounds, scene.crs, what=what)
    window = window_around(ds, inside, margin=MARGIN_PIXELS)
    src_res = _res_in(ds, window, scene.crs)
    k = ancillary_factor(min(src_res), plan)
    grid = scene.scaled(k)
    sx, sy = (max(1, math.floor(k * s / r)) for s, r in zip(scene.res, src_res, strict=True))
    coarser = max(src_res[0] * sx, src_res[1] * sy) > k * min(scene.res)
    resampling = Resampling.bilinear if coarser else Resampling.average
    log.info(
        "%s %s: window %dx%d px, averaged over %dx%d px blocks -> ancillary grid %dx%d, "
        "pixel %g (k=%d), %s",
        what, ds.name, window.width, window.height, sx, sy,
        grid.width, grid.height, k * min(scene.res), k, resampling.name,
    )  # fmt: skip
    return _SourceRead(window, (sx, sy), grid, resampling)


def _read_decimated(ds: rasterio.io.DatasetReader, read: _SourceRead, *, what: str) -> Raster:
    """The window read averaged by GDAL over ``read.steps`` blocks (memory follows the output)."""
    data, transform = read_float(ds, read.window, out_shape=read.shape, what=what)
    return Raster(data, Grid(ds.crs, transform, read.shape))


def _res_in(ds: rasterio.io.DatasetReader, window: Window, crs: CRS) -> tuple[float, float]:
    """Approximate source pixel size ``(x, y)`` over ``window``, in ``crs`` units."""
    left, bottom, right, top = transform_bounds(ds.crs, crs, *ds.window_bounds(window))
    return (right - left) / window.width, (top - bottom) / window.height


__all__ = [
    "DEM_VARIABLES",
    "ELEVATION",
    "GROUP_PIXELS",
    "MAX_GRID_SIDE",
    "SLOPE",
    "Raster",
    "ancillary_factor",
    "compute_ancillary",
    "footprint_ancillary",
    "warp",
]
