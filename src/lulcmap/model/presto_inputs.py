"""Presto's inputs for a batch of pixels: band matching, units, masks (pure numpy/torch).

Scene bands are matched by name onto Presto's Sentinel-2 channels (:data:`S2_BAND_NAMES`);
channels the scene lacks are masked by whole groups (a group of :data:`BAND_GROUPS` is masked
where any of its channels is missing; NDVI needs B8 and B4). Climate grids are converted to the
units Presto was trained on (:data:`CLIMATE_SOURCES`) or, when their meaning differs (an annual
total where the month's is expected), refused with a note so the caller masks the ERA5 group.

Units Presto expects (``lulcmap.model.presto.BANDS``), from the authors' Earth Engine export
(nasaharvest/presto pins openmapflow 0.2.1, which reads ``ECMWF/ERA5_LAND/MONTHLY``):

- S2 bands: reflectance x 10 000 (we take reflectance 0..1 and multiply).
- ``temperature_2m``: the month's mean 2 m air temperature in kelvin (K = °C + 273.15; the
  original then normalises with add −272.15, kept as is).
- ``total_precipitation``: ERA5-Land monthly-averaged precipitation, metres per day (the mean
  of the month's daily totals), so ``mm/month / 1000 / days_in_month``; ÷ 0.03 normalises.
- SRTM: elevation in m, slope in degrees (one token, from the first timestep). S1 is never given.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from numpy.typing import ArrayLike

from lulcmap.errors import BandSelectionError, InputDataError
from lulcmap.model.presto import BAND_GROUPS, BANDS, DW_UNKNOWN, normalise

S2_BAND_NAMES: dict[str, str] = {
    # Sentinel-2 band ids, any case, with or without the zero (B02 = b2), and GDAL's SENTINEL2
    # descriptions ("B4, central wavelength 665 nm" reads as B4): handled by _S2_ID below.
    # STAC EO extension common names (v1.0: blue ... swir22; v2.0 adds rededge071/075/078):
    "blue": "B2", "green": "B3", "red": "B4",
    "rededge071": "B5", "rededge075": "B6", "rededge078": "B7",
    "nir": "B8", "nir08": "B8A", "swir16": "B11", "swir22": "B12",
    # asset keys of Element 84 Earth Search's sentinel-2-l2a collection:
    "rededge1": "B5", "rededge2": "B6", "rededge3": "B7",
}  # fmt: skip
"""Band name (lower case) -> Sentinel-2 band. Not matched, as ambiguous or not used by Presto:
``rededge`` (B5, B6 or B7), ``coastal`` (B1), ``nir09`` (B9), ``cirrus`` (B10), ``pan``,
``yellow``, thermal bands, and Landsat band numbers (Landsat 8 ``B5`` is NIR, not red edge: name
Landsat bands by common name, e.g. ``nir08``)."""

PRESTO_S2 = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
"""The Sentinel-2 bands Presto takes (B1, B9 and B10 were dropped by the authors)."""

_S2_ID = re.compile(r"^B0*(\d{1,2}A?)$")
_GROUP_CHANNELS = {name: set(idx) for name, idx in BAND_GROUPS.items()}
_NDVI_NEEDS = {BANDS.index("B8"), BANDS.index("B4")}
_ERA5, _SRTM = tuple(BAND_GROUPS["ERA5"]), tuple(BAND_GROUPS["SRTM"])
_DN_LIMIT = 10.0  # reflectance above this is surely digital numbers, not 0..1 reflectance


def s2_band(name: str) -> str | None:
    """The Sentinel-2 band Presto calls ``name`` (``"B02"``, ``"nir"`` -> ``"B8"``), or None."""
    head = name.split(",")[0].strip()
    m = _S2_ID.match(head.upper())
    band = f"B{m.group(1)}" if m else S2_BAND_NAMES.get(head.lower())
    return band if band in PRESTO_S2 else None


def match_bands(names: Sequence[str]) -> dict[int, int]:
    """Presto channel (index into ``BANDS``) -> position in ``names`` of the scene band that
    feeds it. Names that match no Presto channel are left out.

    Raises:
        BandSelectionError: two names match the same channel.
    """
    out: dict[int, int] = {}
    for i, name in enumerate(names):
        band = s2_band(name)
        if band is None:
            continue
        channel = BANDS.index(band)
        if channel in out:
            raise BandSelectionError(
                f"bands {names[out[channel]]!r} and {name!r} are both Sentinel-2 {band}; "
                "keep one of them (or rename the other) so each Presto channel has one source"
            )
        out[channel] = i
    return out


class PrestoClimate(NamedTuple):
    """A climate grid in Presto's units, or ``values=None`` and a ``note`` saying why not."""

    channel: str | None  # "temperature_2m" | "total_precipitation" | None (not a Presto input)
    values: np.ndarray | None
    note: str | None


# (channel, unit, period) -> (scale, offset, divide by days_in_month): presto = v*scale+offset
CLIMATE_SOURCES: dict[tuple[str, str, str], tuple[float, float, bool]] = {
    ("temperature_2m", "degC", "month"): (1.0, 273.15, False),  # the month's mean, °C
    ("temperature_2m", "K", "month"): (1.0, 0.0, False),
    ("total_precipitation", "mm/month", "month"): (1e-3, 0.0, True),  # the month's total
    ("total_precipitation", "mm/day", "month"): (1e-3, 0.0, False),  # the month's daily mean
    ("total_precipitation", "m/day", "month"): (1.0, 0.0, False),  # ERA5-Land monthly as is
}
"""Climate grids Presto's ERA5 channels accept: both must describe the scene's month. An annual
mean temperature (WorldClim ``bio_1``, lulcmap's default ``temp_ave``) or an annual total
precipitation in mm/year (``bio_12``) is refused: the ERA5 group is then masked."""

_CHANNEL_OF = {
    **dict.fromkeys(("temp_ave", "tavg", "tmean", "tas", "t2m", "temperature_2m"),
                    "temperature_2m"),
    **dict.fromkeys(("precipitation", "prec", "pr", "ppt", "tp", "total_precipitation"),
                    "total_precipitation"),
    **dict.fromkeys(("bio1", "bio_1"), "temperature_2m"),  # annual by definition
    **dict.fromkeys(("bio12", "bio_12"), "total_precipitation"),
}  # fmt: skip
_UNITS = {"degc": "degC", "°c": "degC", "c": "degC", "celsius": "degC", "k": "K", "kelvin": "K",
          "mm": "mm", "mm/month": "mm/month", "mm/year": "mm/year", "mm/yr": "mm/year",
          "mm/day": "mm/day", "m/day": "m/day"}  # fmt: skip


def climate_to_presto(
    name: str,
    values: ArrayLike,
    *,
    unit: str,
    period: str | None = None,
    days_in_month: int | None = None,
) -> PrestoClimate:
    """A climate grid (lulcmap name or synonym, e.g. ``temp_ave``) in Presto's units.

    ``period`` says what the values cover: ``"month"`` (the scene's month) or ``"year"``; a
    unit ending in ``/year``, ``/month`` or ``/day`` implies it, as do ``bio_1``/``bio_12``.
    Anything :data:`CLIMATE_SOURCES` does not list comes back as ``values=None`` with a note.
    """
    key = re.sub(r"[\s-]+", "_", name.strip().lower())
    channel = _CHANNEL_OF.get(key)
    if channel is None:
        return PrestoClimate(None, None, f"{name} is not one of Presto's ERA5 inputs; not used")
    u = _UNITS.get(unit.strip().lower().replace(" ", ""), unit)
    if key.startswith("bio") or u == "mm/year":
        period = "year"
    elif u in ("mm/month", "mm/day", "m/day"):
        period = period or "month"
    if u == "mm" and period == "month":
        u = "mm/month"
    rule = CLIMATE_SOURCES.get((channel, u, period or "?"))
    if rule is None:
        what = {"year": "an annual value", None: "of unknown period"}.get(period, f"per {period}")
        return PrestoClimate(channel, None, (
            f"{name} ({unit}, {what}) does not match Presto's {channel} (the scene month's "
            f"{'mean temperature' if channel == 'temperature_2m' else 'precipitation'}); ERA5 is "
            "masked. Give a monthly grid (e.g. WorldClim tavg_MM / prec_MM) and period='month'"
        ))  # fmt: skip
    scale, offset, per_day = rule
    out = np.asarray(values, dtype=np.float64) * scale + offset
    if per_day:
        if not days_in_month or not 28 <= days_in_month <= 31:
            raise InputDataError(f"days_in_month must be 28..31 for mm/month, got {days_in_month}")
        out = out / days_in_month
    return PrestoClimate(channel, out, None)


@dataclass(frozen=True)
class PixelInputs:
    """One batch of Presto inputs (``valid`` False: a pixel the caller must drop)."""

    x: torch.Tensor  # [P, T, 17] normalised float32
    mask: torch.Tensor  # [P, T, 17] float32, 1 = missing
    dynamic_world: torch.Tensor  # [P, T] int64, all DW_UNKNOWN
    latlons: torch.Tensor  # [P, 2] float32 degrees
    month: torch.Tensor  # [P] int64, first timestep's month, 0 = January
    valid: np.ndarray  # [P] bool: every given input finite
    masked_groups: tuple[str, ...]  # groups masked for the whole batch

    def model_inputs(self) -> dict[str, torch.Tensor]:
        """Keyword arguments of ``PrestoEncoder.forward`` / ``Presto.forward``."""
        return {"x": self.x, "mask": self.mask, "dynamic_world": self.dynamic_world,
                "latlons": self.latlons, "month": self.month}  # fmt: skip


def _steps(values: ArrayLike, p: int, t: int, what: str) -> np.ndarray:
    """(P,) or (P, T) -> (P, T) float64."""
    v = np.asarray(values, dtype=np.float64)
    if v.shape == (p,):
        v = np.repeat(v[:, None], t, axis=1)
    if v.shape != (p, t):
        raise InputDataError(f"{what} must have shape ({p},) or ({p}, {t}), got {v.shape}")
    return v


def _era5_from(
    temperature_c: ArrayLike, precipitation_mm_month: ArrayLike,
    days_in_month: int | Sequence[int] | None, p: int, t: int,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Temperature K and precipitation m/day, (P, T) each."""
    days = np.broadcast_to(np.asarray(days_in_month if days_in_month is not None else 0), (t,))
    if np.any((days < 28) | (days > 31)):
        raise InputDataError(f"days_in_month must be 28..31 (one per timestep): {days_in_month}")
    kelvin = _steps(temperature_c, p, t, "temperature_c") + 273.15
    return kelvin, _steps(precipitation_mm_month, p, t, "precipitation_mm_month") / 1e3 / days


def _missing_groups(present: set[int], climate: bool, dem: bool) -> tuple[str, ...]:
    """Groups to mask: a group whose channels are not all present; NDVI without B8 and B4."""
    have = set(present) | (set(_ERA5) if climate else set()) | (set(_SRTM) if dem else set())
    groups = [g for g, idx in _GROUP_CHANNELS.items() if g != "NDVI" and not idx <= have]
    if not have >= _NDVI_NEEDS:
        groups.append("NDVI")
    return tuple(groups)


def assemble(
    reflectance: ArrayLike,
    band_map: dict[int, int],
    *,
    lat: ArrayLike,
    lon: ArrayLike,
    month0: int | ArrayLike,
    elevation: ArrayLike | None = None,
    slope: ArrayLike | None = None,
    temperature_c: ArrayLike | None = None,
    precipitation_mm_month: ArrayLike | None = None,
    days_in_month: int | Sequence[int] | None = None,
    era5: tuple[ArrayLike, ArrayLike] | None = None,
) -> PixelInputs:
    """Presto's inputs for ``P`` pixels.

    ``reflectance`` (P, bands) or (P, T, bands): surface or top-of-atmosphere reflectance 0..1
    (digital numbers / 10 000), columns as the scene orders them; ``band_map`` from
    :func:`match_bands`. ``elevation`` m and ``slope`` degrees (P,); ``temperature_c`` the
    month's mean air temperature in °C and ``precipitation_mm_month`` the month's total in mm,
    (P,) or (P, T); or ``era5`` = (K, m/day) as :func:`climate_to_presto` gives them. A missing DEM
    masks SRTM, missing climate masks ERA5; S1 is always masked; Dynamic World is unknown.
    ``month0`` is the first timestep's month (0 = January). Pixels with a non-finite input get
    ``valid`` False and zeros (finite) in ``x``: drop them from any mean.
    """
    refl = np.asarray(reflectance, dtype=np.float64)
    if refl.ndim == 2:
        refl = refl[:, None, :]
    if refl.ndim != 3:
        raise InputDataError(f"reflectance must be (P, bands) or (P, T, bands), got {refl.shape}")
    p, t, nb = refl.shape
    if any(not 0 <= col < nb for col in band_map.values()):
        raise InputDataError(f"band_map {band_map} points past the {nb} reflectance columns")
    used = refl[..., list(band_map.values())]
    finite_max = np.nanmax(np.where(np.isfinite(used), used, np.nan), initial=0.0)
    if finite_max > _DN_LIMIT:
        raise InputDataError(
            f"reflectance must be 0..1, got values up to {finite_max:g}; these look like digital "
            "numbers: divide by 10 000 (or the product's quantification value) first"
        )
    raw = np.zeros((p, t, len(BANDS)))
    for channel, col in band_map.items():
        raw[..., channel] = refl[..., col] * 1e4
    if era5 is not None and (temperature_c is not None or precipitation_mm_month is not None):
        raise InputDataError("give era5 or temperature_c/precipitation_mm_month, not both")
    if era5 is None and temperature_c is not None and precipitation_mm_month is not None:
        era5 = _era5_from(temperature_c, precipitation_mm_month, days_in_month, p, t)
    if era5 is not None:
        raw[..., _ERA5[0]] = _steps(era5[0], p, t, "temperature")
        raw[..., _ERA5[1]] = _steps(era5[1], p, t, "precipitation")
    if has_dem := (elevation is not None and slope is not None):
        raw[..., _SRTM[0]] = _steps(elevation, p, t, "elevation")
        raw[..., _SRTM[1]] = _steps(slope, p, t, "slope")
    latlons = np.stack([np.broadcast_to(lat, (p,)), np.broadcast_to(lon, (p,))], 1).astype(float)
    valid = np.isfinite(raw).all(axis=(1, 2)) & np.isfinite(latlons).all(axis=1)
    raw[~valid], latlons[~valid] = 0.0, 0.0
    groups = _missing_groups(set(band_map), era5 is not None, has_dem)
    mask = np.zeros((p, t, len(BANDS)), dtype=np.float32)
    for g in groups:
        mask[..., list(BAND_GROUPS[g])] = 1.0
    x = normalise(raw.astype(np.float32)) * torch.from_numpy(1.0 - mask)
    months = np.broadcast_to(np.asarray(month0, dtype=np.int64), (p,))
    if months.size and (months.min() < 0 or months.max() > 11):
        raise InputDataError(f"month0 must be 0 (January) .. 11, got {month0!r}")
    return PixelInputs(
        x=x,
        mask=torch.from_numpy(mask),
        dynamic_world=torch.full((p, t), DW_UNKNOWN, dtype=torch.long),
        latlons=torch.from_numpy(latlons.astype(np.float32)),
        month=torch.from_numpy(months.copy()),
        valid=valid,
        masked_groups=groups,
    )


__all__ = [
    "CLIMATE_SOURCES",
    "PRESTO_S2",
    "S2_BAND_NAMES",
    "PixelInputs",
    "PrestoClimate",
    "assemble",
    "climate_to_presto",
    "match_bands",
    "s2_band",
]
