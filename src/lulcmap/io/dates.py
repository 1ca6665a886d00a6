"""A scene's acquisition date, from its tags or its file name; a user's ``--date``.

Pure: the caller passes the raster's tags (``dataset.tags()``), nothing is opened here.

Tags, first found wins: ``ACQUISITION_TIME`` (eo-learn exports),
``DATATAKE_1_DATATAKE_SENSING_START`` and ``PRODUCT_START_TIME`` (GDAL's SENTINEL2 driver),
``DATE_ACQUIRED`` (Landsat MTL), each
``YYYY-MM-DD[THH:MM:SS…]``. Then the file name, then its folders (nearest first), in these forms:

==========================  =============================================================
``YYYYMMDDTHHMMSS``         Sentinel-2 product and granule names (the first stamp is the
                            sensing time; a later one is the processing time)
``YYYY-MM-DD``              ISO dates (``TERRA_MODIS_012010_NDVI_2013-09-14.jp2``)
``AYYYYDDD``                MODIS year and day of year (``MOD09A1.A2019001.h08v05…``)
``YYYYMMDD``                Landsat names (``LC08_L2SP_034030_20190513_20190521_02_T1``:
                            acquisition first, processing second)
==========================  =============================================================

Within one form the first occurrence wins; two forms giving different dates in one name are
ambiguous, and so are not a date. ``TIFFTAG_DATETIME`` (``YYYY:MM:DD HH:MM:SS``) comes last,
after the name: the TIFF standard makes it the file's creation time, which many writers set to
the processing date. Impossible dates (month 13, day 32, day-of-year 366 in a common year) and
years outside 1950..2100 are not dates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import PurePath

from lulcmap.errors import ConfigError

ACQUISITION_TAGS = (
    "ACQUISITION_TIME",
    "DATATAKE_1_DATATAKE_SENSING_START",
    "PRODUCT_START_TIME",
    "DATE_ACQUIRED",
)
"""Tags naming the acquisition date, in the order they are looked at."""
CREATION_TAG = "TIFFTAG_DATETIME"
"""Looked at after the file name: often the processing date, not the acquisition."""

YEARS = (1950, 2100)
_NAME_FORMS = (
    ("stamp", re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})T\d{6}(?!\d)")),
    ("iso", re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")),
    ("modis", re.compile(r"(?<![A-Za-z0-9])A(\d{4})(\d{3})(?!\d)")),
    ("compact", re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d|T\d{6})")),
)
_TAG_VALUE = re.compile(r"^\s*(\d{4})[-:](\d{2})[-:](\d{2})(?!\d)")
_USER = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")


def _ymd(year: str, month: str, day: str) -> date | None:
    try:
        found = date(int(year), int(month), int(day))
    except ValueError:
        return None
    return found if YEARS[0] <= found.year <= YEARS[1] else None


def _day_of_year(year: str, doy: str) -> date | None:
    start = _ymd(year, "1", "1")
    if start is None or not 1 <= int(doy) <= 366:
        return None
    found = start + timedelta(days=int(doy) - 1)
    return found if found.year == start.year else None


def _from_match(form: str, groups: tuple[str, ...]) -> date | None:
    return _day_of_year(*groups) if form == "modis" else _ymd(*groups)


def date_in_name(name: str) -> date | None:
    """The date a file or folder name holds (forms in the module docstring), or None."""
    found: set[date] = set()
    for form, pattern in _NAME_FORMS:
        for match in pattern.finditer(name):
            value = _from_match(form, match.groups())
            if value is not None:
                found.add(value)
                break  # the first valid occurrence of this form
    return found.pop() if len(found) == 1 else None


def date_in_tag(value: str) -> date | None:
    """A tag value's date: ``YYYY-MM-DD…``, ``YYYY:MM:DD…`` or a name form."""
    match = _TAG_VALUE.match(value)
    return _ymd(*match.groups()) if match else date_in_name(value)


def _tag(tags: Mapping[str, str], names: tuple[str, ...]) -> date | None:
    upper = {str(k).upper(): str(v) for k, v in tags.items()}
    for name in names:
        if name in upper:
            value = date_in_tag(upper[name])
            if value is not None:
                return value
    return None


def scene_date(path: str | PurePath, tags: Mapping[str, str] | None = None) -> date | None:
    """The acquisition date of a scene: acquisition tags, then the file name and its folders
    (nearest first), then ``TIFFTAG_DATETIME``; None when none gives one."""
    tags = tags or {}
    found = _tag(tags, ACQUISITION_TAGS)
    if found is not None:
        return found
    p = PurePath(path)
    for part in (p.name, *(q.name for q in p.parents)):
        if part:
            found = date_in_name(part)
            if found is not None:
                return found
    return _tag(tags, (CREATION_TAG,))


def parse_date(text: str) -> date:
    """A user's ``--date``: ``YYYY-MM-DD``, or ``YYYY-MM`` (the first of that month).

    Raises:
        ConfigError: the text is not such a date.
    """
    match = _USER.match(str(text).strip())
    value = _ymd(match.group(1), match.group(2), match.group(3) or "1") if match else None
    if value is None:
        raise ConfigError(
            f"--date expects YYYY-MM-DD or YYYY-MM (e.g. 2023-06-15), a real date between "
            f"{YEARS[0]} and {YEARS[1]}; got {text!r}"
        )
    return value


__all__ = [
    "ACQUISITION_TAGS",
    "CREATION_TAG",
    "date_in_name",
    "date_in_tag",
    "parse_date",
    "scene_date",
]
