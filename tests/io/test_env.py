"""GDAL settings: what lulcmap's reads run under."""

from __future__ import annotations

import rasterio.env

from lulcmap.io.env import GDAL_OPTIONS, gdal_env


def test_block_cache_is_sized_in_bytes() -> None:
    # rasterio hands an int GDAL_CACHEMAX to GDALSetCacheMax64, in bytes: 256 would be 256 bytes,
    # no block cache at all, and every strip would decode the blocks it shares with the next again.
    with gdal_env():
        cache = rasterio.env.getenv()["GDAL_CACHEMAX"]
    assert isinstance(cache, int) and cache >= 64 * 2**20


def test_overrides_win_and_defaults_stay() -> None:
    with gdal_env(GDAL_NUM_THREADS=1):
        env = rasterio.env.getenv()
    assert env["GDAL_NUM_THREADS"] == 1
    assert env["GDAL_DISABLE_READDIR_ON_OPEN"] == GDAL_OPTIONS["GDAL_DISABLE_READDIR_ON_OPEN"]
