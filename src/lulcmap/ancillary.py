"""Ancillary values per output cell: DEM and climate means over each chip's footprint.

Every source (the DEM, its slope, each climate grid) goes the same way:

1. open it and check it covers the scene (:mod:`lulcmap.io.rasters`);
2. read only the window over the scene plus ``MARGIN_PIXELS`` source pixels, decimated (GDAL
   average) when the source is much finer than needed, so memory does not follow the file size;
3. warp it onto an *ancillary grid*: the scene's CRS and origin, pixels ``k`` times the scene's
   (:func:`ancillary_factor`); bilinear when the source is coarser, average when finer -- a
   finer source already in the scene's CRS is not warped: step 4 averages its own pixels;
4. average it over every chip rectangle, exactly, with summed-area tables of value and of
   valid count (:func:`footprint_means`); no-data is left out of the means.

Slope is computed on the DEM window in the DEM's own CRS, in metres (:func:`slope_degrees`, so
geographic DEMs are handled correctly), at the DEM's own resolution: the window is read in strips,
and slope and elevation are averaged over the decimation's blocks only after slope is computed
(slope is not linear in the DEM, so decimating first would flatten it). Both then go through
steps 3-4 like any other source.
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
import pyproj
import rasterio.io
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import CRSError
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window

from lulcmap.chips import ChipPlan
from lulcmap.errors import MissingVariableError
from lulcmap.grid import Grid
from lulcmap.io.climate import canonical_name
from lulcmap.io.env import gdal_env
from lulcmap.io.rasters import check_covers, open_raster, read_float, window_around
from lulcmap.process import available_cores

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
_WGS84 = (6378137.0, 6356752.314245179)  # semi-major, semi-minor axes (m)

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


def slope_degrees(
    dem: np.ndarray, transform: Affine, crs: CRS, *, nodata: np.ndarray | None = None
) -> np.ndarray:
    """Slope in degrees by central differences (``np.gradient``) with distances in metres.

    Projected CRS: pixel sizes times the CRS's linear unit. Geographic CRS: metres per degree
    on the CRS's ellipsoid at each row's latitude (``N cos(lat) pi/180`` east-west,
    ``M pi/180`` north-south). ``nodata`` (True = no data) and NaN cells, and cells next to
    them, get NaN. Computed in float32 for a float32 ``dem`` (a DEM's arrays are large; slope
    keeps 6 digits), in float64 otherwise.
    """
    z = np.asarray(dem)
    z = z if z.dtype in (np.float32, np.float64) else z.astype(np.float64)  # read only
    if nodata is not None:
        z = np.where(nodata, np.nan, z)
    dx, dy = _pixel_metres(transform, crs, z.shape[0])
    dz_dy = _diff(z, axis=0)
    dz_dy /= dy[:, None]
    dz_dx = _diff(z, axis=1)
    dz_dx /= dx[:, None]
    # In place (a DEM's arrays are large); no overflow to guard against, unlike np.hypot.
    dz_dx *= dz_dx
    dz_dy *= dz_dy
    dz_dx += dz_dy
    slope = np.sqrt(dz_dx, out=dz_dx)
    np.arctan(slope, out=slope)
    np.degrees(slope, out=slope)
    np.copyto(slope, np.nan, where=np.isnan(z))
    return slope


def footprint_means(data: np.ndarray, grid: Grid, footprints: np.ndarray) -> np.ndarray:
    """Exact mean of ``data`` (pixels constant, NaN = no data) over each footprint.

    ``footprints`` has shape ``(..., 4)``: bounds ``(left, bottom, right, top)`` in ``grid``'s
    CRS, edges anywhere (fractional pixels). The integral of a piecewise-constant raster over
    ``[0, r] x [0, c]`` is the bilinear interpolation of its summed-area table, so each mean
    is ``sum(value) / sum(valid area)`` from two tables. NaN where a footprint has no data.
    """
    r0, c0, r1, c1 = _pixel_rects(grid, footprints)
    valid = ~np.isnan(data)
    if valid.all():  # the valid area is the rectangle's: one table instead of two
        offset = float(np.mean(data))  # keeps the sums small
        total = _rect_sums(_summed_area(data - offset), r0, c0, r1, c1)
        count = (r1 - r0) * (c1 - c0)
    else:
        offset = float(np.mean(data[valid])) if valid.any() else 0.0
        total = _rect_sums(_summed_area(np.where(valid, data - offset, 0.0)), r0, c0, r1, c1)
        count = _rect_sums(_summed_area(valid.astype(np.float64)), r0, c0, r1, c1)
    ok = count > 1e-6
    return np.where(ok, offset + total / np.where(ok, count, 1.0), np.nan)


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
        elevation[out] = _block_means(z[inner], sy, sx)
        slope[out] = _block_means(s[inner], sy, sx)

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


# -- numerics -----------------------------------------------------------------------------------
def _diff(z: np.ndarray, axis: int) -> np.ndarray:
    """Per-pixel derivative along ``axis``; zero when the axis has a single pixel."""
    return np.gradient(z, axis=axis) if z.shape[axis] > 1 else np.zeros_like(z)


def _block_means(a: np.ndarray, sy: int, sx: int) -> np.ndarray:
    """Mean of the non-NaN pixels of each ``sy`` x ``sx`` block, float64 (the last blocks may be
    partial); NaN where a block has none."""
    h, w = a.shape
    rows, cols = math.ceil(h / sy), math.ceil(w / sx)
    if (h, w) != (rows * sy, cols * sx):
        padded = np.full((rows * sy, cols * sx), np.nan, a.dtype)
        padded[:h, :w] = a
        a = padded
    nan = np.isnan(a)
    if not nan.any():
        return _block_sums(a, sy, sx) / (sy * sx)
    count = _block_sums(~nan, sy, sx)
    total = _block_sums(np.where(nan, 0, a), sy, sx)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _block_sums(a: np.ndarray, sy: int, sx: int) -> np.ndarray:
    """Sums (float64) over ``sy`` x ``sx`` blocks of ``a``, whose shape is a multiple of them:
    ``sy + sx`` strided additions, faster than summing a 4-d reshape."""
    rows = a[0::sy].astype(np.float64)
    for i in range(1, sy):
        rows += a[i::sy]
    out = rows[:, 0::sx].copy()
    for j in range(1, sx):
        out += rows[:, j::sx]
    return out


def _ellipsoid(crs: CRS) -> tuple[float, float]:
    """Semi-major axis and squared eccentricity of the CRS's ellipsoid (WGS84 if unknown)."""
    ellipsoid = pyproj.CRS.from_user_input(crs.to_wkt()).ellipsoid
    a, b = (ellipsoid.semi_major_metre, ellipsoid.semi_minor_metre) if ellipsoid else _WGS84
    return a, 1.0 - (b / a) ** 2


def _pixel_metres(transform: Affine, crs: CRS, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel width and height in metres for each row, shape ``(rows,)`` each."""
    if crs.is_geographic:
        lat = np.radians(transform.f + (np.arange(rows) + 0.5) * transform.e)
        a, e2 = _ellipsoid(crs)
        w = 1.0 - e2 * np.sin(lat) ** 2
        n, m = a / np.sqrt(w), a * (1.0 - e2) / w**1.5
        return n * np.cos(lat) * np.radians(abs(transform.a)), m * np.radians(abs(transform.e))
    try:
        unit = float(crs.linear_units_factor[1])
    except CRSError:  # a CRS without a linear unit: take the coordinates as metres
        unit = 1.0
    return np.full(rows, abs(transform.a) * unit), np.full(rows, abs(transform.e) * unit)


def _pixel_rects(grid: Grid, footprints: np.ndarray) -> tuple[np.ndarray, ...]:
    """Fractional pixel rectangles ``(r0, c0, r1, c1)`` of bounds, clipped to the grid."""
    inv = ~grid.transform
    ca, ra = inv @ (footprints[..., 0], footprints[..., 3])
    cb, rb = inv @ (footprints[..., 2], footprints[..., 1])
    h, w = grid.shape
    return (
        np.clip(np.minimum(ra, rb), 0, h), np.clip(np.minimum(ca, cb), 0, w),
        np.clip(np.maximum(ra, rb), 0, h), np.clip(np.maximum(ca, cb), 0, w),
    )  # fmt: skip


def _summed_area(a: np.ndarray) -> np.ndarray:
    """Summed-area table with a zero first row and column: ``S[i, j] = a[:i, :j].sum()``."""
    table = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
    np.cumsum(np.cumsum(a, axis=0), axis=1, out=table[1:, 1:])
    return table


def _integral(table: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Integral over ``[0, r] x [0, c]``: bilinear interpolation of the summed-area table."""
    i = np.clip(np.floor(r).astype(np.intp), 0, table.shape[0] - 2)
    j = np.clip(np.floor(c).astype(np.intp), 0, table.shape[1] - 2)
    fr, fc = r - i, c - j
    top = table[i, j] * (1 - fc) + table[i, j + 1] * fc
    bottom = table[i + 1, j] * (1 - fc) + table[i + 1, j + 1] * fc
    return top * (1 - fr) + bottom * fr


def _rect_sums(table: np.ndarray, r0: np.ndarray, c0: np.ndarray, r1: np.ndarray,
               c1: np.ndarray) -> np.ndarray:  # fmt: skip
    """Integral of the tabled raster over each rectangle ``[r0, r1] x [c0, c1]``."""
    return (
        _integral(table, r1, c1) - _integral(table, r0, c1)
        - _integral(table, r1, c0) + _integral(table, r0, c0)
    )  # fmt: skip


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
    "footprint_means",
    "slope_degrees",
    "warp",
]
