"""The shipped test kit: a deterministic synthetic world with exact truth, and an oracle model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.warp import transform_bounds

from lulcmap.chips import ChipPlan
from lulcmap.testing import (
    CLIMATE_NAMES,
    N_CLASSES,
    OracleModel,
    World,
    class_code_scene,
    make_grid,
    synthetic_world,
    write_raster,
    write_world,
)


@pytest.fixture(scope="module")
def small() -> World:
    return synthetic_world((300, 340), seed=7)


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


def test_world_is_deterministic_for_a_seed(small: World) -> None:
    again = synthetic_world((300, 340), seed=7)
    other = synthetic_world((300, 340), seed=8)
    for name in ("rgb", "classes", "dem"):
        np.testing.assert_array_equal(getattr(small, name), getattr(again, name))
    for name in CLIMATE_NAMES:
        np.testing.assert_array_equal(small.climate[name], again.climate[name])
    assert not np.array_equal(small.dem, other.dem)


def test_world_arrays_have_the_documented_shapes_and_types(small: World) -> None:
    assert small.rgb.shape == (3, 300, 340) and small.rgb.dtype == np.uint8
    assert small.rgb.min() >= 1  # 0 is reserved for nodata
    assert small.classes.shape == (300, 340) and small.classes.max() < N_CLASSES
    assert small.dem.dtype == np.float32 and sorted(small.climate) == sorted(CLIMATE_NAMES)
    assert small.grid.crs.to_epsg() == 32630 and small.grid.res == (10.0, 10.0)


@pytest.mark.parametrize(("chip", "stride"), [(64, 64), (64, 23), (224, 100), (500, 300)])
def test_fractions_sum_to_one_and_match_a_brute_force_count(
    small: World, chip: int, stride: int
) -> None:
    plan = ChipPlan(small.grid, chip_size=chip, stride=stride)
    frac = small.fractions(plan)
    assert frac.shape == (N_CLASSES, *plan.shape)
    np.testing.assert_allclose(frac.sum(axis=0), 1, atol=1e-12)
    np.testing.assert_allclose(frac, brute_force(small, plan), atol=1e-12)
    n1 = small.fractions(plan, level="N1")
    np.testing.assert_allclose(n1, small.legend.aggregate(frac, axis=0))


def test_chip_ancillary_is_the_mean_over_each_chip(small: World) -> None:
    plan = ChipPlan(small.grid, chip_size=64, stride=50)
    anc = small.chip_ancillary(plan)
    assert list(anc) == ["elevation", "slope", *CLIMATE_NAMES]
    r0, c0, h, w = plan.chip_window(2, 3)
    assert anc["elevation"][2, 3] == pytest.approx(
        small.dem[r0 : r0 + h, c0 : c0 + w].mean(), rel=1e-5
    )
    assert anc["slope"][2, 3] == pytest.approx(
        small.slope[r0 : r0 + h, c0 : c0 + w].mean(), rel=1e-5
    )
    prec = small.climate["precipitation"][r0 : r0 + h, c0 : c0 + w].mean()
    assert anc["precipitation"][2, 3] == pytest.approx(prec, rel=1e-5)


def test_a_plan_for_another_grid_is_refused(small: World) -> None:
    with pytest.raises(ValueError, match=r"plan chips on `world\.grid`"):
        small.fractions(ChipPlan(make_grid((100, 100))))


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


@pytest.mark.parametrize(("chip", "stride"), [(64, 64), (64, 17), (224, 224), (224, 100)])
def test_oracle_reproduces_the_exact_fractions(small: World, chip: int, stride: int) -> None:
    plan = ChipPlan(small.grid, chip_size=chip, stride=stride)
    scene = torch.from_numpy(class_code_scene(small.classes))
    chips = torch.stack(
        [
            scene[:, r : r + h, c : c + w]
            for r, c, h, w in (
                plan.chip_window(i, j) for i in range(plan.shape[0]) for j in range(plan.shape[1])
            )
        ]
    )
    oracle = OracleModel(N_CLASSES)
    out = oracle(chips, torch.zeros(len(chips), 0)).numpy()
    expected = small.fractions(plan).reshape(N_CLASSES, -1).T
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert oracle.ancillary_names == [] and oracle.n_classes == N_CLASSES


def test_oracle_ignores_nodata_pixels() -> None:
    classes = np.zeros((8, 8), np.uint8)
    classes[:, 4:] = 3
    mask = np.zeros((8, 8), bool)
    mask[:, 6:] = True  # half of class 3 is nodata
    scene = torch.from_numpy(class_code_scene(classes, nodata_mask=mask))[None]
    out = OracleModel(5)(scene, torch.zeros(1, 0))
    np.testing.assert_allclose(out[0].numpy(), [2 / 3, 0, 0, 1 / 3, 0], atol=1e-7)
    empty = OracleModel(5)(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), torch.zeros(1, 0))
    assert float(empty.sum()) == 0
    with pytest.raises(ValueError, match="class_code_scene"):
        OracleModel(2)(scene, torch.zeros(1, 0))


def test_write_world_outputs_open_with_the_right_crs_and_cover_the_scene(
    small: World, tmp_path: Path
) -> None:
    paths = write_world(small, tmp_path, dem_crs="EPSG:4326", reference=True)
    left, bottom, right, top = small.grid.bounds
    with rasterio.open(paths["scene"]) as ds:
        assert ds.crs == small.grid.crs and ds.transform == small.grid.transform
        assert ds.count == 3 and ds.dtypes == ("uint8",) * 3 and ds.nodata == 0
        assert ds.descriptions == ("red", "green", "blue")
        np.testing.assert_array_equal(ds.read(), small.rgb)
    with rasterio.open(paths["reference"]) as ds:
        np.testing.assert_array_equal(ds.read(1), small.classes)
    with rasterio.open(paths["dem"]) as ds:
        assert ds.crs.to_epsg() == 4326 and ds.dtypes[0] == "float32"
        geo = transform_bounds(small.grid.crs, ds.crs, *small.grid.bounds, densify_pts=21)
        assert ds.bounds.left < geo[0] and ds.bounds.right > geo[2]
        assert ds.bounds.bottom < geo[1] and ds.bounds.top > geo[3]
        dem = ds.read(1)
        assert (dem != ds.nodata).all()
        assert abs(dem.mean() - small.dem.mean()) < 0.05 * small.dem.std()
    for name in CLIMATE_NAMES:
        assert paths[name] == tmp_path / "climate" / f"{name}.tif"
        with rasterio.open(paths[name]) as ds:
            assert ds.crs == small.grid.crs and ds.res == (1000.0, 1000.0)
            b = ds.bounds
            assert b.left <= left - 1000 and b.right >= right + 1000
            assert b.bottom <= bottom - 1000 and b.top >= top + 1000
            values = ds.read(1)
            lo, hi = small.climate[name].min(), small.climate[name].max()
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
