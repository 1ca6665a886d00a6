"""Open ancillary rasters (DEM, climate grids) with errors that say the fix, and read windows.

Every function takes ``what``, a human label such as ``"DEM"`` or ``"climate grid temp_ave"``,
so that a message names the input the user supplied.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import rasterio
import rasterio.io
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from lulcmap.errors import (
    CoverageError,
    InputDataError,
    MissingCRSError,
    NotARasterError,
)
from lulcmap.grid import Bounds
from lulcmap.io.env import gdal_env
from lulcmap.io.paths import require_local

GDAL_FORMATS = (
    "GeoTIFF/COG (.tif), VRT (.vrt), NetCDF (.nc), ERDAS Imagine (.img), ASCII grid (.asc) "
    "or any other raster format GDAL reads"
)


@contextmanager
def open_raster(
    path: str | os.PathLike[str], *, what: str, threads: int | None = None
) -> Iterator[rasterio.io.DatasetReader]:
    """Open ``path`` with lulcmap's GDAL settings; the dataset is closed on exit.

    ``threads``: GDAL decoding threads for this dataset (fixed when it is opened; default: all
    cores). Small rasters read whole, such as a DEM or a climate grid, are faster with one.

    Raises:
        InputNotFoundError: the path does not exist.
        NotARasterError: GDAL cannot open it as a raster.
        MissingCRSError: the raster has no coordinate reference system.
    """
    name = os.path.expanduser(path)  # a GDAL name never starts with ~: unchanged
    require_local(name, what)
    with gdal_env(**({} if threads is None else {"GDAL_NUM_THREADS": str(threads)})):
        try:
            ds = rasterio.open(name)
        except RasterioIOError as exc:
            reason = (
                (str(exc).splitlines() or ["unknown format"])[0]
                .replace(f"'{name}' ", "")
                .rstrip(".")
            )
            raise NotARasterError(
                f"{what} {name} is not a raster GDAL can open ({reason}); expected {GDAL_FORMATS}"
            ) from None
        with ds:
            if ds.crs is None:
                raise MissingCRSError(
                    f"{what} {name} has no coordinate reference system; assign the one it was "
                    f"made in, e.g. `gdal_edit.py -a_srs EPSG:4326 {name}`"
                )
            yield ds


def extent(ds: rasterio.io.DatasetReader) -> Bounds:
    """``(left, bottom, right, top)`` of a dataset, whatever the sign of its pixel sizes."""
    t = ds.transform
    x0, y0 = t @ (0, 0)
    x1, y1 = t @ (ds.width, ds.height)
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _fmt(bounds: Bounds) -> str:
    return "(" + ", ".join(f"{v:.10g}" for v in bounds) + ")"


def check_covers(ds: rasterio.io.DatasetReader, bounds: Bounds, crs: CRS, *, what: str) -> Bounds:
    """Check that ``ds`` covers ``bounds`` (in ``crs``), within half a source pixel.

    Returns the bounds transformed into the raster's CRS (edges densified with 21 points).

    Raises:
        CoverageError: part of the bounds lies outside the raster.
    """
    inside = transform_bounds(crs, ds.crs, *bounds, densify_pts=21)
    have = extent(ds)
    hx, hy = abs(ds.transform.a) / 2, abs(ds.transform.e) / 2
    if (
        inside[0] < have[0] - hx
        or inside[1] < have[1] - hy
        or inside[2] > have[2] + hx
        or inside[3] > have[3] + hy
    ):
        raise CoverageError(
            f"{what} {ds.name} does not cover the scene: in the {what}'s CRS "
            f"({ds.crs.to_string()}) the scene spans {_fmt(inside)} (left, bottom, right, top) but "
            f"the {what} spans {_fmt(have)}; supply a {what} that covers the whole scene"
        )
    return inside


def window_around(ds: rasterio.io.DatasetReader, bounds: Bounds, *, margin: int) -> Window:
    """The pixel window covering ``bounds`` (in the raster's CRS) plus ``margin`` pixels,
    rounded outward and clipped to the raster."""
    corners = [
        ~ds.transform @ (x, y) for x in (bounds[0], bounds[2]) for y in (bounds[1], bounds[3])
    ]
    cols, rows = [c for c, _ in corners], [r for _, r in corners]
    c0 = max(math.floor(min(cols)) - margin, 0)
    r0 = max(math.floor(min(rows)) - margin, 0)
    c1 = min(math.ceil(max(cols)) + margin, ds.width)
    r1 = min(math.ceil(max(rows)) + margin, ds.height)
    return Window(c0, r0, max(c1 - c0, 1), max(r1 - r0, 1))


def read_float(
    ds: rasterio.io.DatasetReader,
    window: Window,
    *,
    out_shape: tuple[int, int],
    what: str,
    dtype: type[np.floating] = np.float64,
) -> tuple[np.ndarray, Affine]:
    """Band 1 of ``window`` as ``dtype`` with scale/offset applied and no-data as NaN.

    When ``out_shape`` is smaller than the window, GDAL averages the source pixels (no-data left
    out), so memory follows ``out_shape``, not the source. Returns the array and its transform.

    Raises:
        InputDataError: the raster has more than one band.
    """
    if ds.count != 1:
        raise InputDataError(
            f"{what} {ds.name} has {ds.count} bands; expected a single band per variable; "
            f"extract or aggregate it first, e.g. `gdal_translate -b 1 {ds.name} single.tif`"
        )
    with gdal_env():
        band = ds.read(
            1, window=window, out_shape=out_shape, resampling=Resampling.average, masked=True
        )
    # Plain arrays, in place: masked-array arithmetic makes several slower passes.
    data = band.data.astype(dtype, copy=False)  # a fresh array: no copy when already dtype
    if ds.scales[0] != 1.0:
        data *= ds.scales[0]
    if ds.offsets[0] != 0.0:
        data += ds.offsets[0]
    np.copyto(data, np.nan, where=np.ma.getmaskarray(band))
    scale = Affine.scale(window.width / out_shape[1], window.height / out_shape[0])
    return data, ds.window_transform(window) @ scale


__all__ = ["GDAL_FORMATS", "check_covers", "extent", "open_raster", "read_float", "window_around"]
