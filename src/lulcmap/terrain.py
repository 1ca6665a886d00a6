"""Terrain from a DEM: slope in degrees, with pixel distances in metres in any CRS."""

from __future__ import annotations

import numpy as np
import pyproj
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import CRSError

_WGS84 = (6378137.0, 6356752.314245179)  # semi-major, semi-minor axes (m)


def slope_degrees(
    dem: np.ndarray, transform: Affine, crs: CRS, *, nodata: np.ndarray | None = None
) -> np.ndarray:
    """Slope in degrees by central differences (``np.gradient``) with distances in metres.

    Projected CRS: pixel sizes times the CRS's linear unit. Geographic CRS: metres per degree
    on the CRS's ellipsoid at each row's latitude (``N cos(lat) pi/180`` east-west,
    ``M pi/180`` north-south). ``nodata`` (True = no data) and NaN cells, and cells next to
    them, get NaN. Computed in float32 for a float32 ``dem`` (a DEM's arrays are large; slope
    keeps 6 digits), in float64 otherwise.
    """
    z = np.asarray(dem)
    z = z if z.dtype in (np.float32, np.float64) else z.astype(np.float64)  # read only
    if nodata is not None:
        z = np.where(nodata, np.nan, z)
    dx, dy = _pixel_metres(transform, crs, z.shape[0])
    dz_dy = _diff(z, axis=0)
    dz_dy /= dy[:, None]
    dz_dx = _diff(z, axis=1)
    dz_dx /= dx[:, None]
    # In place (a DEM's arrays are large); no overflow to guard against, unlike np.hypot.
    dz_dx *= dz_dx
    dz_dy *= dz_dy
    dz_dx += dz_dy
    slope = np.sqrt(dz_dx, out=dz_dx)
    np.arctan(slope, out=slope)
    np.degrees(slope, out=slope)
    np.copyto(slope, np.nan, where=np.isnan(z))
    return slope


def _diff(z: np.ndarray, axis: int) -> np.ndarray:
    """Per-pixel derivative along ``axis``; zero when the axis has a single pixel."""
    return np.gradient(z, axis=axis) if z.shape[axis] > 1 else np.zeros_like(z)


def _ellipsoid(crs: CRS) -> tuple[float, float]:
    """Semi-major axis and squared eccentricity of the CRS's ellipsoid (WGS84 if unknown)."""
    ellipsoid = pyproj.CRS.from_user_input(crs.to_wkt()).ellipsoid
    a, b = (ellipsoid.semi_major_metre, ellipsoid.semi_minor_metre) if ellipsoid else _WGS84
    return a, 1.0 - (b / a) ** 2


def _pixel_metres(transform: Affine, crs: CRS, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel width and height in metres for each row, shape ``(rows,)`` each."""
    if crs.is_geographic:
        lat = np.radians(transform.f + (np.arange(rows) + 0.5) * transform.e)
        a, e2 = _ellipsoid(crs)
        w = 1.0 - e2 * np.sin(lat) ** 2
        n, m = a / np.sqrt(w), a * (1.0 - e2) / w**1.5
        return n * np.cos(lat) * np.radians(abs(transform.a)), m * np.radians(abs(transform.e))
    try:
        unit = float(crs.linear_units_factor[1])
    except CRSError:  # a CRS without a linear unit: take the coordinates as metres
        unit = 1.0
    return np.full(rows, abs(transform.a) * unit), np.full(rows, abs(transform.e) * unit)


__all__ = ["slope_degrees"]
