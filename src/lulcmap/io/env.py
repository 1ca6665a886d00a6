"""GDAL/rasterio settings, in exactly one place. Library code wraps I/O in :func:`gdal_env`.

Also how lulcmap opens datasets (:func:`quiet_open`, one handle per thread: :class:`PerThread`)
and how large a block cache a scene is read with (:func:`strip_cache_bytes`).
"""

from __future__ import annotations

import logging
import math
import threading
import warnings
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio
from rasterio.enums import Interleaving
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

if TYPE_CHECKING:
    from rasterio.io import DatasetReader

logger = logging.getLogger(__name__)

GDAL_OPTIONS: dict[str, object] = {
    # Never list sibling files of remote/large folders just to open one raster.
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    # Block cache for decoded tiles, in BYTES (rasterio passes an int to GDALSetCacheMax64; a bare
    # 256 would be 256 bytes, no cache at all). For DEMs, climate grids, masks and reference maps;
    # a scene is read with a cache sized to its block layout (:func:`strip_cache_bytes`).
    "GDAL_CACHEMAX": 128 * 2**20,
    # Decode multi-threaded where the driver can (COG/GTiff deflate, JP2OpenJPEG).
    "GDAL_NUM_THREADS": "ALL_CPUS",
}


def gdal_env(**overrides: object) -> rasterio.Env:
    """A ``rasterio.Env`` with lulcmap's GDAL settings (and any overrides)."""
    return rasterio.Env(**{**GDAL_OPTIONS, **overrides})


def quiet_open(name: str) -> DatasetReader:
    """``rasterio.open(name)`` without the not-georeferenced warning (callers check the CRS)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return rasterio.open(name)


class PerThread:
    """One open GDAL handle per thread: a rasterio dataset must not be read from two threads."""

    def __init__(self, opener: Callable[[ExitStack], Any]) -> None:
        self._opener = opener
        self._local = threading.local()
        self._lock = threading.Lock()
        self._stacks: list[ExitStack] = []

    def get(self) -> Any:
        """This thread's handle, opened (under :func:`gdal_env`) on first use."""
        handle = getattr(self._local, "handle", None)
        if handle is None:
            stack = ExitStack()
            with gdal_env():
                handle = self._opener(stack)
            self._local.handle = handle
            with self._lock:
                self._stacks.append(stack)
        return handle

    def close(self) -> None:
        """Close every thread's handle; the next :meth:`get` opens a new one."""
        with self._lock:
            stacks, self._stacks, self._local = self._stacks, [], threading.local()
        for stack in stacks:
            stack.close()


# -- GDAL block cache ------------------------------------------------------------------------------
STRIP_CACHE_MIN = 32 * 2**20
"""Least GDAL block cache a scene is read with (bytes)."""
STRIP_CACHE_MAX = 2**30
"""Most GDAL block cache a scene is read with (bytes); a layout that needs more is warned about."""
_DERIVED_DRIVERS = ("VRT", "SENTINEL2")
"""Drivers whose bands are assembled from other files: those files' blocks are what is cached."""


def _source_blocks(ds: DatasetReader) -> list[tuple[int, int]]:
    """Block shapes ``(rows, cols)`` of the files behind a VRT/SENTINEL2 dataset (at most 16)."""
    shapes = []
    for name in ds.files[:16]:
        try:
            with quiet_open(name) as src:
                if src.driver not in _DERIVED_DRIVERS:
                    shapes.extend(src.block_shapes)
        except RasterioIOError:  # metadata files (MTD_TL.xml, ...) listed beside the images
            continue
    return shapes


def strip_block_bytes(ds: DatasetReader, bands: Sequence[int], rows: int) -> int:
    """Decoded bytes of every block one strip of ``rows`` rows of ``ds`` touches.

    Per band: ``ceil(width / block width) * block width * block height * bytes per pixel`` per
    row of blocks, times the block rows a strip can touch (``ceil((rows - 1) / block height) +
    1``, at most the file's). Pixel-interleaved files decode every band of a block at once, so
    all their bands count; otherwise the chosen ``bands``. For VRT and Sentinel-2 products the
    blocks are those of the files they are made of.
    """
    counted = range(1, ds.count + 1) if ds.interleaving == Interleaving.pixel else bands
    sources = _source_blocks(ds) if ds.driver in _DERIVED_DRIVERS else []
    largest = (max(h for h, _ in sources), max(w for _, w in sources)) if sources else None
    need = 0
    for b in counted:
        bh, bw = largest or ds.block_shapes[b - 1]
        bh, bw = min(bh, ds.height), min(bw, ds.width)
        per_row = math.ceil(ds.width / bw) * bw * bh * np.dtype(ds.dtypes[b - 1]).itemsize
        need += per_row * min(math.ceil((rows - 1) / bh) + 1, math.ceil(ds.height / bh))
    return need


def bounded_cache_bytes(need: int, *, name: str, rows: int) -> int:
    """``need`` plus a quarter for masks and GDAL's bookkeeping, kept between
    :data:`STRIP_CACHE_MIN` and :data:`STRIP_CACHE_MAX` (warned about when over the latter)."""
    need = need * 5 // 4
    if need > STRIP_CACHE_MAX:
        logger.warning(
            "scene %s: a strip of %d rows touches %d MB of decoded blocks, more than the %d MB "
            "block cache lulcmap allows, so blocks will be decoded more than once; re-tile it "
            "for speed, e.g. `gdal_translate -co TILED=YES -co BLOCKXSIZE=512 -co "
            "BLOCKYSIZE=512 -co COMPRESS=DEFLATE IN OUT.tif`",
            name, rows, need // 2**20, STRIP_CACHE_MAX // 2**20,
        )  # fmt: skip
    return min(max(need, STRIP_CACHE_MIN), STRIP_CACHE_MAX)


def strip_cache_bytes(ds: DatasetReader, bands: Sequence[int], rows: int) -> int:
    """GDAL block cache (bytes) that holds every decoded block one strip of ``rows`` rows
    touches (:func:`strip_block_bytes`), so that a block straddling two strips is decoded once;
    bounded by :func:`bounded_cache_bytes`.

    A fixed 128 MB cache was too small for a 10980 px wide GeoTIFF with 2048 px blocks (151 MB
    per row of blocks): every strip decoded its blocks again, 4x slower to read
    (``benchmarks/bench_cache.py``).
    """
    return bounded_cache_bytes(strip_block_bytes(ds, bands, rows), name=ds.name, rows=rows)


__all__ = [
    "GDAL_OPTIONS",
    "STRIP_CACHE_MAX",
    "STRIP_CACHE_MIN",
    "PerThread",
    "bounded_cache_bytes",
    "gdal_env",
    "quiet_open",
    "strip_block_bytes",
    "strip_cache_bytes",
]
