"""Read a scene at another pixel size, on the fly, through a warped VRT.

A model is trained at one pixel size (the card's ``input.pixel_size_m``): a 224-px chip covers
2.24 km at 10 m but 6.72 km at 30 m. To prepare (or predict) a scene at another pixel size, the
scene is not copied: :func:`resampled_scene_path` writes a small warped VRT (XML, a few kB) on
a grid with the scene's CRS and top-left corner and the new pixel size, which GDAL resamples as
it is read, strip by strip, so memory stays that of one strip. Finer pixels (e.g. Landsat 30 m
to 10 m) are interpolated bilinearly (no overshoot, so the radiometric stretch sees no values
the scene does not have); coarser ones are averaged. The grid holds only whole new pixels that
lie inside the scene (``floor``), so no pixel is half made of fill.

:func:`resample_scene` re-opens a :class:`~lulcmap.io.scene.Scene` through that VRT with the same
bands, scale and offset, so its chips are in the same radiometry as the original's.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import CRSError
from rasterio.shutil import copy as gdal_copy
from rasterio.vrt import WarpedVRT

from lulcmap.errors import ConfigError
from lulcmap.grid import Grid
from lulcmap.io.env import gdal_env
from lulcmap.io.scene import Scene, open_scene

RELATIVE_TOLERANCE = 1e-6
"""Pixel sizes closer than this (relative) are taken as equal: no resampling."""


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


def pixel_size_m(grid: Grid, what: str = "scene") -> float:
    """The grid's (square) pixel size in metres."""
    unit = metres_per_unit(grid, what)
    x, y = (r * unit for r in grid.res)
    if abs(x - y) > RELATIVE_TOLERANCE * x:
        raise ConfigError(
            f"{what} has non-square pixels ({x:g} x {y:g} m); pass --pixel-size to resample it "
            "to square pixels"
        )
    return x


def resampled_grid(grid: Grid, pixel_size: float) -> Grid:
    """The grid of ``pixel_size`` metres with ``grid``'s CRS and top-left corner, inside it."""
    unit = metres_per_unit(grid)
    size = pixel_size / unit
    h = math.floor(grid.height * grid.res[1] / size + RELATIVE_TOLERANCE)
    w = math.floor(grid.width * grid.res[0] / size + RELATIVE_TOLERANCE)
    if h < 1 or w < 1:
        raise ConfigError(
            f"a {pixel_size:g} m pixel is larger than the scene ({grid.width} x {grid.height} px "
            f"of {grid.res[0] * unit:g} m); pass a smaller --pixel-size"
        )
    t = grid.transform
    return Grid(grid.crs, Affine(size, 0.0, t.c, 0.0, -size, t.f), (h, w))


def resampled_scene_path(
    gdal_path: str, grid: Grid, pixel_size: float, directory: str | Path
) -> tuple[Path, Grid]:
    """Write a warped VRT of ``gdal_path`` (on ``grid``) at ``pixel_size`` metres.

    Returns the VRT's path (in ``directory``; it refers to the source by its absolute path
    and stays valid as long as the source does) and its grid.
    """
    target = resampled_grid(grid, pixel_size)
    finer = target.res[0] < grid.res[0]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(gdal_path).stem)[-60:] or "scene"
    path = Path(directory) / f"{stem}_{pixel_size:g}m.vrt"
    with (
        gdal_env(),
        rasterio.open(gdal_path) as src,
        WarpedVRT(
            src,
            crs=target.crs,
            transform=target.transform,
            width=target.width,
            height=target.height,
            resampling=Resampling.bilinear if finer else Resampling.average,
        ) as vrt,
    ):
        gdal_copy(vrt, str(path), driver="VRT")
    return path, target


def _uniform(values: tuple[float, ...] | None, scene: Scene, what: str) -> float | None:
    """One value for all three bands, or None (the VRT keeps per-band GDAL scales/offsets)."""
    if values is None or len(set(values)) == 1:
        return None if values is None else values[0]
    if scene.driver.upper().startswith("SENTINEL2"):
        raise ConfigError(
            f"scene {scene.path} has a different {what} per band ({values}); resampling a "
            "Sentinel-2 product needs one: pass --scale/--offset"
        )
    return None


def resample_scene(
    scene: Scene, pixel_size: float, directory: str | Path, *, chunk_rows: int = 224
) -> Scene:
    """``scene`` read at ``pixel_size`` metres (the same scene when its pixels are that size).

    Bands, scale, offset and the validity mask carry over.
    """
    if abs(pixel_size_m(scene.grid) - pixel_size) <= RELATIVE_TOLERANCE * pixel_size:
        return scene
    path, _ = resampled_scene_path(scene.gdal_path, scene.grid, pixel_size, directory)
    return open_scene(
        path,
        rgb_bands=list(scene.band_indexes),
        radiometry=scene.radiometry,
        scale=_uniform(scene.scale, scene, "scale"),
        offset=_uniform(scene.offset, scene, "offset"),
        mask=scene.mask,
        mask_values=scene.mask_values,
        chunk_rows=chunk_rows,
    )


__all__ = [
    "metres_per_unit",
    "pixel_size_m",
    "resample_scene",
    "resampled_grid",
    "resampled_scene_path",
]
