"""Ancillary footprint means against analytic oracles: planes, constants, brute force."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.warp import transform_bounds

from lulcmap import ancillary
from lulcmap.ancillary import ancillary_factor, compute_ancillary
from lulcmap.chips import ChipPlan
from lulcmap.errors import (
    CoverageError,
    InputDataError,
    InputNotFoundError,
    MissingCRSError,
    MissingVariableError,
    NotARasterError,
)
from lulcmap.grid import Grid
from lulcmap.io.climate import find_climate
from lulcmap.io.rasters import open_raster
from lulcmap.terrain import slope_degrees
from lulcmap.testing.strategies import windows
from lulcmap.zonal import footprint_means

UTM30 = CRS.from_epsg(32630)
WGS84 = CRS.from_epsg(4326)
LEFT, TOP = 300_000.0, 4_242_000.0  # Sierra Morena, UTM 30N
SCENE = Grid(UTM30, Affine(10.0, 0.0, LEFT, 0.0, -10.0, TOP), (900, 1000))
PLAN = ChipPlan(SCENE, chip_size=224, stride=224)
EC, NC = LEFT + 5000.0, TOP - 4500.0  # scene centre
A, B = 0.08, -0.05  # plane gradient dz/dE, dz/dN


def plane(e: np.ndarray, n: np.ndarray) -> np.ndarray:
    return 500.0 + A * (e - EC) + B * (n - NC)


def chip_centres(plan: ChipPlan) -> tuple[np.ndarray, np.ndarray]:
    b = plan.chip_bounds()
    return (b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2


def centres_of(transform: Affine, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates ``(x, y)`` of every pixel centre of a north-up grid."""
    cols, rows = np.meshgrid(np.arange(shape[1]) + 0.5, np.arange(shape[0]) + 0.5)
    return transform.c + cols * transform.a, transform.f + rows * transform.e


def write_raster(
    path: Path, data: np.ndarray, transform: Affine, crs: CRS | None, **profile: object
) -> Path:
    """Write a single-band GeoTIFF (``crs=None`` writes none)."""
    with rasterio.open(
        path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1], count=1,
        dtype=data.dtype, crs=crs, transform=transform, **profile,
    ) as ds:  # fmt: skip
        ds.write(data, 1)
    return path


def utm_dem(path: Path, values: object = plane, *, res: float = 30.0, shift: float = 0.0,
            **profile: object) -> Path:  # fmt: skip
    """A DEM in the scene's CRS, ``res`` m pixels, 990 m beyond the scene on every side."""
    transform = Affine(res, 0.0, LEFT - 990.0 + shift, 0.0, -res, TOP + 990.0)
    h, w = math.ceil(10_980 / res), math.ceil(11_980 / res)
    e, n = centres_of(transform, (h, w))
    data = values(e, n) if callable(values) else np.full((h, w), values)
    return write_raster(path, np.asarray(data, dtype=np.float32), transform, UTM30, **profile)


def geographic_raster(path: Path, values: object, *, res: float, margin: float,
                      dtype: str = "float32", **profile: object) -> Path:  # fmt: skip
    """A raster in EPSG:4326 covering the scene plus ``margin`` degrees; ``values(E, N)`` is
    evaluated at each pixel centre's UTM 30N coordinates."""
    west, south, east, north = transform_bounds(UTM30, WGS84, *SCENE.bounds, densify_pts=21)
    transform = Affine(res, 0.0, west - margin, 0.0, -res, north + margin)
    h = math.ceil((north - south + 2 * margin) / res)
    w = math.ceil((east - west + 2 * margin) / res)
    lon, lat = centres_of(transform, (h, w))
    e, n = Transformer.from_crs(WGS84, UTM30, always_xy=True).transform(lon, lat)
    data = values(e, n) if callable(values) else np.full((h, w), values)
    return write_raster(path, np.asarray(data).astype(dtype), transform, WGS84, **profile)


# -- DEM: elevation and slope -------------------------------------------------------------------
def test_utm_plane_gives_centre_value_and_exact_slope(tmp_path: Path) -> None:
    dem = utm_dem(tmp_path / "dem.tif")
    out = compute_ancillary(PLAN, variables=["elevation", "slope"], dem=dem, climate={})
    assert list(out) == ["elevation", "slope"]
    assert out["elevation"].shape == PLAN.shape == (5, 5)
    np.testing.assert_allclose(out["elevation"], plane(*chip_centres(PLAN)), atol=0.05)
    np.testing.assert_allclose(out["slope"], math.degrees(math.atan(math.hypot(A, B))), atol=0.05)


@pytest.mark.parametrize("geographic", [False, True])
def test_only_sources_in_another_crs_are_warped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, geographic: bool
) -> None:
    """A finer DEM in the scene's CRS is averaged over the footprints on its own pixels: the
    same plane, no warp; a DEM in another CRS still goes through the warp."""
    warped: list[object] = []
    real = ancillary.warp
    monkeypatch.setattr(ancillary, "warp", lambda *a, **k: warped.append(a) or real(*a, **k))
    dem = (
        geographic_raster(tmp_path / "dem.tif", plane, res=1 / 1200, margin=0.01)
        if geographic
        else utm_dem(tmp_path / "dem.tif", res=20.0)
    )
    out = compute_ancillary(PLAN, variables=["elevation", "slope"], dem=dem, climate={})
    assert len(warped) == (2 if geographic else 0)
    np.testing.assert_allclose(out["elevation"], plane(*chip_centres(PLAN)), atol=0.5)
    np.testing.assert_allclose(out["slope"], math.degrees(math.atan(math.hypot(A, B))), rtol=1e-3)


def test_geographic_plane_dem_slope_in_metres(tmp_path: Path) -> None:
    dem = geographic_raster(tmp_path / "dem.tif", plane, res=1 / 1200, margin=0.01)
    out = compute_ancillary(PLAN, variables=["slope", "elevation"], dem=dem, climate={})
    assert list(out) == ["slope", "elevation"]
    np.testing.assert_allclose(out["elevation"], plane(*chip_centres(PLAN)), atol=0.5)
    # UTM distances differ from ground distances by the scale factor (1.00007 here).
    np.testing.assert_allclose(out["slope"], math.degrees(math.atan(math.hypot(A, B))), rtol=1e-3)


def test_fine_dem_is_read_decimated(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    small = ChipPlan(Grid(UTM30, SCENE.transform, (300, 300)), chip_size=224, stride=224)
    transform = Affine(2.0, 0.0, LEFT - 100.0, 0.0, -2.0, TOP + 100.0)  # 2 m, 100 m margin
    z = plane(*centres_of(transform, (1600, 1600)))
    z[:, :820] = -9999.0  # west of LEFT + 1540 m (22 ancillary pixels of 70 m): no data
    dem = write_raster(tmp_path / "dem.tif", z.astype(np.float32), transform, UTM30, nodata=-9999.0)
    with caplog.at_level("INFO", logger="lulcmap.ancillary"):
        out = compute_ancillary(small, variables=["elevation", "slope"], dem=dem, climate={})
    assert "averaged over 35x35 px blocks" in caplog.text  # to the 70 m ancillary pixel
    _, n = chip_centres(small)
    # The valid part of each chip is x >= LEFT + 1540: its mean is the plane at its centre. A
    # decimated pixel that straddles the no-data edge counts as valid, which moves the edge by up
    # to one 70 m pixel and the valid part's centre by up to 35 m: A * 35 = 2.8 m on this plane.
    left = np.maximum(small.chip_bounds()[..., 0], LEFT + 1540.0)
    right = small.chip_bounds()[..., 2]
    np.testing.assert_allclose(out["elevation"], plane((left + right) / 2, n), atol=A * 35 + 0.1)
    np.testing.assert_allclose(out["slope"], math.degrees(math.atan(math.hypot(A, B))), atol=0.05)


def test_slope_is_computed_at_the_dem_resolution_before_averaging(tmp_path: Path) -> None:
    # Ridges 120 m apart across a 30 m DEM: the DEM's central differences see the same
    # |dz/dx| = H cos(pi/4) / 30 m at every pixel, so every chip's mean slope is that slope.
    # Averaging the DEM to 60 m first (as a decimated read does) would flatten it to 0.
    height = 20.0
    ridges = lambda e, n: 500.0 + height * np.sin(2 * np.pi * (e - LEFT + 990.0) / 120.0)  # noqa: E731
    dem = utm_dem(tmp_path / "dem.tif", ridges)
    assert ancillary_factor(30.0, PLAN) == 7  # 70 m ancillary pixels: 2 x 2 DEM pixels each
    out = compute_ancillary(PLAN, variables=["elevation", "slope"], dem=dem, climate={})
    expected = math.degrees(math.atan(height * 0.5**0.5 / 30.0))  # 25.2 degrees
    np.testing.assert_allclose(out["slope"], expected, rtol=1e-5)  # the DEM is float32
    np.testing.assert_allclose(out["elevation"], 500.0, atol=1.0)  # 18.7 ridges per chip


@pytest.mark.parametrize("crs", ["utm", "geographic"])
def test_slope_strips_give_the_whole_window_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crs: str
) -> None:
    rng = np.random.default_rng(5)

    def rough(e: np.ndarray, n: np.ndarray) -> np.ndarray:
        z = 500.0 + 40.0 * rng.standard_normal(e.shape)
        z[rng.random(e.shape) < 0.01] = -9999.0  # scattered no-data
        return z

    if crs == "utm":  # 20 m: blocks of 3 x 3 pixels
        dem = utm_dem(tmp_path / "dem.tif", rough, res=20.0, nodata=-9999.0)
    else:  # 1e-4 degrees (~9 m x 11 m): blocks of 7 x 6 pixels; each strip has its latitudes
        dem = geographic_raster(tmp_path / "dem.tif", rough, res=1e-4, margin=0.01, nodata=-9999.0)
    variables = ["elevation", "slope"]
    monkeypatch.setattr(ancillary, "STRIP_PIXELS", 1 << 40)  # the whole window at once
    whole = compute_ancillary(PLAN, variables=variables, dem=dem, climate={})
    monkeypatch.setattr(ancillary, "STRIP_PIXELS", 1)  # one row of blocks per strip
    strips = compute_ancillary(PLAN, variables=variables, dem=dem, climate={})
    for name in variables:
        np.testing.assert_allclose(strips[name], whole[name], rtol=1e-12)
    assert float(np.min(whole["slope"])) > 20.0 and float(np.max(whole["slope"])) < 85.0


def test_nodata_is_left_out_of_the_means(tmp_path: Path) -> None:
    # West of x = LEFT + 3360 m (scene column 336) the DEM is 100 m, east of it nodata.
    half = lambda e, n: np.where(e < LEFT + 3360.0, 100.0, -9999.0)  # noqa: E731
    dem = utm_dem(tmp_path / "dem.tif", half, nodata=-9999.0)
    out = compute_ancillary(PLAN, variables=["elevation", "slope"], dem=dem, climate={})
    cols = PLAN.col_offsets  # chips start at 0, 224, 448, ...: column 1 straddles the edge
    assert cols[1] < 336 < cols[1] + 224 and cols[2] >= 336
    np.testing.assert_array_equal(out["elevation"][:, :2], 100.0)
    assert np.isnan(out["elevation"][:, 2:]).all()
    np.testing.assert_allclose(out["slope"][:, :2], 0.0, atol=1e-9)
    assert np.isnan(out["slope"][:, 2:]).all()


def test_slope_nodata_neighbours_are_nan() -> None:
    dem = np.arange(25, dtype=np.float64).reshape(5, 5)
    nodata = np.zeros((5, 5), bool)
    nodata[2, 2] = True
    slope = slope_degrees(dem, Affine(1, 0, 0, 0, -1, 5), UTM30, nodata=nodata)
    nan = np.isnan(slope)
    assert nan[2, 2] and nan[1, 2] and nan[3, 2] and nan[2, 1] and nan[2, 3]
    assert nan.sum() == 5
    # z rises 5 per row (1 m) and 1 per column: gradient hypot(5, 1)
    np.testing.assert_allclose(slope[0, 0], math.degrees(math.atan(math.hypot(5, 1))))


def test_slope_of_feet_crs_uses_the_linear_unit() -> None:
    dem = np.tile(np.arange(6, dtype=np.float64), (4, 1))  # +1 m per column
    feet = CRS.from_epsg(2263)  # NY state plane, US survey feet
    slope = slope_degrees(dem, Affine(10, 0, 0, 0, -10, 0), feet)
    expected = math.degrees(math.atan(1 / (10 * 0.3048006096012192)))
    np.testing.assert_allclose(slope, expected)


def test_ancillary_factor_rule() -> None:
    assert ancillary_factor(10.0, PLAN) == 7  # no finer than chip / 32: bounded memory
    assert ancillary_factor(300.0, PLAN) == 15  # about half the source pixel
    assert ancillary_factor(20_000.0, PLAN) == 28  # at least 8 pixels across a chip
    big = ChipPlan(Grid(UTM30, SCENE.transform, (10_980, 30_000)))
    assert ancillary_factor(10.0, big) == 8  # at most 4000 pixels a side


# -- summed-area tables -------------------------------------------------------------------------
def brute_force(values: np.ndarray, r0: float, c0: float, r1: float, c1: float) -> tuple:
    """Overlap-weighted mean of piecewise-constant pixels, NaN pixels left out."""
    rows, cols = np.arange(values.shape[0]), np.arange(values.shape[1])
    wr = np.clip(np.minimum(r1, rows + 1) - np.maximum(r0, rows), 0, None)
    wc = np.clip(np.minimum(c1, cols + 1) - np.maximum(c0, cols), 0, None)
    weight = np.outer(wr, wc) * ~np.isnan(values)
    count = weight.sum()
    return (np.nansum(values * weight) / count if count else np.nan), count


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_summed_area_means_are_exact(data: st.DataObject) -> None:
    h, w = data.draw(st.integers(1, 12)), data.draw(st.integers(1, 12))
    values = data.draw(arrays(np.float64, (h, w), elements=st.floats(-1e3, 1e3)))
    values[data.draw(arrays(np.bool_, (h, w)))] = np.nan
    r0, c0, r1, c1 = data.draw(windows((h, w)))
    assume(r1 - r0 > 1e-3 and c1 - c0 > 1e-3)
    expected, count = brute_force(values, r0, c0, r1, c1)
    assume(count == 0 or count > 1e-3)
    grid = Grid(UTM30, Affine(30.0, 0.0, 1000.0, 0.0, -30.0, 5000.0), (h, w))
    bounds = np.array([1000 + 30 * c0, 5000 - 30 * r1, 1000 + 30 * c1, 5000 - 30 * r0])
    got = footprint_means(values, grid, bounds[None, :])[0]
    if count == 0:
        assert np.isnan(got)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-7)


def test_footprints_outside_the_grid_are_nan() -> None:
    grid = Grid(UTM30, Affine(1.0, 0.0, 0.0, 0.0, -1.0, 4.0), (4, 4))
    means = footprint_means(np.ones((4, 4)), grid, np.array([[10.0, 0.0, 12.0, 4.0]]))
    assert np.isnan(means).all()


# -- climate ------------------------------------------------------------------------------------
def test_coarse_geographic_climate_constants_and_synonyms(tmp_path: Path) -> None:
    clim = tmp_path / "clim"
    clim.mkdir()
    geographic_raster(clim / "PET.tif", 894.25, res=0.01, margin=0.05, nodata=-9999.0)
    geographic_raster(clim / "tmax.tif", 23.5, res=0.01, margin=0.05)
    # int16 with a band scale of 0.1, as many climate products ship
    prec = geographic_raster(clim / "prec.tif", 3761, res=0.01, margin=0.05, dtype="int16")
    with rasterio.open(prec, "r+") as ds:
        ds.scales = (0.1,)
    paths = find_climate(clim, ["evapotranspiration", "temp_max", "precipitation"])
    out = compute_ancillary(PLAN, variables=list(paths), dem=None, climate=paths)
    np.testing.assert_allclose(out["evapotranspiration"], 894.25)
    np.testing.assert_allclose(out["temp_max"], 23.5)
    np.testing.assert_allclose(out["precipitation"], 376.1)


def test_multiband_climate_grid_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "prec.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=50,
        width=50,
        count=12,
        dtype="float32",
        crs=UTM30,
        transform=Affine(500, 0, LEFT - 5000, 0, -500, TOP + 5000),
    ) as ds:
        ds.write(np.ones((12, 50, 50), np.float32))
    with pytest.raises(InputDataError, match="12 bands"):
        compute_ancillary(
            PLAN, variables=["precipitation"], dem=None, climate={"precipitation": path}
        )


def test_missing_climate_grid_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MissingVariableError, match="temp_min"):
        compute_ancillary(PLAN, variables=["temp_min"], dem=None, climate={})


# -- input errors -------------------------------------------------------------------------------
def test_dem_not_covering_the_scene(tmp_path: Path) -> None:
    dem = utm_dem(tmp_path / "dem.tif", shift=3000.0)
    with pytest.raises(CoverageError, match="supply a DEM that covers the whole scene"):
        compute_ancillary(PLAN, variables=["elevation"], dem=dem, climate={})


def test_dem_covering_within_half_a_pixel_is_accepted(tmp_path: Path) -> None:
    dem = utm_dem(tmp_path / "dem.tif", shift=1000.0)  # 10 m short: a third of a pixel
    out = compute_ancillary(PLAN, variables=["elevation"], dem=dem, climate={})
    assert np.isfinite(out["elevation"]).all()


def test_dem_without_crs(tmp_path: Path) -> None:
    dem = write_raster(
        tmp_path / "dem.tif",
        np.zeros((10, 10), np.float32),
        Affine(2000, 0, LEFT, 0, -2000, TOP),
        None,
    )
    with pytest.raises(MissingCRSError, match=r"gdal_edit\.py -a_srs"):
        compute_ancillary(PLAN, variables=["elevation"], dem=dem, climate={})


def test_text_file_is_not_a_raster(tmp_path: Path) -> None:
    dem = tmp_path / "dem.tif"
    dem.write_text("elevation,slope\n1,2\n")
    with pytest.raises(NotARasterError, match="GeoTIFF"):
        compute_ancillary(PLAN, variables=["elevation"], dem=dem, climate={})


def test_missing_path(tmp_path: Path) -> None:
    missing = r"DEM .*dem\.tif does not exist; check the path"
    with (
        pytest.raises(InputNotFoundError, match=missing),
        open_raster(tmp_path / "dem.tif", what="DEM"),
    ):
        pass


def test_dem_needed_but_not_given() -> None:
    with pytest.raises(MissingVariableError, match="needs elevation and slope; pass --dem"):
        compute_ancillary(PLAN, variables=["elevation", "slope"], dem=None, climate={})


# -- real data ----------------------------------------------------------------------------------
SAMPLE = {  # (lat, lon) of the chip centre -> (elevation, slope) in the original CSV
    (38.3027252505, -5.3022158396): (519.7102902287933, 6.125333309173584),
    (38.3027264736, -5.2820937640): (538.1209878116368, 3.6074647903442383),
}


def sample_plan(lat: float, lon: float) -> ChipPlan:
    """A 224 x 224 px, 10 m chip in UTM 30N centred on ``(lat, lon)``."""
    e, n = Transformer.from_crs(WGS84, UTM30, always_xy=True).transform(lon, lat)
    grid = Grid(UTM30, Affine(10.0, 0.0, e - 1120.0, 0.0, -10.0, n + 1120.0), (224, 224))
    return ChipPlan(grid, chip_size=224, stride=224)


@pytest.mark.realdata
def test_lifewatch_sample_chips_over_srtm(data_dir: Path) -> None:
    dem = data_dir / "srtm3-andalusia.tif"
    if not dem.exists():
        pytest.skip(f"{dem} not found")
    names = sorted((data_dir / "lifewatch-sample" / "RGB satellite images folder").glob("*.jpg"))
    centres = [tuple(map(float, re.findall(r"[+-]\d+\.\d+", p.stem)[-2:])) for p in names]
    assert set(centres) == set(SAMPLE)
    for (lat, lon), (elevation, slope) in SAMPLE.items():
        out = compute_ancillary(
            sample_plan(lat, lon), variables=["elevation", "slope"], dem=dem, climate={}
        )
        print(
            f"chip ({lat}, {lon}): elevation {out['elevation'][0, 0]:.2f} m "
            f"(CSV {elevation:.2f}), slope {out['slope'][0, 0]:.2f} deg (CSV {slope:.2f})"
        )
        assert abs(out["elevation"][0, 0] - elevation) < 5.0
        assert 0.0 < out["slope"][0, 0] < 30.0
