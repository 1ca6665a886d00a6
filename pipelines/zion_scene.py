"""Stack the Zion Landsat 8 bands into one red/green/blue VRT, cropped to the DEM's extent.

    python pipelines/zion_scene.py ../shared/data/zion --within ../shared/data/zion/srtm.tif \
        --out zion-work/landsat_rgb.vrt

Uses rasterio only (not lulcmap), so the scene a model was trained on can be rebuilt anywhere.
The bands come as one file per band (``landsat_b4.tif`` red, ``landsat_b3.tif`` green,
``landsat_b2.tif`` blue; uint16 digital numbers, nodata 65535, 30 m, EPSG:32612); lulcmap reads
one multi-band scene, so this writes a VRT of the three, band descriptions ``B4, B3, B2``.
``--nir`` adds band 5 (NIR, ``landsat_b5.tif``) as a fourth, ``B5``: the scene of
``pipelines/zion-presto.yaml``, whose Presto features take blue, green, red and NIR.

The SRTM tile beside them does not cover the whole Landsat footprint (its west, south and north
edges fall up to ~30 pixels inside it), and lulcmap refuses a DEM that does not cover the scene.
``--within`` crops the VRT, in whole 30 m pixels, to the largest window whose extent (densified,
in the DEM's CRS, as lulcmap checks it) lies inside the DEM.

``--histogram PNG`` draws the reflectance histograms of the VRT's bands under the two readings
of Landsat 8 digital numbers, and prints their percentiles: Collection 1 Level-1 (top-of-
atmosphere reflectance ``2e-5 x DN - 0.1``) and Collection 2 Level-2 (surface reflectance
``2.75e-5 x DN - 0.2``). These DNs read as Level-2 give up to 6 % negative red reflectances;
read as Level-1 they are all positive, with the dark-pixel floor falling from blue to NIR as
the atmosphere's path radiance does: they are Level-1 DNs (the scene, of 2015-08-18, also
predates Collection 2), so lulcmap reads them with ``--scale 2e-5 --offset -0.1``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import rasterio
from rasterio.warp import transform_bounds
from rasterio.windows import Window

BANDS = {"B4": "landsat_b4.tif", "B3": "landsat_b3.tif", "B2": "landsat_b2.tif"}
"""Red, green, blue: the VRT's band order."""


def inside_window(src: rasterio.DatasetReader, within: Path) -> Window:
    """The largest window of ``src`` (shrunk one pixel side at a time) inside ``within``."""
    with rasterio.open(within) as dem:
        have, crs = dem.bounds, dem.crs
    c0, r0, c1, r1 = 0, 0, src.width, src.height
    while c1 - c0 > 1 and r1 - r0 > 1:
        window = Window(c0, r0, c1 - c0, r1 - r0)
        left, bottom, right, top = transform_bounds(
            src.crs, crs, *src.window_bounds(window), densify_pts=21
        )
        moved = False
        if left < have.left:
            c0, moved = c0 + 1, True
        if right > have.right:
            c1, moved = c1 - 1, True
        if bottom < have.bottom:
            r1, moved = r1 - 1, True
        if top > have.top:
            r0, moved = r0 + 1, True
        if not moved:
            return window
    raise SystemExit(f"{within} does not overlap the Landsat scene")


def vrt_xml(folder: Path, window: Window, bands: dict[str, str] = BANDS) -> str:
    with rasterio.open(folder / BANDS["B4"]) as ref:
        crs, t, dtype, nodata = ref.crs, ref.transform, ref.dtypes[0], ref.nodata
        size = (ref.width, ref.height)
    x0, y0 = t * (window.col_off, window.row_off)
    w, h = int(window.width), int(window.height)
    gdal_type = {"uint16": "UInt16", "uint8": "Byte", "int16": "Int16"}[dtype]
    xml = []
    for i, (name, file) in enumerate(bands.items(), start=1):
        path = (folder / file).resolve()
        with rasterio.open(path) as src:
            if (src.width, src.height) != size or src.transform != t or src.crs != crs:
                raise SystemExit(f"{path} is not on the grid of {folder / BANDS['B4']}")
        xml.append(
            f'  <VRTRasterBand dataType="{gdal_type}" band="{i}">\n'
            f"    <Description>{name}</Description>\n"
            f"    <NoDataValue>{nodata:g}</NoDataValue>\n"
            f"    <SimpleSource>\n"
            f'      <SourceFilename relativeToVRT="0">{escape(str(path))}</SourceFilename>\n'
            f"      <SourceBand>1</SourceBand>\n"
            f'      <SrcRect xOff="{int(window.col_off)}" yOff="{int(window.row_off)}" '
            f'xSize="{w}" ySize="{h}"/>\n'
            f'      <DstRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>\n'
            f"    </SimpleSource>\n"
            f"  </VRTRasterBand>\n"
        )
    return (
        f'<VRTDataset rasterXSize="{w}" rasterYSize="{h}">\n'
        f"  <SRS>{escape(crs.to_wkt())}</SRS>\n"
        f"  <GeoTransform>{x0!r}, {t.a!r}, {t.b!r}, {y0!r}, {t.d!r}, {t.e!r}</GeoTransform>\n"
        + "".join(xml)
        + "</VRTDataset>\n"
    )


READINGS = {
    "C1 L1 TOA: 2e-5 DN - 0.1": (2e-5, -0.1),
    "C2 L2 SR: 2.75e-5 DN - 0.2": (2.75e-5, -0.2),
}


def histogram(vrt: Path, png: Path) -> None:
    """Percentiles and a histogram of each band's reflectance under both readings."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with rasterio.open(vrt) as src:
        dn = src.read(masked=True).astype(np.float64)
        names = src.descriptions
    fig, axes = plt.subplots(1, len(READINGS), figsize=(11, 3.6), sharey=True)
    bins = np.linspace(-0.1, 0.45, 111)
    for ax, (label, (scale, offset)) in zip(axes, READINGS.items(), strict=True):
        for band, name, colour in zip(dn, names, ("tab:red", "tab:green", "tab:blue"), strict=True):
            r = band.compressed() * scale + offset
            p = np.percentile(r, [0.1, 50, 99.9])
            print(
                f"{label:<28} {name}: p0.1 {p[0]:.3f}  median {p[1]:.3f}  p99.9 {p[2]:.3f}  "
                f"negative {100 * np.mean(r < 0):.2f} %"
            )
            ax.hist(r, bins=bins, histtype="step", color=colour, label=name, density=True)
        ax.axvline(0, color="0.3", lw=0.8)
        ax.axvline(0.3, color="0.3", lw=0.8, ls=":")
        ax.set(title=label, xlabel="reflectance")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("density")
    fig.tight_layout()
    fig.savefig(png, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the zion data folder (landsat_b*.tif)")
    parser.add_argument("--within", type=Path, help="crop to this raster's extent (the DEM)")
    parser.add_argument("--out", type=Path, required=True, help="the VRT to write")
    parser.add_argument("--histogram", type=Path, help="draw the reflectance histograms here")
    parser.add_argument(
        "--nir", action="store_true", help="add band 5 (NIR, landsat_b5.tif) as a fourth band, B5"
    )
    args = parser.parse_args()
    bands = {**BANDS, "B5": "landsat_b5.tif"} if args.nir else BANDS
    with rasterio.open(args.folder / BANDS["B4"]) as src:
        full = Window(0, 0, src.width, src.height)
        window = inside_window(src, args.within) if args.within else full
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(vrt_xml(args.folder, window, bands), "utf-8")
    with rasterio.open(args.out) as vrt:
        print(
            f"{args.out}: {vrt.width} x {vrt.height} px of {vrt.res[0]:g} m (window col "
            f"{window.col_off}, row {window.row_off} of the {full.width} x {full.height} scene), "
            f"bounds {tuple(round(v, 1) for v in vrt.bounds)}, bands {vrt.descriptions}"
        )
    if args.histogram:
        histogram(args.out, args.histogram)


if __name__ == "__main__":
    main()
