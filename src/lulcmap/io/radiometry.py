"""A scene's values -> the model card's 8-bit radiometry (:class:`~lulcmap.model.card.Radiometry`).

8-bit scenes are taken as already in it; other scenes are reflectance ``r = DN * scale + offset``
(per band) mapped to ``clip(round(r / reflectance_max * 255), 1, 255)``; 16-bit DN go through a
65536-entry table built with that very formula (exact, and ~4x faster than computing it). 0 marks
invalid pixels.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from lulcmap.errors import ConfigError

if TYPE_CHECKING:
    from rasterio.io import DatasetReader

logger = logging.getLogger(__name__)

INTEGER_DN_SCALE = 1e-4
"""Default scale of integer scenes: Sentinel-2 L1C/L2A digital numbers are reflectance x 10000."""

Coefficients = tuple[tuple[float, ...], tuple[float, ...]] | tuple[None, None]
"""Per-band ``(scale, offset)``, or ``(None, None)`` for 8-bit scenes."""


def _check_user_values(scale: float | None, offset: float | None) -> None:
    for label, value in (("scale", scale), ("offset", offset)):
        if value is not None and not math.isfinite(value):
            raise ConfigError(f"{label} must be a finite number, got {value}; e.g. --offset -0.1")
    if scale is not None and scale <= 0:
        raise ConfigError(f"scale must be positive, got {scale}; e.g. --scale 0.0001")


def reflectance_coefficients(
    ds: DatasetReader,
    bands: tuple[int, ...],
    dtype: np.dtype,
    *,
    scale: float | None,
    offset: float | None,
    is_safe: bool,
    name: str,
) -> Coefficients:
    """Per-band ``(scale, offset)`` giving reflectance, or ``(None, None)`` for 8-bit scenes.

    ``scale``/``offset`` given by the user win; else a Sentinel-2 product's quantification value
    and per-band BOA_ADD_OFFSET/RADIO_ADD_OFFSET; else the bands' declared GDAL scale/offset;
    else :data:`INTEGER_DN_SCALE` (1 for float data) and 0.
    """
    if dtype == np.uint8:
        if scale is not None or offset is not None:
            raise ConfigError(
                f"scene {name} is 8-bit and taken as already in the model's radiometry, so "
                "scale/offset do not apply; drop --scale/--offset or pass the reflectance scene"
            )
        return None, None
    _check_user_values(scale, offset)
    idx = [b - 1 for b in bands]
    declared = any(ds.scales[i] != 1.0 or ds.offsets[i] != 0.0 for i in idx)
    tags = ds.tags() if is_safe else {}
    quant = float(tags.get("BOA_QUANTIFICATION_VALUE") or tags.get("QUANTIFICATION_VALUE") or 1e4)
    scales: tuple[float, ...]
    offsets: tuple[float, ...]
    if scale is not None:
        scales = (float(scale),) * len(bands)
    elif is_safe:
        scales = (1.0 / quant,) * len(bands)
    elif declared:
        scales = tuple(float(ds.scales[i]) for i in idx)
    else:
        scales = (INTEGER_DN_SCALE if np.issubdtype(dtype, np.integer) else 1.0,) * len(bands)
    if offset is not None:
        offsets = (float(offset),) * len(bands)
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
        offsets = (0.0,) * len(bands)
    return scales, offsets


def _safe_offset(band_tags: dict[str, str], quant: float) -> float:
    """The band's -1000 DN offset (processing baseline >= 04.00), in reflectance units."""
    value = band_tags.get("BOA_ADD_OFFSET") or band_tags.get("RADIO_ADD_OFFSET")
    return float(value) / quant if value else 0.0


_LUT_ROWS = 16
"""Rows per table lookup: keeps numpy's index buffer in cache (measured ~20 % faster)."""


def stretch(
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


def radiometry_lut(
    dtype: np.dtype, scale: Sequence[float] | None, offset: Sequence[float] | None, rmax: float
) -> np.ndarray | None:
    """For 16-bit integer DN, the uint8 value of every possible DN, ``(3, 65536)``; else None.

    Indexed by the DN's uint16 bit pattern (``dn.view(np.uint16)``), so int16 works too. Built
    with :func:`stretch` itself, so a lookup equals the float64 formula exactly, at a fraction of
    its cost (a 10980 x 10980 tile: ~0.3 s instead of ~1.1 s on one core).
    """
    if scale is None or offset is None or dtype not in (np.dtype(np.uint16), np.dtype(np.int16)):
        return None
    values = np.arange(65536, dtype=np.uint16).view(dtype)
    dn = np.broadcast_to(values, (3, 1, 65536))
    return np.ascontiguousarray(stretch(dn, scale, offset, rmax)[:, 0].astype(np.uint8))


def to_uint8(
    dn: np.ndarray,
    valid: np.ndarray,
    *,
    scale: Sequence[float] | None,
    offset: Sequence[float] | None,
    reflectance_max: float,
    lut: np.ndarray | None = None,
) -> np.ndarray:
    """Raw values ``(3, h, w)`` -> uint8 in the card's radiometry, 0 where ``valid`` is False.

    ``scale``/``offset`` None: 8-bit values used as they are (at least 1). ``lut``: the
    :func:`radiometry_lut` of 16-bit DN, one exact table lookup per pixel.
    """
    if scale is None or offset is None:
        rgb = np.maximum(dn, 1).astype(np.uint8, copy=False)
    elif lut is not None:
        rgb = np.empty(dn.shape, np.uint8)
        index = dn.view(np.uint16)  # int16 tables are laid out in uint16 bit order
        for b in range(3):
            for r in range(0, dn.shape[1], _LUT_ROWS):
                np.take(lut[b], index[b, r : r + _LUT_ROWS], out=rgb[b, r : r + _LUT_ROWS])
    else:
        refl = stretch(dn, scale, offset, reflectance_max)
        refl[:, ~valid] = 0  # 0 marks invalid pixels; also clears NaN before the cast
        return refl.astype(np.uint8)
    np.multiply(rgb, valid, out=rgb)  # 0 marks invalid pixels
    return rgb


def to_reflectance(
    dn: np.ndarray,
    valid: np.ndarray,
    *,
    scale: Sequence[float] | None,
    offset: Sequence[float] | None,
    reflectance_max: float,
) -> np.ndarray:
    """Raw values ``(bands, h, w)`` -> float32 reflectance ``DN * scale + offset``, 0 where
    ``valid`` is False. 8-bit values (``scale`` None) are taken as the card's stretch and
    inverted: ``value / 255 * reflectance_max``."""
    refl = dn.astype(np.float32)
    if scale is None or offset is None:
        refl *= np.float32(reflectance_max / 255.0)
    else:
        refl *= np.asarray(scale, np.float32)[:, None, None]
        refl += np.asarray(offset, np.float32)[:, None, None]
    refl[:, ~valid] = 0.0
    return refl


__all__ = [
    "INTEGER_DN_SCALE",
    "radiometry_lut",
    "reflectance_coefficients",
    "stretch",
    "to_reflectance",
    "to_uint8",
]
