"""The original workflow's folder layout, by name only: :mod:`lulcmap.compat.folders` reads it,
and the command line's help names it without importing the reader (torch, GDAL)."""

from __future__ import annotations

IMAGES_FOLDER = "RGB satellite images folder"
ANCILLARY_CSV = "Environmental ancillary data CSV file.csv"

__all__ = ["ANCILLARY_CSV", "IMAGES_FOLDER"]
