"""Read a scene lazily and turn it into the model's 8-bit radiometry, one strip of rows at a time.

Accepted inputs: any GDAL raster (GeoTIFF, COG, VRT, JP2, ...) and Sentinel-2 L2A/L1C products: a
``.SAFE`` folder, a ``.zip`` of one, or its ``MTD_MSIL2A.xml`` / ``MTD_MSIL1C.xml``
(:mod:`lulcmap.io.safe`). :func:`open_scene` resolves once what the scene is: which bands are red,
green and blue (:mod:`lulcmap.io.bands`), the per-band reflectance scale and offset
(:mod:`lulcmap.io.radiometry`), what marks a pixel invalid (:mod:`lulcmap.io.masks`) and the
block cache it is read with (:func:`lulcmap.io.env.strip_cache_bytes`). :meth:`Scene.warped`
reads the same scene, with all of that, on another grid (:mod:`lulcmap.io.warp`).

``open_scene(..., output="reflectance")`` keeps every band of the scene (named by description,
or by ``band_names`` position by position) and reads them as float32 reflectance 0..1 instead of
the card's 8-bit RGB: what a pixel encoder takes (:mod:`lulcmap.pixels`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import dask
import numpy as np
import xarray as xr
from rasterio.enums import MaskFlags, Resampling
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

from lulcmap.errors import InputDataError, LulcmapError, NotARasterError
from lulcmap.grid import Grid
from lulcmap.io.bands import name_bands, select_bands
from lulcmap.io.env import (
    PerThread,
    bounded_cache_bytes,
    gdal_env,
    quiet_open,
    strip_block_bytes,
    strip_cache_bytes,
)
from lulcmap.io.lazy import open_lazy, warped_opener, windowed
from lulcmap.io.masks import check_mask, mask_opener, validity
from lulcmap.io.radiometry import (
    radiometry_lut,
    reflectance_coefficients,
    to_reflectance,
    to_uint8,
)
from lulcmap.io.safe import first_line, resolve_dataset

if TYPE_CHECKING:
    from rasterio.io import DatasetReader

    from lulcmap.model.card import Radiometry


@dataclass(frozen=True, eq=False)
class Scene:
    """An opened scene: its grid, the three bands chosen as red, green, blue, and how to read them.

    Attributes:
        path: what the caller passed; ``gdal_path`` is the dataset GDAL reads (a subdataset for
            Sentinel-2 products).
        grid: the grid the scene is read on; ``source_grid`` the dataset's own (they differ
            when the scene is :meth:`warped`, ``resampling`` then says how).
        dtype: data type of the chosen bands.
        band_names: the chosen bands' names, red, green, blue (e.g. ``["B4", "B3", "B2"]``).
        band_indexes: their 1-based band numbers.
        scale, offset: per band, reflectance = DN * scale + offset (offset in reflectance units);
            ``None`` for 8-bit scenes, which are used as they are.
        cache_bytes: the GDAL block cache :meth:`read_strip` reads with
            (:func:`~lulcmap.io.env.strip_cache_bytes`).
        data: the chosen bands as a lazy, dask-backed ``(band, y, x)`` DataArray of raw values on
            ``grid``, ``chunk_rows`` rows per chunk.
    """

    path: str | Path
    gdal_path: str
    driver: str
    grid: Grid
    source_grid: Grid
    dtype: np.dtype
    band_names: list[str]
    band_indexes: tuple[int, ...]
    nodata: tuple[float | None, ...]
    gdal_mask: bool
    radiometry: Radiometry
    scale: tuple[float, ...] | None
    offset: tuple[float, ...] | None
    mask: Path | None
    mask_values: tuple[int, ...] | None
    cache_bytes: int
    chunk_rows: int
    data: xr.DataArray = field(repr=False)
    _reader: PerThread = field(repr=False)
    _mask_reader: PerThread | None = field(repr=False)
    resampling: Resampling | None = None
    _lut: np.ndarray | None = field(default=None, repr=False)
    output: Literal["uint8", "reflectance"] = "uint8"
    """``uint8``: the three RGB bands in the card's radiometry; ``reflectance``: every band as
    float32 reflectance 0..1 (0 where invalid)."""
    tags: dict[str, str] = field(default_factory=dict, repr=False)
    """The dataset's metadata tags (acquisition date, lulcmap's synthetic-world mark...)."""

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
            # The pixels come through the dask array (chunks of whole chip rows), computed in the
            # calling thread (the engine already reads in a background thread of its own; the
            # scheduler is passed, not set globally, so concurrent callers do not race), with
            # lulcmap's GDAL settings and a block cache that keeps the blocks straddling two
            # strips (:func:`~lulcmap.io.env.strip_cache_bytes`).
            strip = self.data[:, row_off : row_off + height, :].data
            (dn,) = dask.compute(strip, scheduler="synchronous")
            ds = self._reader.get() if self.gdal_mask else None
            alpha = ds.read_masks(self.band_indexes[0], window=window) if ds else None
            labels = self._mask_reader.get().read(1, window=window) if self._mask_reader else None
        valid = validity(dn, self.nodata, alpha=alpha, labels=labels, mask_values=self.mask_values)
        if self.output == "reflectance":
            return self._to_reflectance(dn, valid), valid
        return self._to_uint8(dn, valid), valid

    def _to_reflectance(self, dn: np.ndarray, valid: np.ndarray) -> np.ndarray:
        return to_reflectance(
            dn,
            valid,
            scale=self.scale,
            offset=self.offset,
            reflectance_max=self.radiometry.reflectance_max,
        )

    def convert(self, dn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw values ``(3, h, w)`` of the chosen bands -> ``(rgb uint8, valid)`` as ``read_strip``.

        For data read elsewhere (e.g. a chip of :attr:`data`). Validity comes from the values
        alone (nodata, all-zero fill, NaN); the alpha band and the mask raster need
        :meth:`read_strip`.
        """
        valid = validity(dn, self.nodata)
        return self._to_uint8(dn, valid), valid

    def _to_uint8(self, dn: np.ndarray, valid: np.ndarray) -> np.ndarray:
        return to_uint8(
            dn,
            valid,
            scale=self.scale,
            offset=self.offset,
            reflectance_max=self.radiometry.reflectance_max,
            lut=self._lut,
        )

    def warped(self, grid: Grid, *, resampling: Resampling | None = None) -> Scene:
        """This scene read on ``grid``: GDAL resamples each strip as it is read (a warped VRT
        in memory, one per thread), so memory stays that of a strip.

        The raw values are resampled, then the same bands, per-band scale and offset, nodata,
        alpha and mask raster (warped onto ``grid``, nearest) apply, so the chips are in the
        same radiometry as the original's. ``resampling``: by default bilinear onto finer pixels
        (no overshoot, so the stretch sees no values the scene does not have), average onto
        coarser ones. A warped scene warped again is read from its source, not resampled twice.
        """
        if resampling is None:
            finer = grid.res[0] < self.source_grid.res[0]
            resampling = Resampling.bilinear if finer else Resampling.average
        opener = warped_opener(self.gdal_path, grid, resampling)
        bands = self.band_indexes
        with gdal_env(), ExitStack() as stack:
            vrt = opener(stack)
            flags = vrt.mask_flag_enums[bands[0] - 1]
            nodata = tuple(vrt.nodatavals[b - 1] for b in bands)
            # the warper caches the source blocks the strip's rows come from, and its own blocks
            rows = math.ceil(self.chunk_rows * grid.res[1] / self.source_grid.res[1]) + 2
            need = strip_block_bytes(vrt.src_dataset, bands, rows)
            need += strip_block_bytes(vrt, bands, self.chunk_rows)
            cache = bounded_cache_bytes(need, name=self.gdal_path, rows=self.chunk_rows)
        reader = PerThread(opener)
        return dataclasses.replace(
            self,
            grid=grid,
            nodata=nodata,
            gdal_mask=MaskFlags.alpha in flags or MaskFlags.per_dataset in flags,
            cache_bytes=cache,
            data=windowed(reader, grid, self.data, self.chunk_rows),
            _reader=reader,
            _mask_reader=None if self.mask is None else PerThread(mask_opener(self.mask, grid)),
            resampling=resampling,
        )

    def describe(self) -> dict[str, object]:
        """What was read and how, for the run record."""
        return {
            "path": str(self.path),
            "gdal_path": self.gdal_path,
            "driver": self.driver,
            "width": self.grid.width,
            "height": self.grid.height,
            "dtype": str(self.dtype),
            "bands": (
                {"names": list(self.band_names), "indexes": list(self.band_indexes)}
                if self.output == "reflectance"
                else {
                    "red": self.band_names[0],
                    "green": self.band_names[1],
                    "blue": self.band_names[2],
                    "indexes": list(self.band_indexes),
                }
            ),
            "radiometry": self._radiometry_text(),
            "reflectance_max": self.radiometry.reflectance_max,
            "scale": None if self.scale is None else list(self.scale),
            "offset_reflectance": None if self.offset is None else list(self.offset),
            "nodata": list(self.nodata),
            "alpha_or_internal_mask": self.gdal_mask,
            "crs": self.grid.crs.to_string(),
            "pixel_size": list(self.grid.res),
            "transform": list(self.grid.transform)[:6],
            "resampling": None if self.resampling is None else self.resampling.name,
            "mask": None if self.mask is None else str(self.mask),
            "mask_values": None if self.mask_values is None else list(self.mask_values),
            "gdal_cache_mb": round(self.cache_bytes / 2**20, 1),
        }

    def _radiometry_text(self) -> str:
        if self.output == "reflectance":
            if self.scale is None:
                return "reflectance 0..1 from 8-bit values (value / 255 * reflectance_max)"
            return "reflectance 0..1 (DN * scale + offset)"
        return "8-bit, used as is" if self.scale is None else "reflectance stretch"

    def close(self) -> None:
        """Close the GDAL handles ``read_strip`` opened (they reopen if it is called again)."""
        self._reader.close()
        if self._mask_reader is not None:
            self._mask_reader.close()

    def __enter__(self) -> Scene:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


SYNTHETIC_TAG = "LULCMAP_SYNTHETIC_WORLD"
"""Tag :func:`lulcmap.synthetic.write_world` puts on the scenes it writes."""


def raster_tags(path: str | Path) -> dict[str, str]:
    """The dataset tags of the raster or product at ``path``; empty when it cannot be opened
    (opening it properly reports why)."""
    try:
        gdal_path, _ = resolve_dataset(path)
        with gdal_env(), quiet_open(gdal_path) as ds:
            return dict(ds.tags())
    except (LulcmapError, RasterioIOError, OSError):
        return {}


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
    output: Literal["uint8", "reflectance"] = "uint8",
    band_names: Sequence[str] | None = None,
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
        output: ``reflectance`` keeps every band, read as float32 reflectance 0..1
            (``rgb_bands`` does not apply); ``uint8`` (default) the RGB chips of the radiometry.
        band_names: with ``reflectance``, the bands' names by position (e.g. ``B02,B03,B04,B08``)
            for a file without band descriptions; default: the descriptions (``band1``... if none).

    Raises:
        InputNotFoundError, NotARasterError, MissingCRSError, InputDataError (not north-up),
        BandSelectionError, ConfigError (bad scale/offset), CoverageError (mask off the scene).
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    gdal_path, is_safe = resolve_dataset(path)
    name = str(path)
    try:
        with gdal_env(), quiet_open(gdal_path) as ds:
            if ds.count == 0:
                subs = ", ".join(ds.subdatasets[:3]) or "none"
                raise NotARasterError(
                    f"scene {name} holds no raster bands (subdatasets: {subs}); "
                    "pass one subdataset, e.g. the first listed"
                )
            grid = _scene_grid(ds, name)
            if output == "reflectance":
                bands = tuple(range(1, ds.count + 1))
            else:
                bands = select_bands(ds, rgb_bands, is_safe=is_safe, name=name)
            dtype = np.result_type(*(ds.dtypes[b - 1] for b in bands))
            scales, offsets = reflectance_coefficients(
                ds, bands, dtype, scale=scale, offset=offset, is_safe=is_safe, name=name
            )
            names = name_bands(ds, bands, band_names, name=name)
            nodata = tuple(ds.nodatavals[b - 1] for b in bands)
            tags = dict(ds.tags())
            driver = ds.driver
            flags = ds.mask_flag_enums[bands[0] - 1]
            gdal_mask = MaskFlags.alpha in flags or MaskFlags.per_dataset in flags
            cache_bytes = strip_cache_bytes(ds, bands, chunk_rows)
            full = open_lazy(
                gdal_path, chunk_rows, all_bands=set(bands) == set(range(1, ds.count + 1))
            )
    except RasterioIOError as exc:
        raise NotARasterError(
            f"scene {name} is not a raster GDAL can read ({first_line(exc)}); pass a "
            "GeoTIFF/COG/VRT/JP2 or a Sentinel-2 .SAFE folder, .zip or MTD xml"
        ) from None
    if mask is not None:
        mask = Path(mask).expanduser()  # as require_local and open_raster take it
        check_mask(mask, grid)
    data: xr.DataArray = full.isel(band=[b - 1 for b in bands]).chunk({"band": -1})
    data = data.assign_coords(band_name=("band", names))
    data.attrs["long_name"] = tuple(names)
    return Scene(
        path=path,
        gdal_path=gdal_path,
        driver=driver,
        grid=grid,
        source_grid=grid,
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
        chunk_rows=chunk_rows,
        data=data,
        _reader=PerThread(lambda stack: stack.enter_context(quiet_open(gdal_path))),
        _mask_reader=None if mask is None else PerThread(mask_opener(mask, grid)),
        _lut=None
        if output == "reflectance"
        else radiometry_lut(np.dtype(dtype), scales, offsets, radiometry.reflectance_max),
        output=output,
        tags=tags,
    )


__all__ = ["SYNTHETIC_TAG", "Scene", "open_scene", "raster_tags"]
