"""Small raster factories: north-up grids and GeoTIFFs (for the world's writer and the test kit)."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from lulcmap.grid import Grid
from lulcmap.io.env import gdal_env


# ----------------------------------------------------------------------------------------------
# Grids and rasters
# ----------------------------------------------------------------------------------------------
def make_grid(
    shape: tuple[int, int],
    *,
    pixel_size: float = 10.0,
    crs: str | CRS = "EPSG:32630",
    origin: tuple[float, float] = (300_000.0, 4_200_000.0),
) -> Grid:
    """A north-up grid whose top-left corner is ``origin`` ``(x, y)``."""
    x0, y0 = origin
    return Grid(
        CRS.from_user_input(crs),
        Affine(pixel_size, 0, x0, 0, -pixel_size, y0),
        (int(shape[0]), int(shape[1])),
    )


def write_raster(
    path: str | Path,
    array: np.ndarray,
    *,
    crs: str | CRS,
    transform: Affine,
    nodata: float | None = None,
    descriptions: Sequence[str] | None = None,
    dtype: str | np.dtype | None = None,
    tags: dict[str, str] | None = None,
) -> Path:
    """Write ``array`` ``(band, y, x)`` or ``(y, x)`` as a deflate GeoTIFF (with dataset
    ``tags``); return its path."""
    path = Path(path)
    data = array[None] if array.ndim == 2 else array
    if data.ndim != 3:
        raise ValueError(f"array must be (band, y, x) or (y, x), got shape {array.shape}")
    dtype = np.dtype(dtype or data.dtype)
    count, height, width = data.shape
    profile: dict[str, object] = {
        "driver": "GTiff",
        "count": count,
        "height": height,
        "width": width,
        "dtype": dtype.name,
        "crs": CRS.from_user_input(crs),
        "transform": transform,
        "nodata": nodata,
        "compress": "deflate",
        "predictor": 3 if dtype.kind == "f" else 2,
    }
    if height >= 256 and width >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gdal_env(), rasterio.open(path, "w", **profile) as ds:
        ds.write(data.astype(dtype, copy=False))
        for i, text in enumerate(descriptions or (), start=1):
            ds.set_band_description(i, text)
        if tags:
            ds.update_tags(**tags)
    return path
