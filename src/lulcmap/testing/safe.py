"""Tiny synthetic Sentinel-2 L2A and L1C products that GDAL's SENTINEL2 driver really opens.

They imitate the compact SAFE layout of GDAL's own autotest products
(``autotest/gdrivers/data/sentinel2/fake_l2a_processing_baseline_5_09``) with only what the driver
reads: the product ``MTD_MSIL2A.xml``/``MTD_MSIL1C.xml`` (product URI, processing baseline,
``SAFE_COMPACT`` format, granule image list, nodata/saturated values, quantification value and the
per-band ``BOA_ADD_OFFSET``/``RADIO_ADD_OFFSET`` list), the tile ``MTD_TL.xml`` (EPSG code, size
and upper-left corner at 10 m) and lossless JPEG2000 10 m bands.

The driver derives file names from fixed character positions in the product URI and image paths,
so the names below follow the real naming convention exactly:
L2A ``GRANULE/<granule>/IMG_DATA/R10m/T19GCP_20220201T143731_B04_10m.jp2``,
L1C ``GRANULE/<granule>/IMG_DATA/T19GCP_20220201T143731_B04.jp2``.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import rasterio
from affine import Affine

DATATAKE = "20220201T143731"
TILE_PREFIX = f"T19GCP_{DATATAKE}"  # product URI chars 38:44 + 10:26, as the driver builds it
EPSG = 32719
ULX, ULY = 600000.0, 4700020.0
BANDS_10M = {"L2A": ("B02", "B03", "B04", "B08", "AOT", "WVP"), "L1C": ("B02", "B03", "B04", "B08")}

_MTD = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:Level-{n}_User_Product
    xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-{n}.xsd">
  <n1:General_Info>
    <Product_Info>
      <PRODUCT_URI>{product}.SAFE</PRODUCT_URI>
      <PROCESSING_LEVEL>Level-{n}</PROCESSING_LEVEL>
      <PRODUCT_TYPE>S2MSI{short}</PRODUCT_TYPE>
      <PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>
      <Query_Options completeSingleTile="true">
        <PRODUCT_FORMAT>SAFE_COMPACT</PRODUCT_FORMAT>
      </Query_Options>
      <Product_Organisation>
        <Granule_List>
          <Granule datastripIdentifier="S2A_OPER_MSI_{n}_DS_FAKE"
                   granuleIdentifier="S2A_OPER_MSI_{n}_TL_FAKE" imageFormat="JPEG2000">
{images}
          </Granule>
        </Granule_List>
      </Product_Organisation>
    </Product_Info>
    <Product_Image_Characteristics>
      <Special_Values>
        <SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX>
      </Special_Values>
      <Special_Values>
        <SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT>
        <SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX>
      </Special_Values>
{quantification}
{offsets}
    </Product_Image_Characteristics>
  </n1:General_Info>
</n1:Level-{n}_User_Product>
"""

_QUANTIFICATION = {
    "L2A": """      <QUANTIFICATION_VALUES_LIST>
        <BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>
      </QUANTIFICATION_VALUES_LIST>""",
    "L1C": """      <QUANTIFICATION_VALUE unit="none">10000</QUANTIFICATION_VALUE>""",
}
_OFFSET_TAGS = {
    "L2A": ("BOA_ADD_OFFSET_VALUES_LIST", "BOA_ADD_OFFSET"),
    "L1C": ("Radiometric_Offset_List", "RADIO_ADD_OFFSET"),
}

_MTD_TL = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:Level-{n}_Tile_ID
    xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-{n}_Tile_Metadata.xsd">
  <n1:Geometric_Info>
    <Tile_Geocoding metadataLevel="Brief">
      <HORIZONTAL_CS_NAME>WGS84 / UTM zone 19S</HORIZONTAL_CS_NAME>
      <HORIZONTAL_CS_CODE>EPSG:{epsg}</HORIZONTAL_CS_CODE>
      <Size resolution="10"><NROWS>{size}</NROWS><NCOLS>{size}</NCOLS></Size>
      <Geoposition resolution="10">
        <ULX>{ulx:.0f}</ULX><ULY>{uly:.0f}</ULY><XDIM>10</XDIM><YDIM>-10</YDIM>
      </Geoposition>
    </Tile_Geocoding>
  </n1:Geometric_Info>
</n1:Level-{n}_Tile_ID>
"""


def north_up(left: float, top: float, xres: float, yres: float) -> Affine:
    """A north-up transform (rasterio's ``from_origin`` without its deprecation noise)."""
    return Affine(xres, 0.0, left, 0.0, -yres, top)


def product_name(level: Literal["L2A", "L1C"] = "L2A") -> str:
    return f"S2A_MSI{level}_{DATATAKE}_N0400_R096_T19GCP_20220201T180000"


def write_safe(
    folder: Path,
    dn: Mapping[str, np.ndarray],
    *,
    level: Literal["L2A", "L1C"] = "L2A",
    baseline: str = "04.00",
    add_offset: int | None = -1000,
) -> Path:
    """Write ``<folder>/<product>.SAFE`` with the given 10 m digital numbers; returns the .SAFE.

    ``dn`` maps band names (``B02``, ``B03``, ``B04``, ``B08``; L2A also ``AOT``, ``WVP``) to square
    uint16 arrays of one size; bands left out are written as zeros. ``add_offset`` (DN) is the
    BOA_ADD_OFFSET (L2A) or RADIO_ADD_OFFSET (L1C) of every band; ``None`` leaves the list out, as
    in products of processing baseline < 04.00.
    """
    size = next(iter(dn.values())).shape[0]
    safe = folder / f"{product_name(level)}.SAFE"
    shutil.rmtree(safe, ignore_errors=True)
    granule = f"{level}_T19GCP_A034567_{DATATAKE}"
    img = safe / "GRANULE" / granule / "IMG_DATA"
    relative = f"GRANULE/{granule}/IMG_DATA/" + ("R10m/" if level == "L2A" else "")
    suffix = "_10m" if level == "L2A" else ""
    (safe / relative).mkdir(parents=True)
    for band in BANDS_10M[level]:
        values = np.asarray(dn.get(band, np.zeros((size, size))), np.uint16)
        _write_jp2(safe / f"{relative}{TILE_PREFIX}_{band}{suffix}.jp2", values)
    images = "\n".join(
        f"{' ' * 12}<IMAGE_FILE>{relative}{TILE_PREFIX}_{b}{suffix}</IMAGE_FILE>"
        for b in BANDS_10M[level]
    )
    group, tag = _OFFSET_TAGS[level]
    offsets = (
        ""
        if add_offset is None
        else (
            f"      <{group}>\n"
            + "\n".join(f'        <{tag} band_id="{i}">{add_offset}</{tag}>' for i in range(13))
            + f"\n      </{group}>"
        )
    )
    n = level[1:]  # "2A" / "1C"
    (safe / f"MTD_MSI{level}.xml").write_text(
        _MTD.format(
            n=n,
            short=n,
            product=product_name(level),
            baseline=baseline,
            images=images,
            quantification=_QUANTIFICATION[level],
            offsets=offsets,
        ),
        "utf-8",
    )
    (img.parent / "MTD_TL.xml").write_text(
        _MTD_TL.format(n=n, epsg=EPSG, size=size, ulx=ULX, uly=ULY), "utf-8"
    )
    return safe


def zip_safe(safe: Path) -> Path:
    """Zip a .SAFE folder as the Copernicus hubs ship it: ``<product>.zip``/``<product>.SAFE/``."""
    target = safe.parent / f"{safe.stem}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(safe.rglob("*")):
            zf.write(path, path.relative_to(safe.parent).as_posix())
    return target


def _write_jp2(path: Path, values: np.ndarray) -> None:
    h, w = values.shape
    with rasterio.open(
        path,
        "w",
        driver="JP2OpenJPEG",
        width=w,
        height=h,
        count=1,
        dtype="uint16",
        crs=f"EPSG:{EPSG}",
        transform=north_up(ULX, ULY, 10, 10),
        QUALITY=100,
        REVERSIBLE="YES",
        RESOLUTIONS=1,
    ) as ds:
        ds.write(values, 1)
