"""Which three bands of a scene are red, green and blue.

Bands are named by 1-based number (``"3,2,1"``), by description (``"B04,B03,B02"``; ``B4`` ==
``B04``, and ``B4, central wavelength 665 nm`` is ``B4``), by ``BANDNAME`` tag, or by colour
interpretation (``red``, ``green``, ``blue``). 3-band 8-bit scenes and Sentinel-2 products need
no choice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from rasterio.enums import ColorInterp

from lulcmap.errors import BandSelectionError

if TYPE_CHECKING:
    from rasterio.io import DatasetReader

SAFE_DEFAULT_BANDS = ("B4", "B3", "B2")

_S2_BAND = re.compile(r"^B0*(\d+A?)$")
_RGB_INTERP = {"RED": ColorInterp.red, "GREEN": ColorInterp.green, "BLUE": ColorInterp.blue}


def _key(name: str) -> str:
    """Canonical band key: 'B04' and 'B4, central wavelength 665 nm' both give 'B4'."""
    head = name.split(",")[0].strip().upper()
    m = _S2_BAND.match(head)
    return f"B{m.group(1)}" if m else head


def band_label(ds: DatasetReader, i: int) -> str:
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


def select_bands(
    ds: DatasetReader, rgb_bands: str | Sequence[int | str] | None, *, is_safe: bool, name: str
) -> tuple[int, int, int]:
    """The 1-based numbers of the red, green and blue bands of ``ds``.

    Without ``rgb_bands``: B4, B3, B2 of a Sentinel-2 product; the red, green and blue colour
    interpretations of an 8-bit scene; bands 1, 2, 3 of a 3-band 8-bit scene; else an error.
    """
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


def name_bands(
    ds: DatasetReader, bands: Sequence[int], names: Sequence[str] | None, *, name: str
) -> list[str]:
    """The names of ``bands``: ``names`` given by position (``--bands B02,B03,B04,B08``, one per
    band of the file), else each band's description (:func:`band_label`)."""
    if names is None:
        return [band_label(ds, b) for b in bands]
    given = [n.strip() for n in names]
    if len(given) != ds.count or not all(given):
        raise BandSelectionError(
            f"--bands names {len(given)} band(s) ({', '.join(given)}) but scene {name} has "
            f"{ds.count} ({_listing(ds)}); give one name per band, in order, e.g. "
            f"--bands {','.join(['B02', 'B03', 'B04', 'B08'][: ds.count])}"
        )
    return [given[b - 1] for b in bands]


__all__ = ["SAFE_DEFAULT_BANDS", "band_label", "name_bands", "select_bands"]
