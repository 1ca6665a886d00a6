"""Read a scene lazily and turn it into the model's 8-bit radiometry, one strip of rows at a time.

Accepted inputs: any GDAL raster (GeoTIFF, COG, VRT, JP2, ...) and Sentinel-2 L2A/L1C products: a
``.SAFE`` folder, a ``.zip`` of one, or its ``MTD_MSIL2A.xml`` / ``MTD_MSIL1C.xml``. Products are
read through GDAL's SENTINEL2 driver at 10 m (bands B4, B3, B2, B8 and, for L2A, AOT and WVP).

Radiometry (the model card's :class:`~lulcmap.model.card.Radiometry`): 8-bit scenes are taken as
already in it; other scenes are reflectance ``r = DN * scale + offset`` mapped to
``clip(round(r / reflectance_max * 255), 1, 255)``; 16-bit DN go through a 65536-entry table
built with that very formula (exact, and ~4x faster than computing it). 0 marks invalid pixels.

Validity: a pixel is invalid where the three chosen bands all equal their declared nodata (with none
declared: are all 0 in integer data, Sentinel-2's fill), where any of them is NaN, where the
scene's alpha band or internal mask is 0, or where the optional mask raster excludes it.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import warnings
import zipfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask
import numpy as np
import rasterio
import rioxarray
import xarray as xr
from rasterio.enums import ColorInterp, Interleaving, MaskFlags, Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from lulcmap.errors import (
    BandSelectionError,
    ConfigError,
    CoverageError,
    InputDataError,
    NotARasterError,
)
from lulcmap.grid import Grid
from lulcmap.io.env import gdal_env
from lulcmap.io.paths import is_gdal_name, require_local

if TYPE_CHECKING:
    from rasterio.io import DatasetReader

    from lulcmap.model.card import Radiometry

logger = logging.getLogger(__name__)

SAFE_METADATA_FILES = ("MTD_MSIL2A.xml", "MTD_MSIL1C.xml")
SAFE_DEFAULT_BANDS = ("B4", "B3", "B2")
INTEGER_DN_SCALE = 1e-4
"""Default scale of integer scenes: Sentinel-2 L1C/L2A digital numbers are reflectance x 10000."""

_S2_BAND = re.compile(r"^B0*(\d+A?)$")
_RGB_INTERP = {"RED": ColorInterp.red, "GREEN": ColorInterp.green, "BLUE": ColorInterp.blue}


# -- resolving what GDAL opens ---------------------------------------------------------------------
def _quiet_open(name: str) -> DatasetReader:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return rasterio.open(name)


def _resolve(path: str | Path) -> tuple[str, bool]:
    """The GDAL dataset name for ``path``, and whether it is a Sentinel-2 product."""
    text = str(path)
    if is_gdal_name(text):  # /vsizip/..., s3://..., DRIVER:...
        if text.upper().startswith("SENTINEL2_"):
            return text, True
        return (_safe_subdataset(text), True) if _is_mtd(text) else (text, False)
    require_local(text, "scene")
    p = Path(text).expanduser().resolve()
    if p.is_dir():
        for name in SAFE_METADATA_FILES:
            if (p / name).is_file():
                return _safe_subdataset(str(p / name)), True
        raise NotARasterError(
            f"scene {p} is a folder but not a Sentinel-2 .SAFE product (no "
            f"{' or '.join(SAFE_METADATA_FILES)} inside); pass a raster file, a .SAFE folder "
            "or its .zip"
        )
    if _is_mtd(p.name):
        return _safe_subdataset(str(p)), True
    if p.suffix.lower() == ".zip":
        return _resolve_zip(p)
    return str(p), False


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _is_mtd(name: str) -> bool:
    return name.rsplit("/", 1)[-1].upper() in {n.upper() for n in SAFE_METADATA_FILES}


def _resolve_zip(p: Path) -> tuple[str, bool]:
    if not zipfile.is_zipfile(p):
        raise NotARasterError(
            f"scene {p} ends in .zip but is not a zip archive; pass the raster itself"
        )
    with zipfile.ZipFile(p) as zf:
        files = [n for n in zf.namelist() if not n.endswith("/")]
    mtds = sorted((n for n in files if _is_mtd(n)), key=lambda n: n.count("/"))
    if mtds:
        return _safe_subdataset(f"/vsizip/{p}/{mtds[0]}"), True
    if len(files) == 1:
        return f"/vsizip/{p}/{files[0]}", False
    shown = ", ".join(files[:5]) + (", ..." if len(files) > 5 else "")
    raise NotARasterError(
        f"scene {p} is a zip without a Sentinel-2 product inside ({len(files)} files: {shown}); "
        f"pass the raster inside it as /vsizip/{p}/<file>"
    )


def _safe_subdataset(mtd: str) -> str:
    """The 10 m subdataset (``SENTINEL2_L2A:<mtd>:10m:EPSG_xxxxx``) of a Sentinel-2 product."""
    try:
        with gdal_env(), _quiet_open(mtd) as container:
            subdatasets = list(container.subdatasets)
    except RasterioIOError as exc:
        raise NotARasterError(
            f"Sentinel-2 product {mtd} cannot be opened by GDAL's SENTINEL2 driver "
            f"({_first_line(exc)}); check the product is complete (GRANULE/*/MTD_TL.xml and "
            "IMG_DATA present)"
        ) from None
    tens = [s for s in subdatasets if ":10m:" in s]
    if not tens:
        raise NotARasterError(
            f"Sentinel-2 product {mtd} has no 10 m subdataset (found {subdatasets or 'none'}); "
            "check the product is complete, or pass a 10 m band raster instead"
        )
    if len(tens) > 1:
        logger.info("%s spans several UTM zones; reading %s", mtd, tens[0])
    return tens[0]


# -- band choice -----------------------------------------------------------------------------------
def _key(name: str) -> str:
    """Canonical band key: 'B04' and 'B4, central wavelength 665 nm' both give 'B4'."""
    head = name.split(",")[0].strip().upper()
    m = _S2_BAND.match(head)
    return f"B{m.group(1)}" if m else head


def _band_label(ds: DatasetReader, i: int) -> str:
    """A band's name as the dataset spells it: 'B04' from 'B04', 'B4' from 'B4, central ...'."""
    desc = (ds.descriptions[i - 1] or "").split(",")[0].strip()
    return desc or f"band{i}"


def _listing(ds: DatasetReader) -> str:
    return "; ".join(
        f"{i}: {ds.descriptions[i - 1] or '(no description)'}" for i in range(1, ds.count + 1)
    )


def _tokens(rgb_bands: str | Sequence[int | str], listing: str) -> list[int | str]:
    items = re.split(r"[,\s]+", rgb_bands.strip()) if isinstance(rgb_bands, str) else rgb_bands
    out: list[int | str] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer, str)) or item == "":
            raise BandSelectionError(
                f"rgb_bands must be three band numbers or names, got {rgb_bands!r}; "
                f"pass e.g. --rgb-bands 3,2,1 (bands here: {listing})"
            )
        text = str(item).strip()
        out.append(int(text) if text.isdigit() else text)
    if len(out) != 3:
        raise BandSelectionError(
            f"rgb_bands needs exactly three bands (red, green, blue), got {rgb_bands!r}; "
            f"pass e.g. --rgb-bands 3,2,1 (bands here: {listing})"
        )
    return out


def _find(ds: DatasetReader, token: int | str, name: str, listing: str) -> int:
    if isinstance(token, int):
        if 1 <= token <= ds.count:
            return token
        raise BandSelectionError(
            f"rgb_bands names band {token}, but scene {name} has bands {listing}; "
            "pass --rgb-bands with three of those numbers or names, red first"
        )
    key, interp = _key(token), _RGB_INTERP.get(token.upper())
    hits = [
        i
        for i in range(1, ds.count + 1)
        if key in {_key(ds.descriptions[i - 1] or ""), _key(ds.tags(i).get("BANDNAME", ""))}
        or (ds.descriptions[i - 1] or "").strip().upper() == token.strip().upper()
    ]
    if not hits and interp is not None:
        hits = [i for i, ci in enumerate(ds.colorinterp, start=1) if ci == interp]
    if len(hits) == 1:
        return hits[0]
    problem = "lacks" if not hits else f"has several bands matching ({hits})"
    raise BandSelectionError(
        f"rgb_bands names {token!r}, which scene {name} {problem}; its bands are {listing}; "
        "pass --rgb-bands with three of those numbers or names, red first (e.g. 3,2,1)"
    )


def _select_bands(
    ds: DatasetReader, rgb_bands: str | Sequence[int | str] | None, *, is_safe: bool, name: str
) -> tuple[int, int, int]:
    listing = _listing(ds)
    if rgb_bands is None and is_safe:
        rgb_bands = SAFE_DEFAULT_BANDS
    if rgb_bands is None:
        interps = list(ds.colorinterp)
        if ds.dtypes[0] == "uint8" and all(interps.count(c) == 1 for c in _RGB_INTERP.values()):
            red, green, blue = (interps.index(c) + 1 for c in _RGB_INTERP.values())
            return red, green, blue
        if ds.dtypes[0] == "uint8" and ds.count == 3:
            return 1, 2, 3
        raise BandSelectionError(
            f"scene {name} has {ds.count} {ds.dtypes[0]} band(s) ({listing}) and no rgb_bands; "
            "say which are red, green and blue with --rgb-bands, e.g. --rgb-bands 3,2,1 "
            "or --rgb-bands B04,B03,B02"
        )
    red, green, blue = (_find(ds, t, name, listing) for t in _tokens(rgb_bands, listing))
    return red, green, blue


# -- radiometry ------------------------------------------------------------------------------------
def _reflectance(
    ds: DatasetReader,
    bands: tuple[int, int, int],
    dtype: np.dtype,
    *,
    scale: float | None,
    offset: float | None,
    is_safe: bool,
    name: str,
) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    """Per-band ``(scale, offset)`` giving reflectance, or ``(None, None)`` for 8-bit scenes."""
    if dtype == np.uint8:
        if scale is not None or offset is not None:
            raise ConfigError(
                f"scene {name} is 8-bit and taken as already in the model's radiometry, so "
                "scale/offset do not apply; drop --scale/--offset or pass the reflectance scene"
            )
        return None, None
    for label, value in (("scale", scale), ("offset", offset)):
        if value is not None and not math.isfinite(value):
            raise ConfigError(f"{label} must be a finite number, got {value}; e.g. --offset -0.1")
    if scale is not None and scale <= 0:
        raise ConfigError(f"scale must be positive, got {scale}; e.g. --scale 0.0001")
    idx = [b - 1 for b in bands]
    declared = any(ds.scales[i] != 1.0 or ds.offsets[i] != 0.0 for i in idx)
    tags = ds.tags() if is_safe else {}
    quant = float(tags.get("BOA_QUANTIFICATION_VALUE") or tags.get("QUANTIFICATION_VALUE") or 1e4)
    scales: tuple[float, ...]
    offsets: tuple[float, ...]
    if scale is not None:
        scales = (float(scale),) * 3
    elif is_safe:
        scales = (1.0 / quant,) * 3
    elif declared:
        scales = tuple(float(ds.scales[i]) for i in idx)
    else:
        scales = (INTEGER_DN_SCALE if np.issubdtype(dtype, np.integer) else 1.0,) * 3
    if offset is not None:
        offsets = (float(offset),) * 3
    elif is_safe:
        offsets = tuple(_safe_offset(ds.tags(b), quant) for b in bands)
        baseline = tags.get("PROCESSING_BASELINE", "")
        if not any(offsets) and baseline >= "04.00":
            logger.warning(
                "%s has processing baseline %s but no BOA/RADIO_ADD_OFFSET metadata; "
                "pass offset=-0.1 if its DN carry the +1000 offset",
                name,
                baseline,
            )
    elif declared:
        offsets = tuple(float(ds.offsets[i]) for i in idx)
    else:
        offsets = (0.0,) * 3
    return scales, offsets


def _safe_offset(band_tags: dict[str, str], quant: float) -> float:
    """The band's -1000 DN offset (processing baseline >= 04.00), in reflectance units."""
    value = band_tags.get("BOA_ADD_OFFSET") or band_tags.get("RADIO_ADD_OFFSET")
    return float(value) / quant if value else 0.0


_LUT_ROWS = 16
"""Rows per table lookup: keeps numpy's index buffer in cache (measured ~20 % faster)."""


def _stretch(
    dn: np.ndarray, scale: Sequence[float], offset: Sequence[float], reflectance_max: float
) -> np.ndarray:
    """``clip(rint((DN * scale + offset) / reflectance_max * 255), 1, 255)``, float64, per band."""
    refl = dn.astype(np.float64)
    refl *= np.asarray(scale)[:, None, None]
    refl += np.asarray(offset)[:, None, None]
    refl /= reflectance_max
    refl *= 255.0
    np.rint(refl, out=refl)
    np.clip(refl, 1, 255, out=refl)
    return refl


def _radiometry_lut(
    dtype: np.dtype, scale: Sequence[float] | None, offset: Sequence[float] | None, rmax: float
) -> np.ndarray | None:
    """For 16-bit integer DN, the uint8 value of every possible DN, ``(3, 65536)``; else None.

    Indexed by the DN's uint16 bit pattern (``dn.view(np.uint16)``), so int16 works too. Built
    with :func:`_stretch` itself, so a lookup equals the float64 formula exactly, at a fraction of
    its cost (a 10980 x 10980 tile: ~0.3 s instead of ~1.1 s on one core).
    """
    if scale is None or offset is None or dtype not in (np.dtype(np.uint16), np.dtype(np.int16)):
        return None
    values = np.arange(65536, dtype=np.uint16).view(dtype)
    dn = np.broadcast_to(values, (3, 1, 65536))
    return np.ascontiguousarray(_stretch(dn, scale, offset, rmax)[:, 0].astype(np.uint8))


# -- geometry --------------------------------------------------------------------------------------
def _scene_grid(ds: DatasetReader, name: str) -> Grid:
    if ds.crs is None and (ds.gcps[0] or ds.rpcs):
        raise InputDataError(
            f"scene {name} is georeferenced by GCPs/RPCs, not a grid; warp it first, e.g. "
            f"`gdalwarp -t_srs EPSG:32630 {name} scene_warped.tif`"
        )
    t = ds.transform
    if ds.crs is not None and (t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0):
        raise InputDataError(
            f"scene {name} is not north-up (geotransform {tuple(t)[:6]}); lulcmap needs rows "
            f"running north to south, so warp it first, e.g. `gdalwarp {name} scene_north_up.tif`"
        )
    return Grid.from_dataset(ds, name="scene")  # MissingCRSError when there is no CRS


# -- GDAL block cache --------------------------------------------------------------------------
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
            with _quiet_open(name) as src:
                if src.driver not in _DERIVED_DRIVERS:
                    shapes.extend(src.block_shapes)
        except RasterioIOError:  # metadata files (MTD_TL.xml, ...) listed beside the images
            continue
    return shapes


def strip_cache_bytes(ds: DatasetReader, bands: Sequence[int], rows: int) -> int:
    """GDAL block cache (bytes) that holds every decoded block one strip of ``rows`` rows
    touches, so that a block straddling two strips is decoded once.

    Per band: ``ceil(width / block width) * block width * block height * bytes per pixel`` per
    row of blocks, times the block rows a strip can touch (``ceil((rows - 1) / block height) +
    1``, at most the file's). Pixel-interleaved files decode every band of a block at once, so
    all their bands count; otherwise the chosen ``bands``. For VRT and Sentinel-2 products the
    blocks are those of the files they are made of. Plus a quarter for masks and GDAL's
    bookkeeping, then kept between :data:`STRIP_CACHE_MIN` and :data:`STRIP_CACHE_MAX`.

    A fixed 128 MB cache was too small for a 10980 px wide GeoTIFF with 2048 px blocks (151 MB
    per row of blocks): every strip decoded its blocks again, 4x slower to read
    (``benchmarks/bench_cache.py``).
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
    need = need * 5 // 4
    if need > STRIP_CACHE_MAX:
        logger.warning(
            "scene %s: a strip of %d rows touches %d MB of decoded blocks, more than the %d MB "
            "block cache lulcmap allows, so blocks will be decoded more than once; re-tile it "
            "for speed, e.g. `gdal_translate -co TILED=YES -co BLOCKXSIZE=512 -co "
            "BLOCKYSIZE=512 -co COMPRESS=DEFLATE IN OUT.tif`",
            ds.name, rows, need // 2**20, STRIP_CACHE_MAX // 2**20,
        )  # fmt: skip
    return min(max(need, STRIP_CACHE_MIN), STRIP_CACHE_MAX)


class _PerThread:
    """One open GDAL handle per thread: a rasterio dataset must not be read from two threads."""

    def __init__(self, opener: Callable[[ExitStack], Any]) -> None:
        self._opener = opener
        self._local = threading.local()
        self._lock = threading.Lock()
        self._stacks: list[ExitStack] = []

    def get(self) -> Any:
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
        with self._lock:
            stacks, self._stacks, self._local = self._stacks, [], threading.local()
        for stack in stacks:
            stack.close()


def _open_mask(mask: Path, grid: Grid) -> Callable[[ExitStack], Any]:
    def opener(stack: ExitStack) -> Any:
        src = stack.enter_context(_quiet_open(str(mask)))
        if (src.crs, src.transform, src.shape) == (grid.crs, grid.transform, grid.shape):
            return src
        return stack.enter_context(
            WarpedVRT(
                src,
                crs=grid.crs,
                transform=grid.transform,
                width=grid.width,
                height=grid.height,
                resampling=Resampling.nearest,
            )
        )

    return opener


def _check_mask(mask: Path, grid: Grid) -> None:
    require_local(mask, "mask")
    try:
        with gdal_env(), _quiet_open(str(mask)) as src:
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


def _open_lazy(gdal_path: str, chunk_rows: int, *, all_bands: bool) -> Any:
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


# -- the scene -------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Scene:
    """An opened scene: its grid, the three bands chosen as red, green, blue, and how to read them.

    Attributes:
        path: what the caller passed; ``gdal_path`` is the dataset GDAL reads (a subdataset for
            Sentinel-2 products).
        grid: the scene's pixel grid.
        dtype: data type of the chosen bands.
        band_names: the chosen bands' names, red, green, blue (e.g. ``["B4", "B3", "B2"]``).
        band_indexes: their 1-based band numbers.
        scale, offset: per band, reflectance = DN * scale + offset (offset in reflectance units);
            ``None`` for 8-bit scenes, which are used as they are.
        cache_bytes: the GDAL block cache :meth:`read_strip` reads with
            (:func:`strip_cache_bytes`).
        data: the chosen bands as a lazy, dask-backed ``(band, y, x)`` DataArray of raw values,
            ``chunk_rows`` rows per chunk.
    """

    path: str | Path
    gdal_path: str
    driver: str
    grid: Grid
    dtype: np.dtype
    band_names: list[str]
    band_indexes: tuple[int, int, int]
    nodata: tuple[float | None, float | None, float | None]
    gdal_mask: bool
    radiometry: Radiometry
    scale: tuple[float, ...] | None
    offset: tuple[float, ...] | None
    mask: Path | None
    mask_values: tuple[int, ...] | None
    cache_bytes: int
    data: xr.DataArray = field(repr=False)
    _reader: _PerThread = field(repr=False)
    _mask_reader: _PerThread | None = field(repr=False)
    _lut: np.ndarray | None = field(default=None, repr=False)

    def read_strip(self, row_off: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``row_off:row_off + height`` as ``(rgb (3, height, W) uint8, valid (height, W))``.

        ``rgb`` is in the model card's radiometry, 0 where ``valid`` is False. Safe to call from
        several threads at once (each thread reads through its own GDAL handle).
        """
        if height < 1 or row_off < 0 or row_off + height > self.grid.height:
            raise ValueError(
                f"strip rows {row_off}:{row_off + height} are outside the scene's "
                f"{self.grid.height} rows"
            )
        window = Window(0, row_off, self.grid.width, height)
        with gdal_env(GDAL_CACHEMAX=self.cache_bytes):
            # The pixels come through rioxarray's dask array (chunks of whole chip rows), computed
            # in the calling thread (the engine already reads in a background thread of its own;
            # the scheduler is passed, not set globally, so concurrent callers do not race), with
            # lulcmap's GDAL settings and a block cache that keeps the blocks straddling two
            # strips (:func:`strip_cache_bytes`).
            strip = self.data[:, row_off : row_off + height, :].data
            (dn,) = dask.compute(strip, scheduler="synchronous")
            ds = self._reader.get() if self.gdal_mask else None
            alpha = ds.read_masks(self.band_indexes[0], window=window) if ds else None
            labels = self._mask_reader.get().read(1, window=window) if self._mask_reader else None
        valid = self._valid(dn, alpha, labels)
        return self._to_uint8(dn, valid), valid

    def convert(self, dn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw values ``(3, h, w)`` of the chosen bands -> ``(rgb uint8, valid)`` as ``read_strip``.

        For data read elsewhere (e.g. a chip of :attr:`data`). Validity comes from the values
        alone (nodata, all-zero fill, NaN); the alpha band and the mask raster need
        :meth:`read_strip`.
        """
        valid = self._valid(dn, None, None)
        return self._to_uint8(dn, valid), valid

    def _valid(
        self, dn: np.ndarray, alpha: np.ndarray | None, labels: np.ndarray | None
    ) -> np.ndarray:
        floating = np.issubdtype(dn.dtype, np.floating)
        declared = [(b, v) for b, v in enumerate(self.nodata) if v is not None and not np.isnan(v)]
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
            values = self.mask_values
            valid &= labels == 0 if values is None else ~np.isin(labels, values)
        return valid

    def _to_uint8(self, dn: np.ndarray, valid: np.ndarray) -> np.ndarray:
        if self.scale is None or self.offset is None:
            rgb = np.maximum(dn, 1).astype(np.uint8, copy=False)
        elif self._lut is not None:  # 16-bit DN: one exact table lookup per pixel
            rgb = np.empty(dn.shape, np.uint8)
            index = dn.view(np.uint16)  # int16 tables are laid out in uint16 bit order
            for b in range(3):
                for r in range(0, dn.shape[1], _LUT_ROWS):
                    np.take(
                        self._lut[b], index[b, r : r + _LUT_ROWS], out=rgb[b, r : r + _LUT_ROWS]
                    )
        else:
            refl = _stretch(dn, self.scale, self.offset, self.radiometry.reflectance_max)
            refl[:, ~valid] = 0  # 0 marks invalid pixels; also clears NaN before the cast
            return refl.astype(np.uint8)
        np.multiply(rgb, valid, out=rgb)  # 0 marks invalid pixels
        return rgb

    def describe(self) -> dict[str, object]:
        """What was read and how, for the run record."""
        return {
            "path": str(self.path),
            "gdal_path": self.gdal_path,
            "driver": self.driver,
            "width": self.grid.width,
            "height": self.grid.height,
            "dtype": str(self.dtype),
            "bands": {
                "red": self.band_names[0],
                "green": self.band_names[1],
                "blue": self.band_names[2],
                "indexes": list(self.band_indexes),
            },
            "radiometry": "8-bit, used as is" if self.scale is None else "reflectance stretch",
            "reflectance_max": self.radiometry.reflectance_max,
            "scale": None if self.scale is None else list(self.scale),
            "offset_reflectance": None if self.offset is None else list(self.offset),
            "nodata": list(self.nodata),
            "alpha_or_internal_mask": self.gdal_mask,
            "crs": self.grid.crs.to_string(),
            "pixel_size": list(self.grid.res),
            "transform": list(self.grid.transform)[:6],
            "mask": None if self.mask is None else str(self.mask),
            "mask_values": None if self.mask_values is None else list(self.mask_values),
            "gdal_cache_mb": round(self.cache_bytes / 2**20, 1),
        }

    def close(self) -> None:
        """Close the GDAL handles ``read_strip`` opened (they reopen if it is called again)."""
        self._reader.close()
        if self._mask_reader is not None:
            self._mask_reader.close()

    def __enter__(self) -> Scene:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_scene(
    path: str | Path,
    *,
    rgb_bands: str | Sequence[int | str] | None = None,
    radiometry: Radiometry,
    scale: float | None = None,
    offset: float | None = None,
    mask: Path | None = None,
    mask_values: Sequence[int] | None = None,
    chunk_rows: int = 224,
) -> Scene:
    """Open a scene lazily, choose its red, green and blue bands, and fix its radiometry.

    Args:
        path: a GDAL raster (GeoTIFF, COG, VRT, ...), or a Sentinel-2 product: ``.SAFE`` folder,
            ``.zip`` of one, or its ``MTD_MSIL2A.xml``/``MTD_MSIL1C.xml`` (read at 10 m).
        rgb_bands: red, green, blue as ``"3,2,1"`` (1-based), ``"B04,B03,B02"`` (band descriptions,
            ``B4`` == ``B04``) or a sequence of those. Optional for 3-band 8-bit scenes and
            Sentinel-2 products (B4, B3, B2).
        radiometry: the model card's radiometry (``card.input.radiometry``).
        scale: reflectance per DN. Default: 1/QUANTIFICATION_VALUE for Sentinel-2 products, the
            bands' GDAL scale where one is declared, else 1/10000 for integer and 1 for float data.
        offset: added after scaling, **in reflectance units**: ``-0.1`` is the -1000 DN offset of
            processing baseline >= 04.00 (-1000 / 10000). Default: a Sentinel-2 product's
            BOA_ADD_OFFSET/RADIO_ADD_OFFSET, else the bands' GDAL offset where declared, else 0.
        mask: optional raster on any grid (e.g. the 20 m SCL band); brought onto the scene grid
            with nearest resampling. Pixels are invalid where it is not 0, or, with
            ``mask_values``, where its value is one of them (e.g. SCL 3, 8, 9, 10).
        chunk_rows: rows per dask chunk of :attr:`Scene.data` (one chip row by default).

    Raises:
        InputNotFoundError, NotARasterError, MissingCRSError, InputDataError (not north-up),
        BandSelectionError, ConfigError (bad scale/offset), CoverageError (mask off the scene).
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    gdal_path, is_safe = _resolve(path)
    name = str(path)
    try:
        with gdal_env(), _quiet_open(gdal_path) as ds:
            if ds.count == 0:
                subs = ", ".join(ds.subdatasets[:3]) or "none"
                raise NotARasterError(
                    f"scene {name} holds no raster bands (subdatasets: {subs}); "
                    "pass one subdataset, e.g. the first listed"
                )
            grid = _scene_grid(ds, name)
            bands = _select_bands(ds, rgb_bands, is_safe=is_safe, name=name)
            dtype = np.result_type(*(ds.dtypes[b - 1] for b in bands))
            scales, offsets = _reflectance(
                ds, bands, dtype, scale=scale, offset=offset, is_safe=is_safe, name=name
            )
            names = [_band_label(ds, b) for b in bands]
            nodata = (
                ds.nodatavals[bands[0] - 1],
                ds.nodatavals[bands[1] - 1],
                ds.nodatavals[bands[2] - 1],
            )
            driver = ds.driver
            flags = ds.mask_flag_enums[bands[0] - 1]
            gdal_mask = MaskFlags.alpha in flags or MaskFlags.per_dataset in flags
            cache_bytes = strip_cache_bytes(ds, bands, chunk_rows)
            full = _open_lazy(
                gdal_path, chunk_rows, all_bands=set(bands) == set(range(1, ds.count + 1))
            )
    except RasterioIOError as exc:
        raise NotARasterError(
            f"scene {name} is not a raster GDAL can read ({_first_line(exc)}); pass a "
            "GeoTIFF/COG/VRT/JP2 or a Sentinel-2 .SAFE folder, .zip or MTD xml"
        ) from None
    if mask is not None:
        mask = Path(mask).expanduser()  # as require_local and open_raster take it
        _check_mask(mask, grid)
    data: xr.DataArray = full.isel(band=[b - 1 for b in bands]).chunk({"band": -1})
    data = data.assign_coords(band_name=("band", names))
    data.attrs["long_name"] = tuple(names)
    return Scene(
        path=path,
        gdal_path=gdal_path,
        driver=driver,
        grid=grid,
        dtype=np.dtype(dtype),
        band_names=names,
        band_indexes=bands,
        nodata=nodata,
        gdal_mask=gdal_mask,
        radiometry=radiometry,
        scale=scales,
        offset=offsets,
        mask=mask,
        mask_values=None if mask_values is None else tuple(int(v) for v in mask_values),
        cache_bytes=cache_bytes,
        data=data,
        _reader=_PerThread(lambda stack: stack.enter_context(_quiet_open(gdal_path))),
        _mask_reader=None if mask is None else _PerThread(_open_mask(mask, grid)),
        _lut=_radiometry_lut(np.dtype(dtype), scales, offsets, radiometry.reflectance_max),
    )


__all__ = [
    "SAFE_DEFAULT_BANDS",
    "STRIP_CACHE_MAX",
    "STRIP_CACHE_MIN",
    "Scene",
    "open_scene",
    "strip_cache_bytes",
]
