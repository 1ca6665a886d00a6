"""Ancillary values for chips whose centres are known (the original file names end in
``__(+lat,lon).jpg``): the original's ancillary CSV computed from a DEM and climate grids.

centres     = :func:`read_chip_centres`  ``filename``, ``lat``, ``lon`` from names or a CSV
footprints  = :func:`chip_footprints`    the footprint ``predict`` would see: ``chip_size``
                                         pixels of ``pixel_size`` m centred on the point, in the
                                         point's UTM zone
values      = :func:`chip_ancillary`     :func:`lulcmap.ancillary.footprint_ancillary`'s means
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.warp import transform as transform_points

from lulcmap.ancillary import DEM_VARIABLES, footprint_ancillary
from lulcmap.compat.folders import PathLike, few, list_images, numeric_columns, read_csv
from lulcmap.compat.layout import IMAGES_FOLDER
from lulcmap.errors import ConfigError, CoverageError, InputDataError, InputNotFoundError
from lulcmap.io.climate import CLIMATE_VARIABLES, canonical_name
from lulcmap.io.rasters import extent, open_raster

log = logging.getLogger(__name__)

_CENTRE = re.compile(r"__\(\s*([+-]?\d+(?:\.\d*)?)\s*,\s*([+-]?\d+(?:\.\d*)?)\s*\)\.[^.]+$")
_LAT_NAMES, _LON_NAMES = ("lat", "latitude"), ("lon", "lng", "long", "longitude")


def centre_from_name(name: str) -> tuple[float, float] | None:
    """``(lat, lon)`` from the original file-name pattern ``…__(+lat,lon).jpg``, else None."""
    match = _CENTRE.search(name)
    return (float(match.group(1)), float(match.group(2))) if match else None


def _centres_from_names(names: list[str], where: str) -> pd.DataFrame:
    centres = [centre_from_name(n) for n in names]
    bad = [n for n, c in zip(names, centres, strict=True) if c is None]
    if bad:
        raise InputDataError(
            f"{len(bad)} file name(s) in {where} carry no centre: {few(bad)}; expected the "
            "original pattern …__(+lat,lon).jpg, or give a CSV with filename, lat and lon columns"
        )
    lat, lon = zip(*(c for c in centres if c is not None), strict=True)
    return pd.DataFrame({"filename": names, "lat": lat, "lon": lon})


def _pick_column(table: pd.DataFrame, names: Sequence[str]) -> str | None:
    lower = {c.lower(): c for c in table.columns}
    return next((lower[n] for n in names if n in lower), None)


def read_chip_centres(source: PathLike) -> pd.DataFrame:
    """``filename``, ``lat``, ``lon`` of each chip (degrees, WGS84), in the source's order.

    ``source`` is an images folder, the original layout's folder, or a CSV with ``filename``
    and ``lat``/``latitude`` and ``lon``/``longitude`` columns (without them, the CSV's
    file names must follow the original pattern ``…__(+lat,lon).jpg``).
    """
    path = Path(source)
    if not path.exists():
        raise InputNotFoundError(f"{path} does not exist; give an images folder or a CSV")
    if path.is_dir():
        folder = path / IMAGES_FOLDER if (path / IMAGES_FOLDER).is_dir() else path
        centres = _centres_from_names([p.name for p in list_images(folder)], str(folder))
    else:
        table = read_csv(path, what="chip CSV")
        if "filename" not in table.columns:
            raise InputDataError(
                f"chip CSV {path} lacks a filename column; it has {', '.join(table.columns)}; "
                "give filename, lat and lon columns"
            )
        if table.empty:
            raise InputDataError(f"chip CSV {path} has no rows; add one row per chip")
        lat, lon = _pick_column(table, _LAT_NAMES), _pick_column(table, _LON_NAMES)
        if lat is None or lon is None:
            centres = _centres_from_names(table["filename"].tolist(), path.name)
        else:
            centres = numeric_columns(table, [lat, lon], path, "filename")
            centres = centres.rename(columns={lat: "lat", lon: "lon"})
    _check_degrees(centres)
    return centres


def _check_degrees(centres: pd.DataFrame) -> None:
    off = ~(centres["lat"].abs().le(90) & centres["lon"].abs().le(180))
    if off.any():
        row = centres[off].iloc[0]
        raise InputDataError(
            f"chip {row['filename']} has lat {row['lat']}, lon {row['lon']}: not degrees "
            "(lat -90..90, lon -180..180, WGS84); check the order and the units"
        )


def utm_epsg(lat: float, lon: float) -> int:
    """EPSG code of the WGS84 UTM zone of a point (326xx north, 327xx south), with the
    Norway and Svalbard exceptions that Sentinel-2's tiling follows."""
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    if 56.0 <= lat < 64.0 and 3.0 <= lon < 12.0:
        zone = 32
    elif 72.0 <= lat < 84.0 and 0.0 <= lon < 42.0:
        zone = 31 if lon < 9 else 33 if lon < 21 else 35 if lon < 33 else 37
    return (32600 if lat >= 0 else 32700) + zone


def chip_footprints(
    centres: pd.DataFrame, *, chip_size: int = 224, pixel_size: float = 10.0
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per UTM zone (EPSG code): the row indexes and the footprints ``(n, 4)`` there."""
    if chip_size < 1 or pixel_size <= 0:
        raise ConfigError(
            f"--chip-size must be >= 1 and --pixel-size > 0, got {chip_size} and {pixel_size}"
        )
    lat, lon = centres["lat"].to_numpy(float), centres["lon"].to_numpy(float)
    epsg = np.array([utm_epsg(a, o) for a, o in zip(lat, lon, strict=True)])
    half = chip_size * pixel_size / 2.0
    zones = {}
    for code in np.unique(epsg):
        index = np.flatnonzero(epsg == code)
        to_utm = Transformer.from_crs("EPSG:4326", f"EPSG:{code}", always_xy=True)
        x, y = to_utm.transform(lon[index], lat[index])
        zones[int(code)] = (index, np.stack([x - half, y - half, x + half, y + half], axis=1))
    return zones


def _check_covered(
    path: PathLike, what: str, zones: Mapping[int, tuple[np.ndarray, np.ndarray]], names: list[str]
) -> None:
    """Every footprint lies inside the raster (within half a pixel); say which do not."""
    bad: list[int] = []
    with open_raster(path, what=what) as ds:
        left, bottom, right, top = extent(ds)
        hx, hy = abs(ds.transform.a) / 2, abs(ds.transform.e) / 2
        for code, (index, fp) in zones.items():
            xs = np.stack([fp[:, 0], fp[:, 2], fp[:, 0], fp[:, 2], fp[:, 0], fp[:, 2]], axis=1)
            mid = (fp[:, 1] + fp[:, 3]) / 2
            ys = np.stack([fp[:, 1], fp[:, 1], fp[:, 3], fp[:, 3], mid, mid], axis=1)
            tx, ty = transform_points(CRS.from_epsg(code), ds.crs, xs.ravel(), ys.ravel())
            tx, ty = np.reshape(tx, xs.shape), np.reshape(ty, ys.shape)
            out = (
                (tx.min(axis=1) < left - hx)
                | (tx.max(axis=1) > right + hx)
                | (ty.min(axis=1) < bottom - hy)
                | (ty.max(axis=1) > top + hy)
            )
            bad.extend(index[out].tolist())
    if bad:
        raise CoverageError(
            f"{what} {path} does not cover {len(bad)} of {len(names)} chip footprints: "
            f"{few([names[i] for i in sorted(bad)])}; supply a {what} that covers every chip "
            "(or leave those chips out)"
        )


def chip_ancillary(
    centres: pd.DataFrame,
    *,
    dem: PathLike,
    climate: Mapping[str, PathLike] | None = None,
    chip_size: int = 224,
    pixel_size: float = 10.0,
) -> pd.DataFrame:
    """The original ancillary CSV's table for chips centred on ``centres`` (lat/lon degrees).

    Columns: ``filename``, the climate variables given (original names and order; others after
    them), then ``elevation`` and ``slope`` (m and degrees, from ``dem``). Each value is the mean
    over the chip's footprint in its UTM zone, as ``predict`` computes it; NaN (an empty cell)
    where the footprint holds no valid data.
    """
    climate = {canonical_name(k): v for k, v in (climate or {}).items()}
    order = [c for c in CLIMATE_VARIABLES if c in climate]
    order += [c for c in climate if c not in order]
    variables = [*order, *DEM_VARIABLES]
    names = centres["filename"].tolist()
    zones = chip_footprints(centres, chip_size=chip_size, pixel_size=pixel_size)
    _check_covered(dem, "DEM", zones, names)
    for name, path in climate.items():
        _check_covered(path, f"climate grid {name}", zones, names)
    values = {v: np.full(len(centres), np.nan) for v in variables}
    for code, (index, fp) in zones.items():
        log.info("%d chips in EPSG:%d", len(index), code)
        means = footprint_ancillary(
            fp,
            CRS.from_epsg(code),
            variables=variables,
            dem=dem,
            climate=climate,
            pixel_size=pixel_size,
            chip_size=chip_size,
        )
        for v in variables:
            values[v][index] = means[v]
    table = pd.DataFrame({"filename": names, **values})
    for v in variables:
        empty = table.loc[table[v].isna(), "filename"].tolist()
        if empty:
            log.warning("%s: no valid data over %d chip(s): %s", v, len(empty), few(empty))
    return table


__all__ = [
    "centre_from_name",
    "chip_ancillary",
    "chip_footprints",
    "read_chip_centres",
    "utm_epsg",
]
