"""What GDAL opens for a scene path: the path itself, or a Sentinel-2 product's 10 m subdataset.

A product is a ``.SAFE`` folder, a ``.zip`` of one, or its ``MTD_MSIL2A.xml``/``MTD_MSIL1C.xml``;
GDAL's SENTINEL2 driver reads it at 10 m (bands B4, B3, B2, B8 and, for L2A, AOT and WVP).
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

from rasterio.errors import RasterioIOError

from lulcmap.errors import NotARasterError
from lulcmap.io.env import gdal_env, quiet_open
from lulcmap.io.paths import is_gdal_name, require_local

logger = logging.getLogger(__name__)

SAFE_METADATA_FILES = ("MTD_MSIL2A.xml", "MTD_MSIL1C.xml")


def resolve_dataset(path: str | Path) -> tuple[str, bool]:
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


def first_line(exc: Exception) -> str:
    """The first line of an exception's message (GDAL's can run to many), or its type."""
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
        with gdal_env(), quiet_open(mtd) as container:
            subdatasets = list(container.subdatasets)
    except RasterioIOError as exc:
        raise NotARasterError(
            f"Sentinel-2 product {mtd} cannot be opened by GDAL's SENTINEL2 driver "
            f"({first_line(exc)}); check the product is complete (GRANULE/*/MTD_TL.xml and "
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


__all__ = ["SAFE_METADATA_FILES", "first_line", "resolve_dataset"]
