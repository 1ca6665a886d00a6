"""The synthetic world: deterministic for a seed, with exact truth, written as the tool's inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.warp import transform_bounds

from lulcmap.chips import ChipPlan
from lulcmap.synthetic import (
    CLIMATE_NAMES,
    N_CLASSES,
    World,
    make_grid,
    synthetic_world,
    write_raster,
    write_world,
)


@pytest.fixture(scope="module")
def full() -> World:
    return synthetic_world((2240, 2240), seed=42)


def brute_force(world: World, plan: ChipPlan) -> np.ndarray:
    rows, cols = plan.shape
    out = np.zeros((N_CLASSES, rows, cols))
    for r in range(rows):
        for c in range(cols):
            r0, c0, h, w = plan.chip_window(r, c)
            counts = np.bincount(
                world.classes[r0 : r0 + h, c0 : c0 + w].ravel(), minlength=N_CLASSES
            )
            out[:, r, c] = counts / counts.sum()
    return out


def test_world_is_deterministic_for_a_seed(tiny_world: World) -> None:
    again = synthetic_world((300, 340), seed=7)
    other = synthetic_world((300, 340), seed=8)
    for name in ("rgb", "classes", "dem"):
        np.testing.assert_array_equal(getattr(tiny_world, name), getattr(again, name))
    for name in CLIMATE_NAMES:
        np.testing.assert_array_equal(tiny_world.climate[name], again.climate[name])
    assert not np.array_equal(tiny_world.dem, other.dem)


def test_world_arrays_have_the_documented_shapes_and_types(tiny_world: World) -> None:
    assert tiny_world.rgb.shape == (3, 300, 340) and tiny_world.rgb.dtype == np.uint8
    assert tiny_world.rgb.min() >= 1  # 0 is reserved for nodata
    assert tiny_world.classes.shape == (300, 340) and tiny_world.classes.max() < N_CLASSES
    assert tiny_world.dem.dtype == np.float32
    assert sorted(tiny_world.climate) == sorted(CLIMATE_NAMES)
    assert tiny_world.grid.crs.to_epsg() == 32630 and tiny_world.grid.res == (10.0, 10.0)


@pytest.mark.parametrize(("chip", "stride"), [(64, 64), (64, 23), (224, 100), (500, 300)])
def test_fractions_sum_to_one_and_match_a_brute_force_count(
    tiny_world: World, chip: int, stride: int
) -> None:
    plan = ChipPlan(tiny_world.grid, chip_size=chip, stride=stride)
    frac = tiny_world.fractions(plan)
    assert frac.shape == (N_CLASSES, *plan.shape)
    np.testing.assert_allclose(frac.sum(axis=0), 1, atol=1e-12)
    np.testing.assert_allclose(frac, brute_force(tiny_world, plan), atol=1e-12)
    n1 = tiny_world.fractions(plan, level="N1")
    np.testing.assert_allclose(n1, tiny_world.legend.aggregate(frac, axis=0))


def test_chip_ancillary_is_the_mean_over_each_chip(tiny_world: World) -> None:
    plan = ChipPlan(tiny_world.grid, chip_size=64, stride=50)
    anc = tiny_world.chip_ancillary(plan)
    assert list(anc) == ["elevation", "slope", *CLIMATE_NAMES]
    r0, c0, h, w = plan.chip_window(2, 3)
    assert anc["elevation"][2, 3] == pytest.approx(
        tiny_world.dem[r0 : r0 + h, c0 : c0 + w].mean(), rel=1e-5
    )
    assert anc["slope"][2, 3] == pytest.approx(
        tiny_world.slope[r0 : r0 + h, c0 : c0 + w].mean(), rel=1e-5
    )
    prec = tiny_world.climate["precipitation"][r0 : r0 + h, c0 : c0 + w].mean()
    assert anc["precipitation"][2, 3] == pytest.approx(prec, rel=1e-5)


def test_a_plan_for_another_grid_is_refused(tiny_world: World) -> None:
    with pytest.raises(ValueError, match=r"plan chips on `world\.grid`"):
        tiny_world.fractions(ChipPlan(make_grid((100, 100))))


def test_full_world_holds_every_class_and_plausible_values(full: World) -> None:
    counts = np.bincount(full.classes.ravel(), minlength=N_CLASSES)
    assert (counts > 0).all(), counts
    assert full.dem.min() >= 0 and 1000 < full.dem.max() < 2500
    prec = full.climate["precipitation"]
    assert prec.min() >= 200 and prec.max() <= 1500
    assert (full.climate["temp_min"] < full.climate["temp_ave"]).all()
    assert (full.climate["temp_ave"] < full.climate["temp_max"]).all()
    # cooler and wetter uphill
    high, low = full.dem > 900, full.dem < 200
    assert full.climate["temp_ave"][high].mean() < full.climate["temp_ave"][low].mean() - 4
    assert full.climate["precipitation"][high].mean() > full.climate["precipitation"][low].mean()


def test_write_world_outputs_open_with_the_right_crs_and_cover_the_scene(
    tiny_world: World, tmp_path: Path
) -> None:
    paths = write_world(tiny_world, tmp_path, dem_crs="EPSG:4326", reference=True)
    left, bottom, right, top = tiny_world.grid.bounds
    with rasterio.open(paths["scene"]) as ds:
        assert ds.crs == tiny_world.grid.crs and ds.transform == tiny_world.grid.transform
        assert ds.count == 3 and ds.dtypes == ("uint8",) * 3 and ds.nodata == 0
        assert ds.descriptions == ("red", "green", "blue")
        np.testing.assert_array_equal(ds.read(), tiny_world.rgb)
    with rasterio.open(paths["reference"]) as ds:
        np.testing.assert_array_equal(ds.read(1), tiny_world.classes)
    with rasterio.open(paths["dem"]) as ds:
        assert ds.crs.to_epsg() == 4326 and ds.dtypes[0] == "float32"
        geo = transform_bounds(tiny_world.grid.crs, ds.crs, *tiny_world.grid.bounds, densify_pts=21)
        assert ds.bounds.left < geo[0] and ds.bounds.right > geo[2]
        assert ds.bounds.bottom < geo[1] and ds.bounds.top > geo[3]
        dem = ds.read(1)
        assert (dem != ds.nodata).all()
        assert abs(dem.mean() - tiny_world.dem.mean()) < 0.05 * tiny_world.dem.std()
    for name in CLIMATE_NAMES:
        assert paths[name] == tmp_path / "climate" / f"{name}.tif"
        with rasterio.open(paths[name]) as ds:
            assert ds.crs == tiny_world.grid.crs and ds.res == (1000.0, 1000.0)
            b = ds.bounds
            assert b.left <= left - 1000 and b.right >= right + 1000
            assert b.bottom <= bottom - 1000 and b.top >= top + 1000
            values = ds.read(1)
            lo, hi = tiny_world.climate[name].min(), tiny_world.climate[name].max()
            assert (values >= lo - 1e-3).all() and (values <= hi + 1e-3).all()


def test_write_raster_accepts_2d_arrays_and_casts(tmp_path: Path) -> None:
    grid = make_grid((20, 30), pixel_size=5.0)
    path = write_raster(
        tmp_path / "a.tif",
        np.arange(600).reshape(20, 30),
        crs=grid.crs,
        transform=grid.transform,
        dtype="float32",
        nodata=-1,
        descriptions=["ramp"],
    )
    with rasterio.open(path) as ds:
        assert ds.count == 1 and ds.dtypes == ("float32",) and ds.descriptions == ("ramp",)
        assert ds.read(1)[1, 0] == 30 and ds.res == (5.0, 5.0)
