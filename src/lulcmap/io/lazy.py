"""A scene's raw values as lazy, dask-backed ``(band, y, x)`` arrays, chunks of whole rows.

A dataset as it is comes through rioxarray (:func:`open_lazy`); a dataset on another grid through
a warped VRT per thread, read window by window (:func:`warped_opener`, :func:`windowed`), so that
GDAL resamples only the rows a strip asks for.
"""

from __future__ import annotations

import warnings
from contextlib import ExitStack
from typing import Any

import dask.array as da
import numpy as np
import rioxarray
import xarray as xr
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from lulcmap.grid import Grid
from lulcmap.io.env import PerThread, quiet_open


def open_lazy(gdal_path: str, chunk_rows: int, *, all_bands: bool) -> Any:
    """rioxarray's lazy (band, y, x) array, chunks of ``chunk_rows`` whole rows.

    When every band is used, a chunk holds them all: one GDAL read per strip, which decodes each
    block once (pixel-interleaved files keep all bands in one block). Otherwise one band per
    chunk, so a band subset reads only those bands.
    """
    with warnings.catch_warnings():  # affine's `*` deprecation, raised inside rioxarray
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return rioxarray.open_rasterio(
            gdal_path,
            chunks={"band": -1 if all_bands else 1, "y": chunk_rows, "x": -1},
            lock=False,
            cache=False,
        )


def warped_on(stack: ExitStack, src: Any, grid: Grid, resampling: Resampling) -> WarpedVRT:
    """``src`` as a warped VRT on ``grid``, closed with ``stack``."""
    vrt = WarpedVRT(
        src,
        crs=grid.crs,
        transform=grid.transform,
        width=grid.width,
        height=grid.height,
        resampling=resampling,
    )
    return stack.enter_context(vrt)


def warped_opener(gdal_path: str, grid: Grid, resampling: Resampling) -> Any:
    """Opens ``gdal_path`` as a warped VRT on ``grid`` (for :class:`~lulcmap.io.env.PerThread`)."""

    def opener(stack: ExitStack) -> WarpedVRT:
        return warped_on(stack, stack.enter_context(quiet_open(gdal_path)), grid, resampling)

    return opener


class _Windows:
    """Chosen bands of a per-thread dataset as a ``(band, y, x)`` array read window by window:
    what the dask array of a warped scene reads through."""

    ndim = 3

    def __init__(self, reader: PerThread, bands: list[int], grid: Grid, dtype: np.dtype) -> None:
        self.reader, self.bands = reader, bands
        self.shape, self.dtype = (len(bands), *grid.shape), dtype

    def __getitem__(self, key: tuple[slice, slice, slice]) -> np.ndarray:
        b, y, x = key
        return self.reader.get().read(self.bands[b], window=Window.from_slices(y, x))


def windowed(reader: PerThread, grid: Grid, like: xr.DataArray, chunk_rows: int) -> xr.DataArray:
    """A lazy DataArray like ``like`` (bands, names) on ``grid``, read through ``reader``."""
    bands = [int(b) for b in like["band"].values]
    rows = da.from_array(
        _Windows(reader, bands, grid, like.dtype),
        chunks=(len(bands), chunk_rows, grid.width),
        lock=False,
        name=False,
        meta=np.empty((0, 0, 0), like.dtype),
    )
    x, y = grid.xy_centres()
    coords = {"band": bands, "y": y, "x": x, "band_name": ("band", like["band_name"].values)}
    data = xr.DataArray(rows, dims=("band", "y", "x"), coords=coords, attrs=dict(like.attrs))
    return data.rio.write_crs(grid.crs).rio.write_transform(grid.transform)


__all__ = ["open_lazy", "warped_opener", "windowed"]
