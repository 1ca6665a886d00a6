"""Input paths before anything opens them: a local path must exist, a GDAL dataset name need not.

Light (no GDAL), so the command line reports a mistyped path before it imports torch and GDAL;
the readers call the same check when they open the path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from lulcmap.errors import InputNotFoundError

GDAL_NAME = re.compile(r"^(/vsi|[A-Za-z][A-Za-z0-9_]+:)|://")
"""A name GDAL resolves itself: ``/vsizip/...``, ``s3://...``, ``SENTINEL2_L2A:...``."""


def is_gdal_name(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a GDAL dataset name rather than a local path (no such file exists)."""
    text = os.fspath(path)
    return bool(GDAL_NAME.search(text)) and not Path(text).exists()


def require_local(path: str | os.PathLike[str], what: str) -> None:
    """Raise :class:`InputNotFoundError` naming ``what`` when ``path`` is neither an existing
    local path nor a GDAL dataset name; a relative path's message says where it starts."""
    if is_gdal_name(path) or Path(path).expanduser().exists():
        return
    text = os.fspath(path)
    where = "" if Path(text).is_absolute() else f" (relative paths start at {Path.cwd()})"
    raise InputNotFoundError(f"{what} {text} does not exist; check the path{where}")


__all__ = ["GDAL_NAME", "is_gdal_name", "require_local"]
