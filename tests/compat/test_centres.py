"""Ancillary values for chips with known centres.

Oracle: a DEM that is a plane in EPSG:4326 has a known footprint mean (the plane at the chip's
centre) and a known slope.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from PIL import Image

import lulcmap.ancillary as anc_module
from lulcmap.ancillary import GROUP_PIXELS, footprint_ancillary
from lulcmap.compat.centres import (
    centre_from_name,
    chip_ancillary,
    chip_footprints,
    read_chip_centres,
    utm_epsg,
)
from lulcmap.errors import CoverageError, InputDataError
from lulcmap.testing.chipfolders import SIZE, B, C, plane, plane_raster

SAMPLE_NAME = "Class_1_ID_1457_Purity_54.64995041070112__(+38.3027252505,-5.3022158396).jpg"


def test_centre_from_name() -> None:
    assert centre_from_name(SAMPLE_NAME) == (38.3027252505, -5.3022158396)
    assert centre_from_name("x__(-12.5,+130).png") == (-12.5, 130.0)
    assert centre_from_name("chip_12.jpg") is None


@pytest.mark.parametrize(
    ("lat", "lon", "epsg"),
    [(38.3, -5.3, 32630), (-33.9, 151.2, 32756), (60.0, 5.0, 32632), (78.0, 10.0, 32633)],
)
def test_utm_zone(lat: float, lon: float, epsg: int) -> None:
    assert utm_epsg(lat, lon) == epsg


@pytest.fixture(scope="module")
def plane_dem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return plane_raster(tmp_path_factory.mktemp("dem") / "dem.tif", 0.0005)


def centres_table(points: list[tuple[float, float]]) -> pd.DataFrame:
    names = [f"c{i}__({lat:+.6f},{lon:+.6f}).jpg" for i, (lat, lon) in enumerate(points)]
    lat, lon = zip(*points, strict=True)
    return pd.DataFrame({"filename": names, "lat": lat, "lon": lon})


def plane_slope(lat: float) -> float:
    """Slope (degrees) of the plane, with metres per degree on the WGS84 ellipsoid."""
    a, e2 = 6378137.0, 0.00669437999014
    w = 1 - e2 * math.sin(math.radians(lat)) ** 2
    east = a / math.sqrt(w) * math.cos(math.radians(lat)) * math.pi / 180
    north = a * (1 - e2) / w**1.5 * math.pi / 180
    return math.degrees(math.atan(math.hypot(B / east, C / north)))


def test_plane_dem_gives_the_plane_at_the_centre(plane_dem: Path, tmp_path: Path) -> None:
    # two chips on either side of the 29/30 UTM zone border (-6 deg), one far from both
    points = [(38.3, -5.3), (38.1, -6.02), (38.1, -5.97), (38.8, -4.7)]
    centres = centres_table(points)
    assert sorted(chip_footprints(centres)) == [32629, 32630]
    clim = plane_raster(tmp_path / "tavg.tif", 0.01)
    table = chip_ancillary(centres, dem=plane_dem, climate={"tavg": clim})
    assert list(table.columns) == ["filename", "temp_ave", "elevation", "slope"]
    lat, lon = centres["lat"].to_numpy(), centres["lon"].to_numpy()
    np.testing.assert_allclose(table["elevation"], plane(lat, lon), atol=0.5)
    np.testing.assert_allclose(table["temp_ave"], plane(lat, lon), atol=0.5)
    np.testing.assert_allclose(table["slope"], [plane_slope(v) for v in lat], atol=0.05)


def test_centres_from_names_and_from_a_csv_agree(plane_dem: Path, tmp_path: Path) -> None:
    centres = centres_table([(38.3, -5.3), (38.25, -5.21)])
    images = tmp_path / "images"
    images.mkdir()
    for name in centres["filename"]:
        Image.new("RGB", (224, 224)).save(images / name)
    csv = tmp_path / "points.csv"
    centres.rename(columns={"lat": "Latitude", "lon": "LONGITUDE"}).to_csv(csv, index=False)
    from_names, from_csv = read_chip_centres(images), read_chip_centres(csv)
    pd.testing.assert_frame_equal(from_names, from_csv, check_exact=False, atol=1e-9)
    table = chip_ancillary(from_csv, dem=plane_dem)
    assert list(table.columns) == ["filename", "elevation", "slope"]
    np.testing.assert_allclose(table["elevation"], plane(centres["lat"], centres["lon"]), atol=0.5)


def test_scattered_chips_stay_in_small_groups(
    plane_dem: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shapes: list[tuple[int, int]] = []
    means = anc_module._means

    def spy(plan, footprints, **kw):  # type: ignore[no-untyped-def]
        shapes.append(plan.scene.shape)
        return means(plan, footprints, **kw)

    monkeypatch.setattr(anc_module, "_means", spy)
    centres = centres_table([(38.3, -5.3), (38.9, -4.6), (37.7, -5.9), (38.31, -5.31)])
    (code, (_, fp)), *_ = chip_footprints(centres).items()
    out = footprint_ancillary(
        fp,
        rasterio.crs.CRS.from_epsg(code),
        variables=["elevation"],
        dem=plane_dem,
        climate={},
        pixel_size=10.0,
    )
    assert len(shapes) == 3 and max(max(s) for s in shapes) <= GROUP_PIXELS + SIZE
    np.testing.assert_allclose(out["elevation"], plane(centres["lat"], centres["lon"]), atol=0.5)


def test_chip_outside_the_dem_is_named(plane_dem: Path) -> None:
    centres = centres_table([(38.3, -5.3), (39.5, -5.3)])
    with pytest.raises(CoverageError, match=r"does not cover 1 of 2 chip.*c1__"):
        chip_ancillary(centres, dem=plane_dem)


def test_names_without_centre(tmp_path: Path) -> None:
    Image.new("RGB", (224, 224)).save(tmp_path / "chip_1.jpg")
    with pytest.raises(InputDataError, match=r"chip_1\.jpg.*lat,lon"):
        read_chip_centres(tmp_path)


# -- real data ----------------------------------------------------------------------------------
SAMPLE_ELEVATION = {  # file name -> elevation (m) in the sample's CSV
    SAMPLE_NAME: 519.7102902287933,
    "Class_1_ID_1458_Purity_47.278738555442516__(+38.3027264736,-5.2820937640).jpg": (
        538.1209878116368
    ),
}


@pytest.mark.realdata
def test_sample_chips_over_srtm(data_dir: Path) -> None:
    dem, sample = data_dir / "srtm3-andalusia.tif", data_dir / "lifewatch-sample"
    if not dem.exists() or not sample.exists():
        pytest.skip(f"{dem} or {sample} not found")
    table = chip_ancillary(read_chip_centres(sample), dem=dem)
    assert set(table["filename"]) == set(SAMPLE_ELEVATION)
    for name, elevation in zip(table["filename"], table["elevation"], strict=True):
        print(f"{name}: elevation {elevation:.2f} m (CSV {SAMPLE_ELEVATION[name]:.2f})")
        assert abs(elevation - SAMPLE_ELEVATION[name]) < 5.0
    assert ((table["slope"] > 0) & (table["slope"] < 30)).all()
