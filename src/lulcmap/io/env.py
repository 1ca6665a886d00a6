"""GDAL/rasterio settings, in exactly one place. Library code wraps I/O in :func:`gdal_env`."""

from __future__ import annotations

import rasterio

GDAL_OPTIONS: dict[str, object] = {
    # Never list sibling files of remote/large folders just to open one raster.
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    # Block cache for decoded tiles, in BYTES (rasterio passes an int to GDALSetCacheMax64; a bare
    # 256 would be 256 bytes, no cache at all). For DEMs, climate grids, masks and reference maps;
    # a scene is read with a cache sized to its block layout (lulcmap.io.scene.strip_cache_bytes).
    "GDAL_CACHEMAX": 128 * 2**20,
    # Decode multi-threaded where the driver can (COG/GTiff deflate, JP2OpenJPEG).
    "GDAL_NUM_THREADS": "ALL_CPUS",
}


def gdal_env(**overrides: object) -> rasterio.Env:
    """A ``rasterio.Env`` with lulcmap's GDAL settings (and any overrides)."""
    return rasterio.Env(**{**GDAL_OPTIONS, **overrides})


__all__ = ["GDAL_OPTIONS", "gdal_env"]
