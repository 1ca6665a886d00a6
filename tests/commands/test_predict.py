"""``predict`` end to end: an oracle model makes the written maps equal a known truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from rio_cogeo.cogeo import cog_validate
from typer.testing import CliRunner

from lulcmap.chips import ChipPlan
from lulcmap.cli.main import app
from lulcmap.commands import predict as predict_module
from lulcmap.commands.predict import predict
from lulcmap.inference import EngineOptions
from lulcmap.io.writers import percent_largest_remainder, write_outputs
from lulcmap.legend import load_legend
from lulcmap.testing import OracleModel, class_code_scene, make_grid, write_raster

LEGEND = load_legend()


def oracle_scene(tmp_path: Path, shape: tuple[int, int]) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(3)
    coarse = rng.integers(0, 10, (shape[0] // 20 + 1, shape[1] // 20 + 1))
    classes = np.kron(coarse, np.ones((20, 20), np.int64))[: shape[0], : shape[1]].astype(np.uint8)
    grid = make_grid(shape)
    path = write_raster(
        tmp_path / "codes.tif",
        class_code_scene(classes),
        crs=grid.crs,
        transform=grid.transform,
        nodata=0,
    )
    return path, classes


def expected_fractions(classes: np.ndarray, plan: ChipPlan) -> np.ndarray:
    rows, cols = plan.shape
    out = np.zeros((10, rows, cols))
    for r in range(rows):
        for c in range(cols):
            r0, c0, h, w = plan.chip_window(r, c)
            out[:, r, c] = np.bincount(classes[r0 : r0 + h, c0 : c0 + w].ravel(), minlength=10) / (
                h * w
            )
    return out


@pytest.mark.parametrize("stride", [224, 112, 75])
def test_oracle_maps_equal_truth(tmp_path: Path, stride: int) -> None:
    scene, classes = oracle_scene(tmp_path, (500, 610))
    ds = predict(scene, model=OracleModel(), stride=stride, device="cpu")
    plan = ChipPlan(make_grid(classes.shape), stride=stride)
    truth = expected_fractions(classes, plan)
    assert ds.sizes == {"class_n1": 4, "class_n2": 10, "y": plan.shape[0], "x": plan.shape[1]}
    np.testing.assert_allclose(ds["N2"].values, truth, atol=1e-6)
    np.testing.assert_allclose(ds["N1"].values, LEGEND.aggregate(truth), atol=1e-6)
    assert ds.rio.crs == plan.scene.crs and ds.rio.transform() == plan.cell_grid.transform

    paths = write_outputs(ds, tmp_path / "out", "codes", legend=LEGEND, run_record={})
    n2_percent = percent_largest_remainder(truth)
    for level, expected in (("N2", n2_percent), ("N1", LEGEND.aggregate(n2_percent))):
        assert cog_validate(str(paths[level]))[0]
        with rasterio.open(paths[level]) as cog:
            np.testing.assert_array_equal(cog.read(), expected)
            assert cog.transform == plan.cell_grid.transform
            assert list(cog.descriptions) == LEGEND.names(level)
            assert set(cog.scales) == {0.01}
    zarr = xr.open_zarr(paths["zarr"])
    np.testing.assert_allclose(zarr["N2"].values, truth, atol=1e-6)
    assert zarr.rio.crs == plan.scene.crs


def test_nodata_area_becomes_nodata_cells(tmp_path: Path) -> None:
    scene, _classes = oracle_scene(tmp_path, (448, 448))
    with rasterio.open(scene, "r+") as ds:
        data = ds.read()
        data[:, 224:, :] = 0  # the bottom half is outside the swath
        ds.write(data)
    ds = predict(scene, model=OracleModel(), device="cpu")
    assert np.isfinite(ds["N2"].values[:, 0]).all() and np.isnan(ds["N2"].values[:, 1]).all()
    np.testing.assert_allclose(ds["valid_fraction"].values, [[1, 1], [0, 0]])


def test_demo_model_on_a_synthetic_world(small_world: dict[str, Path]) -> None:
    """The shipped demo model, real DEM/climate co-registration, sensible fractions."""
    ds = predict(
        small_world["scene"],
        dem=small_world["dem"],
        climate=small_world["climate"],
        device="cpu",
        model="demo-synthetic",
    )
    n2 = ds["N2"].values
    assert np.isfinite(n2).all() and (n2 >= 0).all()
    np.testing.assert_allclose(n2.sum(axis=0), 1, atol=1e-5)
    assert float(ds["elevation"].min()) > 0 and 0 <= float(ds["slope"].min()) < 45
    assert ds.attrs["model_id"] == "demo-synthetic"


@pytest.mark.realdata
def test_real_patagonia_subset_end_to_end(data_dir: Path, tmp_path: Path) -> None:
    """A real Sentinel-2 subset (uint16, B02 B03 B04 B08, 300 x 200 px, smaller than one chip).

    The demo model needs no particular place; the DEM and climate are constant stand-ins on the
    scene's grid, since none cover Patagonia here.
    """
    scene = data_dir / "s2-patagonia" / "s2_patagonia_b02_b03_b04_b08.tif"
    with rasterio.open(scene) as src:
        crs, t = src.crs, src.transform
    from affine import Affine

    coarse = Affine(t.a * 10, 0, t.c - 100, 0, t.e * 10, t.f + 100)
    dem = write_raster(
        tmp_path / "dem.tif", np.full((25, 35), 300, np.float32), crs=crs, transform=coarse
    )
    clim = {
        name: write_raster(
            tmp_path / f"{name}.tif", np.full((25, 35), v, np.float32), crs=crs, transform=coarse
        )
        for name, v in [
            ("evapotranspiration", 700),
            ("precipitation", 400),
            ("temp_ave", 8),
            ("temp_max", 14),
            ("temp_min", 2),
        ]
    }
    ds = predict(
        scene,
        dem=dem,
        climate_vars=clim,
        rgb_bands="B04,B03,B02",
        offset=-0.1,
        device="cpu",
        model="demo-synthetic",
    )
    assert ds.sizes["y"] == 1 and ds.sizes["x"] == 2  # ceil(200/224) x ceil(300/224)
    n2 = ds["N2"].values
    assert np.isfinite(n2).all()
    np.testing.assert_allclose(n2.sum(axis=0), 1, atol=1e-5)
    assert ds["valid_fraction"].values.min() > 0.99
    paths = write_outputs(ds, tmp_path / "out", "patagonia", legend=LEGEND, run_record={})
    assert cog_validate(str(paths["N2"]))[0]


@pytest.mark.parametrize("as_zip", [False, True])
def test_sentinel2_safe_equals_its_8bit_rendering(tmp_path: Path, as_zip: bool) -> None:
    """An L2A SAFE (baseline 04.00, -1000 DN offset read from its metadata) maps exactly like
    the 8-bit GeoTIFF its digital numbers were made from."""
    from lulcmap.testing import synthetic_world, write_world
    from lulcmap.testing.safe import EPSG, ULX, ULY, write_safe, zip_safe

    world = synthetic_world((300, 300), seed=5, crs=f"EPSG:{EPSG}", origin=(ULX, ULY))
    inputs = write_world(world, tmp_path / "world")
    refl = world.rgb.astype(float) / 255 * 0.3  # the demo model's stretch, inverted
    dn = np.round(refl * 10000).astype(np.uint16) + 1000
    safe = write_safe(tmp_path, {"B04": dn[0], "B03": dn[1], "B02": dn[2]})
    scene = zip_safe(safe) if as_zip else safe
    common = {"dem": inputs["dem"], "climate": inputs["climate"], "device": "cpu"}
    common["model"] = "demo-synthetic"
    from_safe = predict(scene, **common)
    from_tif = predict(inputs["scene"], **common)
    assert from_safe.attrs["scene"]["driver"] == "SENTINEL2"
    np.testing.assert_allclose(from_safe["N2"].values, from_tif["N2"].values, atol=1e-6)
    assert from_safe.rio.crs.to_epsg() == EPSG


def test_scene_at_another_pixel_size_is_resampled_to_the_cards(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 20 m scene under the 10 m demo model: chips of 224 px at 10 m, cells of 2.24 km."""
    from affine import Affine

    from lulcmap.testing import synthetic_world, write_world

    world = synthetic_world((448, 448), seed=9)
    inputs = write_world(world, tmp_path / "w")
    coarse = world.rgb.reshape(3, 224, 2, 224, 2).mean(axis=(2, 4)).round().astype(np.uint8)
    t = world.grid.transform
    scene20 = write_raster(
        tmp_path / "scene20.tif",
        coarse,
        crs=world.grid.crs,
        transform=Affine(20, 0, t.c, 0, -20, t.f),
        nodata=0,
    )
    with caplog.at_level("WARNING", logger="lulcmap.commands.predict"):
        ds = predict(
            scene20, dem=inputs["dem"], climate=inputs["climate"], device="cpu",
            model="demo-synthetic",
        )  # fmt: skip
    assert "resampling on read" in caplog.text
    assert ds.rio.resolution() == (2240.0, -2240.0) and ds.sizes["y"] == 2
    assert ds.attrs["scene"]["resampled_from"]["width"] == 224
    n2 = ds["N2"].values
    assert np.isfinite(n2).all()
    np.testing.assert_allclose(n2.sum(axis=0), 1, atol=1e-5)
    # the maps are those of the 20 m scene resampled to 10 m beforehand (bilinear, as on read)
    from rasterio.warp import Resampling, reproject

    fine = np.zeros((3, 448, 448), np.uint8)
    reproject(
        coarse, fine, src_transform=Affine(20, 0, t.c, 0, -20, t.f), src_crs=world.grid.crs,
        dst_transform=t, dst_crs=world.grid.crs, resampling=Resampling.bilinear,
    )  # fmt: skip
    scene10 = write_raster(
        tmp_path / "scene10.tif", fine, crs=world.grid.crs, transform=t, nodata=0
    )
    ref = predict(
        scene10, dem=inputs["dem"], climate=inputs["climate"], device="cpu",
        model="demo-synthetic",
    )  # fmt: skip
    np.testing.assert_allclose(ds["N2"].values, ref["N2"].values, atol=1e-3)


def _spy_engine(monkeypatch: pytest.MonkeyPatch) -> list[EngineOptions]:
    """Record the options ``predict`` hands the engine (the engine still runs)."""
    seen: list[EngineOptions] = []
    real = predict_module.run_inference

    def spy(*args: object, options: EngineOptions, **kwargs: object) -> object:
        seen.append(options)
        return real(*args, options=options, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(predict_module, "run_inference", spy)
    return seen


@pytest.mark.parametrize("flag", [[], ["--bf16"]])
def test_cli_bf16_reaches_the_engine(
    small_world: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: list[str]
) -> None:
    seen = _spy_engine(monkeypatch)
    args = ["predict", small_world["scene"], "--dem", small_world["dem"], "--climate"]
    args += [small_world["climate"], "--out", tmp_path, "--device", "cpu", "--quiet", *flag]
    args += ["--model", "demo-synthetic"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert [o.bf16 for o in seen] == [bool(flag)] and seen[0].device == "cpu"
    record = json.loads((tmp_path / "scene.run.json").read_text())
    assert record["options"]["bf16"] is bool(flag)


def test_bf16_fractions_stay_within_001_of_float32(small_world: dict[str, Path]) -> None:
    """The demo model under CPU bfloat16 autocast, 96 overlapping chips (stride 56)."""
    inputs = {"dem": small_world["dem"], "climate": small_world["climate"], "device": "cpu"}
    inputs["model"] = "demo-synthetic"
    fp32 = predict(small_world["scene"], stride=56, **inputs)
    bf16 = predict(small_world["scene"], stride=56, bf16=True, **inputs)
    a, b = fp32["N2"].values, bf16["N2"].values
    assert a.shape[1:] == (8, 12) and np.isfinite(b).all()
    np.testing.assert_allclose(b.sum(axis=0), 1, atol=1e-5)
    assert 0 < np.abs(a - b).max() <= 0.01  # > 0: autocast did run


def test_stride_is_checked_before_the_scene_is_read(tmp_path: Path) -> None:
    """As soon as the card is known: a bad stride is reported even for a scene that is no raster,
    and the Python API says the same as the command line."""
    from lulcmap.errors import ConfigError
    from lulcmap.testing.cli import assert_clean_failure, invoke

    bogus = tmp_path / "scene.tif"
    bogus.write_text("not a raster")
    out = tmp_path / "out"
    assert_clean_failure(*invoke("predict", bogus, "--out", out, "--stride", 300), out, "--stride")
    with pytest.raises(ConfigError, match="--stride"):
        predict(bogus, stride=300)
