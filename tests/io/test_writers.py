"""Writers: percent encoding, COG/Zarr/GeoParquet round trips, atomic outputs."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import hypothesis.extra.numpy as hnp
import numpy as np
import pyproj
import pytest
import rasterio
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterio.enums import ColorInterp
from rio_cogeo.cogeo import cog_validate

from lulcmap.errors import OutputExistsError
from lulcmap.io import writers
from lulcmap.io.writers import (
    atomic_outputs,
    encode_levels,
    percent_largest_remainder,
    write_cogs,
    write_outputs,
    write_run_json,
    write_table,
    write_zarr,
)
from lulcmap.legend import load_legend

LEGEND = load_legend("sipna")

# -- percent encoding -------------------------------------------------------------------------
weights = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
    elements=st.one_of(st.floats(0, 1), st.just(0.0), st.just(np.nan)),
)


@given(weights, st.integers(0, 1))
@settings(max_examples=200, deadline=None)
def test_percent_sums_to_100_and_stays_within_one_point(w: np.ndarray, axis: int) -> None:
    w = w.T if axis else w  # classes along `axis`
    p = percent_largest_remainder(w, axis=axis)
    assert p.dtype == np.uint8 and p.shape == w.shape
    w0, p0 = np.moveaxis(w, axis, 0), np.moveaxis(p, axis, 0).astype(int)
    total = w0.sum(axis=0)
    valid = np.isfinite(total) & (total > 0)
    assert np.all(p0[:, ~valid] == 255)
    assert np.all(p0[:, valid].sum(axis=0) == 100)
    expected = 100 * w0[:, valid] / total[valid]
    assert np.all(np.abs(p0[:, valid] - expected) < 1 + 1e-9)


def test_percent_ties_go_to_the_lower_class_and_noise_is_renormalised() -> None:
    thirds = np.full((3, 1), 1 / 3)
    assert percent_largest_remainder(thirds)[:, 0].tolist() == [34, 33, 33]
    noisy = np.array([[0.5000001], [0.4999], [-1e-7]], dtype=np.float32)
    assert percent_largest_remainder(noisy)[:, 0].tolist() == [50, 50, 0]


@given(st.integers(0, 2**32 - 1))
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_encode_levels_n1_is_the_exact_sum_of_n2(prediction, seed: int) -> None:
    ds = prediction((3, 4), seed=seed, ancillary=())
    p = encode_levels(ds, LEGEND)
    n1, n2 = p["N1"].astype(int), p["N2"].astype(int)
    valid = np.isfinite(ds["N2"].values).all(axis=0)
    assert np.array_equal(n1[:, valid], LEGEND.aggregate(n2[:, valid], axis=0))
    assert np.all(n1[:, valid].sum(axis=0) == 100)
    assert np.all(n1[:, ~valid] == 255) and np.all(n2[:, ~valid] == 255)


# -- COG --------------------------------------------------------------------------------------
def test_cog_round_trip(tmp_path: Path, prediction) -> None:
    ds = prediction((150, 130), ancillary=(), stride=16, chip_size=32)
    paths = write_cogs(ds, tmp_path, "scene", legend=LEGEND)
    assert [p.name for p in paths] == ["scene_N1.tif", "scene_N2.tif"]
    encoded = encode_levels(ds, LEGEND)
    for level, path in zip(("N1", "N2"), paths, strict=True):
        valid, errors, warnings = cog_validate(path, quiet=True)
        assert valid and not errors, (errors, warnings)
        with rasterio.open(path) as src:
            assert list(src.descriptions) == LEGEND.names(level)
            assert src.nodata == 255 and set(src.dtypes) == {"uint8"}
            assert ColorInterp.alpha not in src.colorinterp  # 4 uint8 bands are not RGBA
            assert src.scales == (0.01,) * src.count and src.offsets == (0.0,) * src.count
            assert src.crs == ds.rio.crs and src.transform == ds.rio.transform()
            assert np.array_equal(src.read(), encoded[level])
            assert src.overviews(1)[:1] == [2]
            tags = src.tags()
            assert tags["model_id"] == "test-model" and tags["weights_sha256"] == "ab" * 32
            assert tags["level"] == level and tags["OVERVIEW_RESAMPLING"] == "AVERAGE"
        _assert_overview_is_block_average(path, encoded[level])


def _assert_overview_is_block_average(path: Path, full: np.ndarray) -> None:
    with rasterio.open(path, overview_level=0) as ov:
        first = ov.read().astype(float)
    c, h, w = full.shape
    blocks = full[:, : h // 2 * 2, : w // 2 * 2].reshape(c, h // 2, 2, w // 2, 2).astype(float)
    all_valid = (blocks != 255).all(axis=(0, 2, 4))
    mean = blocks.mean(axis=(2, 4))
    diff = np.abs(first[:, all_valid] - mean[:, all_valid])
    assert all_valid.sum() > 100 and diff.max() < 1  # nearest is ~50 off


def test_small_cog_has_no_overviews_but_validates(tmp_path: Path, prediction) -> None:
    ds = prediction((10, 10), ancillary=())
    for path in write_cogs(ds, tmp_path, "small", legend=LEGEND):
        assert cog_validate(path, quiet=True)[0]
        with rasterio.open(path) as src:
            assert src.overviews(1) == []


# -- Zarr -------------------------------------------------------------------------------------
def test_zarr_round_trip(tmp_path: Path, prediction) -> None:
    ds = prediction()
    write_zarr(ds, tmp_path / "p.zarr")
    back = xr.open_zarr(tmp_path / "p.zarr")
    assert back.rio.crs == ds.rio.crs and back["N2"].rio.crs == ds.rio.crs
    assert back.rio.transform() == ds.rio.transform()
    assert back["class_n2"].values.tolist() == LEGEND.names("N2")
    assert back["class_n1"].values.tolist() == LEGEND.names("N1")
    for name in ["N1", "N2", "valid_fraction", *ds.attrs["ancillary"]]:
        assert back[name].dtype == np.float32
        np.testing.assert_array_equal(back[name].values, ds[name].values)
    for name in ["x", "y", "chip_left", "chip_right", "chip_bottom", "chip_top"]:
        np.testing.assert_array_equal(back[name].values, ds[name].values)
    assert back.attrs["ancillary"] == list(ds.attrs["ancillary"])
    assert back.attrs["weights_sha256"] == ds.attrs["weights_sha256"]


# -- GeoParquet -------------------------------------------------------------------------------
def test_table_round_trip(tmp_path: Path, prediction) -> None:
    ds = prediction((5, 8))
    write_table(ds, tmp_path / "t.parquet")
    gdf = gpd.read_parquet(tmp_path / "t.parquet")
    rows, cols = 5, 8
    assert len(gdf) == rows * cols and gdf.geometry.name == "geometry"
    assert gdf.crs == pyproj.CRS.from_user_input(ds.rio.crs)
    assert gdf["chip_footprint"].crs == gdf.crs
    assert gdf["row"].tolist() == np.repeat(np.arange(rows), cols).tolist()
    assert gdf["col"].tolist() == np.tile(np.arange(cols), rows).tolist()
    t = ds.rio.transform()
    r, c = 3, 5
    cell = gdf.iloc[r * cols + c]
    expected = (t.c + c * t.a, t.f + (r + 1) * t.e, t.c + (c + 1) * t.a, t.f + r * t.e)
    np.testing.assert_allclose(cell.geometry.bounds, expected)
    chip = (ds.chip_left[c], ds.chip_bottom[r], ds.chip_right[c], ds.chip_top[r])
    np.testing.assert_allclose(cell["chip_footprint"].bounds, [float(v) for v in chip])
    valid = np.isfinite(ds["N2"].values).all(axis=0).ravel()
    assert gdf["valid"].tolist() == valid.tolist()
    for level in ("N1", "N2"):
        for i, name in enumerate(LEGEND.names(level)):
            column = gdf[f"{level}: {name}"]
            assert column.dtype == np.float32
            np.testing.assert_array_equal(column.to_numpy(), ds[level].values[i].ravel())
    for name in ["valid_fraction", *ds.attrs["ancillary"]]:
        np.testing.assert_array_equal(gdf[name].to_numpy(), ds[name].values.ravel())


def test_run_json_converts_numpy_types(tmp_path: Path) -> None:
    record = {"n": np.int64(3), "t": np.float32(0.5), "a": np.arange(2), "p": tmp_path}
    write_run_json(record, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == {
        "n": 3,
        "t": 0.5,
        "a": [0, 1],
        "p": str(tmp_path),
    }


# -- atomic outputs ---------------------------------------------------------------------------
def test_write_outputs_writes_every_output(tmp_path: Path, prediction) -> None:
    out = tmp_path / "new" / "out"
    paths = write_outputs(prediction(), out, "s", legend=LEGEND, run_record={"k": 1})
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths.values())
    assert all(p.exists() for p in paths.values())
    assert json.loads(paths["run"].read_text()) == {"k": 1}


def test_existing_output_without_overwrite_is_refused_untouched(tmp_path: Path, prediction) -> None:
    (tmp_path / "s_N2.tif").write_text("old")
    with pytest.raises(OutputExistsError, match=r"s_N2\.tif.*pass --overwrite"):
        write_outputs(prediction(), tmp_path, "s", legend=LEGEND, run_record={})
    assert (tmp_path / "s_N2.tif").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["s_N2.tif"]


def test_failure_leaves_no_final_names_and_no_staging(
    tmp_path: Path, prediction, monkeypatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(writers, "write_table", boom)
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_outputs(prediction(), tmp_path, "s", legend=LEGEND, run_record={})
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    with pytest.raises(RuntimeError):
        write_outputs(prediction(), tmp_path / "made", "s", legend=LEGEND, run_record={})
    assert not (tmp_path / "made").exists()


def test_overwrite_replaces_a_zarr_directory(tmp_path: Path, prediction) -> None:
    old = tmp_path / "s.zarr"
    ds = prediction()
    write_outputs(ds, tmp_path, "s", legend=LEGEND, run_record={}, overwrite=False)
    (old / "stale").write_text("stale")  # inside a lulcmap store: replaced with it
    write_outputs(ds, tmp_path, "s", legend=LEGEND, run_record={}, overwrite=True)
    assert not (old / "stale").exists()
    assert xr.open_zarr(old)["N2"].shape == ds["N2"].shape
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_failed_move_puts_back_the_previous_outputs(tmp_path: Path, monkeypatch) -> None:
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text("old")
    monkeypatch.setattr(writers, "foreign", lambda found: [])  # as if lulcmap wrote them
    real_replace = writers.os.replace

    def flaky_replace(src: Path, dst: Path) -> None:
        if Path(src).parent.name.startswith(".lulcmap-tmp-") and Path(src).name == "b.txt":
            raise OSError("rename failed")  # the new b.txt cannot be moved into place
        real_replace(src, dst)

    monkeypatch.setattr(writers.os, "replace", flaky_replace)
    with (
        pytest.raises(OSError, match="rename failed"),
        atomic_outputs(tmp_path, ["a.txt", "b.txt"], overwrite=True) as staging,
    ):
        (staging / "a.txt").write_text("new")
        (staging / "b.txt").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]
    assert {p.read_text() for p in tmp_path.iterdir()} == {"old"}


def test_staging_folder_is_hidden_in_out_dir(tmp_path: Path) -> None:
    with atomic_outputs(tmp_path, ["a.txt"]) as staging:
        assert staging.parent == tmp_path and staging.name.startswith(".lulcmap-tmp-")
        (staging / "a.txt").write_text("a")
        assert not (tmp_path / "a.txt").exists()
    assert (tmp_path / "a.txt").read_text() == "a" and not staging.exists()


# -- single-level (N1-only) predictions -------------------------------------------------------
def test_n1_only_prediction_writes_only_n1(tmp_path: Path, prediction) -> None:
    ds = prediction((5, 6)).drop_vars(["N2", "class_n2"])
    assert writers.levels_of(ds) == ("N1",)
    encoded = encode_levels(ds, LEGEND)
    assert list(encoded) == ["N1"]
    np.testing.assert_array_equal(encoded["N1"], percent_largest_remainder(ds["N1"].values))
    paths = write_outputs(ds, tmp_path, "s", legend=LEGEND, run_record={})
    assert sorted(paths) == ["N1", "run", "table", "zarr"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "s.run.json",
        "s.zarr",
        "s_N1.tif",
        "s_chips.parquet",
    ]
    assert cog_validate(paths["N1"], quiet=True)[0]
    back = xr.open_zarr(paths["zarr"])
    assert "N2" not in back and back["class_n1"].values.tolist() == LEGEND.names("N1")
    gdf = gpd.read_parquet(paths["table"])
    assert not [c for c in gdf.columns if c.startswith("N2: ")]
    valid = np.isfinite(ds["N1"].values).all(axis=0).ravel()
    assert gdf["valid"].tolist() == valid.tolist()
