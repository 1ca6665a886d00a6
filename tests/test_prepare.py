"""``lulcmap prepare``: exact fractions against hand-computed areas, the dataset format, errors."""

from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
import xarray as xr
from affine import Affine
from pyproj import Transformer
from rasterio.warp import transform_bounds
from typer.testing import CliRunner

from lulcmap.ancillary import compute_ancillary
from lulcmap.chips import ChipPlan
from lulcmap.cli.main import app
from lulcmap.config import PrepareConfig
from lulcmap.errors import ConfigError, CoverageError, InputDataError
from lulcmap.io.climate import CLIMATE_VARIABLES
from lulcmap.io.scene import open_scene
from lulcmap.model.card import Radiometry
from lulcmap.testing import make_grid, write_raster
from lulcmap.training.coverage import boundary_pixels, polygon_coverage, rectangle_coverage
from lulcmap.training.prepare import prepare_dataset

CRS = "EPSG:32630"
X0, Y0 = 300_000.0, 4_200_000.0
CHIP = 32  # 320 m chips of 10 m pixels on a 64 x 96 px scene: 2 x 3 chips
CROSSWALK = "id: test\nlegend: sipna\ncodes:\n  1: Forests\n  2: Annual croplands\n  3: unmapped\n"
FORESTS, CROPS = 7, 1
runner = CliRunner()


# -- helpers --------------------------------------------------------------------------------------
def scene_file(
    tmp: Path,
    *,
    shape: tuple[int, int] = (64, 96),
    pixel: float = 10.0,
    origin: tuple[float, float] = (X0, Y0),
) -> Path:
    grid = make_grid(shape, pixel_size=pixel, crs=CRS, origin=origin)
    rgb = np.random.default_rng(0).integers(1, 256, (3, *shape), dtype=np.uint8)
    return write_raster(tmp / "scene.tif", rgb, crs=CRS, transform=grid.transform, nodata=0)


def stripes(
    path: Path,
    crs: str,
    transform: Affine,
    shape: tuple[int, int],
    edges: list[int],
    codes: list[int],
) -> Path:
    """A reference whose code is ``codes[k]`` in columns ``edges[k]:edges[k + 1]``."""
    data = np.zeros(shape, np.uint8)
    for k, code in enumerate(codes):
        data[:, edges[k] : edges[k + 1]] = code
    return write_raster(path, data, crs=crs, transform=transform, nodata=255)


def prepare(tmp: Path, scene: Path, reference: Path, **kw: object) -> tuple[dict, xr.Dataset]:
    cw = tmp / "cw.yaml"
    cw.write_text(CROSSWALK)
    kw = {
        "crosswalk": str(cw),
        "chip_size": CHIP,
        "stride": CHIP,
        "min_valid_fraction": 0.0,
        "scenes": (scene,),
        **kw,
    }
    cfg = PrepareConfig(reference=reference, out=tmp / "ds.zarr", **kw)
    summary = prepare_dataset(cfg)
    return summary, xr.open_zarr(tmp / "ds.zarr").load()


def footprints(ds: xr.Dataset) -> np.ndarray:
    return np.stack([ds[k].values for k in ("left", "bottom", "right", "top")], axis=1)


def check_sums(ds: xr.Dataset) -> None:
    total = ds["n2_area"].values.sum(axis=1) + ds["unmapped_fraction"].values
    np.testing.assert_allclose(total, 1.0, atol=1e-6)
    np.testing.assert_allclose(ds["n2"].values.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(ds["n1"].values.sum(axis=1), 1.0, atol=1e-6)


# -- exact pixel coverage -------------------------------------------------------------------------
def test_polygon_coverage_equals_brute_force_intersections() -> None:
    for angle, seed in [(3.7, 1), (33.0, 2), (-61.0, 3)]:
        box = shapely.segmentize(shapely.box(0.3, 0.7, 20.6, 14.2), 1.7)
        poly = shapely.affinity.rotate(box, angle, origin=(10, 10))
        ring = np.asarray(poly.exterior.coords) + np.random.default_rng(seed).uniform(0, 1, 2)
        poly = shapely.Polygon(ring)
        row0, col0, w = polygon_coverage(ring)
        rr, cc = np.indices(w.shape)
        cells = shapely.box(cc + col0, rr + row0, cc + col0 + 1, rr + row0 + 1)
        np.testing.assert_allclose(w, shapely.area(shapely.intersection(cells, poly)), atol=1e-12)
        touched = {(r, c) for r, c in zip(*boundary_pixels(ring), strict=True)}
        crossing = shapely.crosses(cells, poly.exterior) | shapely.overlaps(cells, poly)
        assert {(r + row0, c + col0) for r, c in zip(*np.nonzero(crossing), strict=True)} <= touched
    assert rectangle_coverage(0.5, 0.25, 2.0, 1.75)[2].tolist() == [[0.375, 0.75], [0.375, 0.75]]


# -- raster references ----------------------------------------------------------------------------
def test_raster_reference_same_crs_unaligned_pixels(tmp_path: Path) -> None:
    """7 m reference pixels, origin off the chip grid: fractions = overlap lengths / 320 m."""
    x0 = 299_993.5
    ref = stripes(
        tmp_path / "ref.tif",
        CRS,
        Affine(7, 0, x0, 0, -7, 4_200_012.5),
        (95, 140),
        [0, 40, 70, 90, 140],
        [1, 2, 255, 3],
    )
    summary, ds = prepare(tmp_path, scene_file(tmp_path), ref)
    e = [x0 + 7 * k for k in (0, 40, 70, 90, 140)]  # class boundaries (eastings)
    assert ds.sizes["chip"] == 4 and summary["chips_dropped_no_reference"] == 2  # all code 3
    for fp, n2_area, unmapped in zip(
        footprints(ds), ds["n2_area"].values, ds["unmapped_fraction"].values, strict=True
    ):
        length = [max(0.0, min(fp[2], b) - max(fp[0], a)) / 320 for a, b in itertools.pairwise(e)]
        assert n2_area[FORESTS] == pytest.approx(length[0], abs=1e-6)
        assert n2_area[CROPS] == pytest.approx(length[1], abs=1e-6)
        assert unmapped == pytest.approx(length[2] + length[3], abs=1e-6)  # no data + unmapped
        assert np.delete(n2_area, [FORESTS, CROPS]).max() == 0
    check_sums(ds)
    assert ds["n2"].values[:, FORESTS] == pytest.approx(
        ds["n2_area"].values[:, FORESTS] / (1 - ds["unmapped_fraction"].values), abs=1e-6
    )


def hand_fractions(
    fp: np.ndarray, dst: str, edges: list[float], *, horizontal: bool = False
) -> list[float]:
    """Areas of a footprint (densified to 2000 points an edge, in the reference CRS) between
    consecutive ``edges`` (eastings, or northings if ``horizontal``) over its area."""
    t = np.linspace(0, 1, 2000, endpoint=False)
    left, bottom, right, top = fp
    x = np.r_[left + (right - left) * t, 0 * t + right, right - (right - left) * t, 0 * t + left]
    y = np.r_[0 * t + bottom, bottom + (top - bottom) * t, 0 * t + top, top - (top - bottom) * t]
    poly = shapely.Polygon(np.c_[Transformer.from_crs(CRS, dst, always_xy=True).transform(x, y)])
    big = 1e12
    parts = [
        shapely.clip_by_rect(poly, -big, a, big, b)
        if horizontal
        else shapely.clip_by_rect(poly, a, -big, b, big)
        for a, b in itertools.pairwise(edges)
    ]
    return [p.area / poly.area for p in parts]


def test_raster_reference_in_another_utm_zone(tmp_path: Path) -> None:
    """UTM 29N seen from 30N: footprints are rotated ~4 degrees and slightly curved."""
    scene = scene_file(tmp_path)
    left, bottom, right, top = transform_bounds(CRS, "EPSG:32629", X0, Y0 - 640, X0 + 960, Y0)
    t = Affine(7, 0, left - 13.3, 0, -7, top + 9.1)
    width, height = int((right - left) / 7) + 6, int((top - bottom) / 7) + 6
    cols = [0, width * 3 // 10, width // 2, width * 6 // 10, width]
    ref = stripes(tmp_path / "ref.tif", "EPSG:32629", t, (height, width), cols, [1, 2, 255, 1])
    summary, ds = prepare(tmp_path, scene, ref)
    assert ds.sizes["chip"] == 6
    edges = [t.c + 7 * c for c in cols]
    bound = summary["fraction_error_bound"]
    assert 0 < bound < 1e-6  # densified edges: 64 points an edge
    for fp, n2_area, unmapped in zip(
        footprints(ds), ds["n2_area"].values, ds["unmapped_fraction"].values, strict=True
    ):
        f = hand_fractions(fp, "EPSG:32629", edges)
        assert n2_area[FORESTS] == pytest.approx(f[0] + f[3], abs=1e-6)
        assert n2_area[CROPS] == pytest.approx(f[1], abs=1e-6)
        assert unmapped == pytest.approx(f[2], abs=1e-6)
    check_sums(ds)


def below_parallel(fp: np.ndarray, lat: float) -> float:
    """Share of a footprint's area in the scene CRS (UTM, near its central meridian: area-true
    to 5e-7 across a chip) south of the parallel ``lat``, traced with 2000 points."""
    lon = np.linspace(-3.2, -2.8, 2000)
    x, y = Transformer.from_crs("EPSG:4326", CRS, always_xy=True).transform(
        lon, np.full_like(lon, lat)
    )
    south = shapely.Polygon(np.r_[np.c_[x, y], [[x[-1], 0.0], [x[0], 0.0]]])
    box = shapely.box(*fp)
    return shapely.intersection(box, south).area / box.area


def test_raster_reference_geographic_rows_weighted_by_area(tmp_path: Path) -> None:
    """A parallel splits 3.2 km chips: fractions of ground area, not of square degrees (which
    differ by ~3e-5 here: the cosine of latitude changes by 4e-4 across a chip)."""
    scene = scene_file(tmp_path, shape=(64, 64), pixel=100.0, origin=(496_800.0, Y0))
    lat0, split = 37.955, 427  # rows above `split` are code 1 (Forests), below code 2
    t = Affine(0.0001, 0, -3.05, 0, -0.0001, lat0)
    data = np.where(np.arange(900)[:, None] < split, 1, 2) * np.ones((1, 900), np.uint8)
    ref = write_raster(
        tmp_path / "ref.tif", data.astype(np.uint8), crs="EPSG:4326", transform=t, nodata=255
    )
    _, ds = prepare(tmp_path, scene, ref)
    for fp, n2_area in zip(footprints(ds), ds["n2_area"].values, strict=True):
        south = below_parallel(fp, lat0 - 0.0001 * split)
        assert n2_area[CROPS] == pytest.approx(south, abs=3e-6)
        assert n2_area[FORESTS] == pytest.approx(1 - south, abs=3e-6)
    assert 0.05 < ds["n2_area"].values[:, CROPS].max() < 0.95  # the parallel crosses chips


# -- polygon references ---------------------------------------------------------------------------
POLYGONS = [  # (left, bottom, right, top) in the scene CRS, NLCD code
    ((299_900.0, 4_199_300.0, 300_250.0, 4_200_100.0), 41),
    ((300_250.0, 4_199_500.0, 300_500.0, 4_200_100.0), 82),
    ((300_500.0, 4_199_300.0, 300_700.0, 4_200_100.0), 0),  # unmapped; then a gap
]


def polygons_file(tmp: Path, suffix: str, crs: str, extra: list | None = None) -> Path:
    rects = [*POLYGONS, *(extra or [])]
    geoms = gpd.GeoSeries([shapely.segmentize(shapely.box(*r), 1.0) for r, _ in rects], crs=CRS)
    gdf = gpd.GeoDataFrame({"nlcd": [c for _, c in rects]}, geometry=geoms.to_crs(crs))
    path = tmp / f"ref{suffix}"
    gdf.to_parquet(path) if suffix == ".parquet" else gdf.to_file(path)
    return path


def overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    return w * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


@pytest.mark.parametrize(("suffix", "crs"), [(".gpkg", "EPSG:4326"), (".parquet", CRS)])
def test_polygon_fractions_equal_rectangle_areas(tmp_path: Path, suffix: str, crs: str) -> None:
    ref = polygons_file(tmp_path, suffix, crs)
    summary, ds = prepare(
        tmp_path, scene_file(tmp_path), ref, crosswalk="nlcd", class_column="nlcd"
    )
    assert ds.sizes["chip"] == 4 and summary["chips_dropped_no_reference"] == 2
    for fp, n2_area in zip(footprints(ds), ds["n2_area"].values, strict=True):
        area = (fp[2] - fp[0]) * (fp[3] - fp[1])
        assert n2_area[FORESTS] == pytest.approx(overlap(fp, POLYGONS[0][0]) / area, abs=1e-6)
        assert n2_area[CROPS] == pytest.approx(overlap(fp, POLYGONS[1][0]) / area, abs=1e-6)
    assert sorted(ds["unmapped_fraction"].values) == pytest.approx(
        sorted([0.0, 1 - 250 / 320 - 70 * 180 / 320**2, 140 / 320, 1 - 180 * 180 / 320**2]),
        abs=1e-6,
    )
    check_sums(ds)


# -- the dataset: format, images as predict feeds them, exact truth, blocks ------------------------
def test_dataset_format_images_truth_and_blocks(small_world_data: tuple, tmp_path: Path) -> None:
    w, p = small_world_data  # the 448 x 672 px world of seed 7 (conftest)
    cfg = PrepareConfig(
        scenes=(p["scene"],),
        reference=p["reference"],
        crosswalk="index",
        dem=p["dem"],
        climate=p["climate"],
        out=tmp_path / "ds.zarr",
        block_size=(2528.0, 2560.0),
    )
    summary = prepare_dataset(cfg)
    ds = xr.open_zarr(tmp_path / "ds.zarr")
    assert dict(ds.sizes) == {
        "chip": 6,
        "band": 3,
        "y": 224,
        "x": 224,
        "class_n1": 4,
        "class_n2": 10,
        "variable": 7,
    }
    dtypes = {k: str(v.dtype) for k, v in ds.data_vars.items()}
    assert dtypes == {
        "image": "uint8",
        "ancillary": "float32",
        "n2": "float32",
        "n1": "float32",
        "n2_area": "float32",
        "unmapped_fraction": "float32",
        "valid_fraction": "float32",
        "left": "float64",
        "bottom": "float64",
        "right": "float64",
        "top": "float64",
        "row_off": "int32",
        "col_off": "int32",
        "scene_index": "int16",
        "block": "int32",
        "block_row": "int32",
        "block_col": "int32",
    }
    assert ds["image"].encoding["chunks"][0] == 256
    assert list(ds["variable"].values) == ["elevation", "slope", *CLIMATE_VARIABLES]
    assert list(ds["band"].values) == ["red", "green", "blue"]
    a = ds.attrs
    assert a["lulcmap_dataset_version"] == 1 and a["legend"] == "sipna" and a["crs"] == CRS
    assert a["crosswalk"]["id"] == "index" and len(a["crosswalk"]["sha256"]) == 64
    assert (a["chip_size"], a["stride"], a["pixel_size_m"]) == (224, 224, 10.0)
    assert a["block_size_m"] == [2528.0, 2560.0] and a["radiometry"]["reflectance_max"] == 0.3
    assert a["scenes"][0]["shape"] == [448, 672] and a["n_chips"] == summary["n_chips"] == 6
    scene = open_scene(p["scene"], radiometry=Radiometry())
    for k in range(6):
        r, c = int(ds["row_off"][k]), int(ds["col_off"][k])
        rgb, valid = scene.read_strip(r, 224)
        np.testing.assert_array_equal(ds["image"][k].values, rgb[:, :, c : c + 224])
        assert ds["valid_fraction"][k] == pytest.approx(valid[:, c : c + 224].mean())
    plan = ChipPlan(w.grid)
    truth = w.fractions(plan).reshape(10, -1).T  # chips in row-major order
    np.testing.assert_allclose(ds["n2_area"].values, truth, atol=1e-6)
    np.testing.assert_allclose(ds["n2"].values, truth, atol=1e-6)
    np.testing.assert_allclose(ds["unmapped_fraction"].values, 0, atol=1e-6)
    anc = compute_ancillary(
        plan,
        variables=list(ds["variable"].values),
        dem=p["dem"],
        climate={n: p[n] for n in CLIMATE_VARIABLES},
    )
    expected = np.stack([anc[n].ravel() for n in ds["variable"].values], axis=1)
    np.testing.assert_allclose(ds["ancillary"].values, expected, rtol=1e-6)
    # centres x 301120, 303360 (= 120 * 2528: on a boundary, east block), 305600;
    # y 4198880 (1640.19 * 2560), 4196640 (1639.31 * 2560)
    assert ds["block_col"].values.tolist() == [119, 120, 120] * 2
    assert ds["block_row"].values.tolist() == [1640] * 3 + [1639] * 3
    assert ds["block"].values.tolist() == [
        r * 65536 + c
        for r, c in zip(
            ds["block_row"].values.tolist(), ds["block_col"].values.tolist(), strict=True
        )
    ]
    assert summary["n_blocks"] == 4
    check_sums(ds)


def test_pixel_size_resampled_on_read(small_world_data: tuple, tmp_path: Path) -> None:
    """10 m scene read at 20 m: chips cover 448 px of the 10 m reference, exactly."""
    w, p = small_world_data  # the 448 x 672 px world of seed 7 (conftest)
    cfg = PrepareConfig(
        scenes=(p["scene"],),
        reference=p["reference"],
        crosswalk="index",
        out=tmp_path / "ds.zarr",
        pixel_size=20.0,
    )
    prepare_dataset(cfg)
    ds = xr.open_zarr(tmp_path / "ds.zarr")
    assert ds.attrs["pixel_size_m"] == 20.0 and ds.attrs["scenes"][0]["resampled"] is True
    assert ds.attrs["scenes"][0]["shape"] == [224, 336] and ds.sizes["variable"] == 0
    windows = np.array([(0, 0, 448, 448), (0, 224, 448, 448)])
    np.testing.assert_allclose(ds["n2_area"].values, w.window_fractions(windows), atol=1e-6)


def test_two_scenes_one_dataset(tmp_path: Path) -> None:
    a = scene_file(tmp_path)
    b = write_raster(
        tmp_path / "b.tif",
        np.full((3, 32, 64), 9, np.uint8),
        crs=CRS,
        transform=Affine(10, 0, X0 + 960, 0, -10, Y0),
        nodata=0,
    )
    ref = aligned_reference(tmp_path, np.full((64, 160), 1))
    summary, ds = prepare(tmp_path, a, ref, scenes=(a, b))
    assert (
        summary["chips_per_scene"] == [6, 2]
        and ds["scene_index"].values.tolist() == [0] * 6 + [1] * 2
    )
    assert [sc["shape"] for sc in ds.attrs["scenes"]] == [[64, 96], [32, 64]]
    assert (ds["image"].values[6:] == 9).all() and (ds["n2"].values[:, FORESTS] == 1).all()
    other = write_raster(
        tmp_path / "c.tif",
        np.ones((3, 32, 32), np.uint8),
        crs="EPSG:32629",
        transform=Affine(10, 0, X0, 0, -10, Y0),
    )
    with pytest.raises(ConfigError, match=r"several CRSs .*EPSG:32629, EPSG:32630"):
        prepare(tmp_path, a, ref, scenes=(a, other), overwrite=True)


def test_scene_smaller_than_a_chip_is_mirrored_as_predict_does(tmp_path: Path) -> None:
    from lulcmap.stream import pad_chips

    scene = scene_file(tmp_path, shape=(20, 40))
    _, ds = prepare(tmp_path, scene, aligned_reference(tmp_path, np.full((20, 40), 1)))
    assert ds["col_off"].values.tolist() == [0, 8] and ds["image"].shape == (2, 3, 32, 32)
    rgb, _ = open_scene(scene, radiometry=Radiometry()).read_strip(0, 20)
    for k, c in enumerate([0, 8]):
        expected = pad_chips(rgb[None, :, :, c : c + 32], 32)[0]
        np.testing.assert_array_equal(ds["image"].values[k], expected)
    assert ds["top"].values[0] - ds["bottom"].values[0] == 200.0  # the real pixels only


def test_chips_appended_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """6 chips written 4 + 2 (as 256 + ... in a big dataset): the same data and attributes."""
    ref = aligned_reference(tmp_path, np.arange(96)[None, :] % 2 + np.ones((64, 1)))
    _, whole = prepare(tmp_path, scene_file(tmp_path), ref)
    monkeypatch.setattr("lulcmap.chipdata.writer.CHUNK_CHIPS", 4)
    _, parts = prepare(tmp_path, scene_file(tmp_path), ref, overwrite=True)
    assert parts["image"].encoding["chunks"][0] == 4 and parts.sizes["chip"] == 6
    xr.testing.assert_identical(whole.drop_encoding(), parts.drop_encoding())
    assert parts.attrs["lulcmap_dataset_version"] == 1 and parts.attrs["n_chips"] == 6


# -- errors ---------------------------------------------------------------------------------------
def aligned_reference(tmp: Path, data: np.ndarray, origin: tuple[float, float] = (X0, Y0)) -> Path:
    t = Affine(10, 0, origin[0], 0, -10, origin[1])
    return write_raster(tmp / "ref.tif", data.astype(np.uint8), crs=CRS, transform=t, nodata=255)


def test_unknown_codes_named_with_pixel_counts(tmp_path: Path) -> None:
    data = np.ones((64, 96), np.uint8)
    data[10:15, 20:24], data[40:42, 50:53] = 7, 8
    with pytest.raises(InputDataError, match=r"codes missing from crosswalk 'test'") as info:
        prepare(tmp_path, scene_file(tmp_path), aligned_reference(tmp_path, data))
    assert "7 (20 px), 8 (6 px)" in str(info.value) and "unmapped" in str(info.value)
    assert not (tmp_path / "ds.zarr").exists()


def test_polygon_errors(tmp_path: Path) -> None:
    scene = scene_file(tmp_path)
    bad = polygons_file(
        tmp_path, ".gpkg", CRS, [((300_100.0, 4_199_600.0, 300_200.0, 4_199_800.0), 99)]
    )
    with pytest.raises(InputDataError, match=r"99 \(1 polygons, 0\.02 km²\)"):
        prepare(tmp_path, scene, bad, crosswalk="nlcd", class_column="nlcd")
    with pytest.raises(ConfigError, match="has no column 'code'; its columns are nlcd"):
        prepare(tmp_path, scene, bad, crosswalk="nlcd", class_column="code")
    with pytest.raises(ConfigError, match="need --class-column; its columns are nlcd"):
        prepare(tmp_path, scene, bad, crosswalk="nlcd")


def test_no_overlap_names_both_extents(tmp_path: Path) -> None:
    ref = aligned_reference(tmp_path, np.ones((10, 10)), origin=(400_000.0, Y0))
    with pytest.raises(
        CoverageError,
        match=r"does not overlap scene .*\(400000, 4199900, 400100, "
        r"4200000\) and the scene \(300000, 4199360, 300960, 4200000\)",
    ):
        prepare(tmp_path, scene_file(tmp_path), ref)


def test_cli_exit_2_and_nothing_left(tmp_path: Path) -> None:
    scene = scene_file(tmp_path)
    ref = aligned_reference(tmp_path, np.full((64, 96), 9))
    out = tmp_path / "out" / "ds.zarr"
    args = [
        "prepare",
        str(scene),
        "--reference",
        str(ref),
        "--crosswalk",
        "nlcd",
        "--out",
        str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lulcmap: error:") and "9 (6,144 px)" in lines[0]
    assert not out.parent.exists()
    result = runner.invoke(app, [*args[:-2], "--block-size", "12kx3", "--out", str(out)])
    assert result.exit_code == 2 and "--block-size expects WIDTHxHEIGHT" in result.output


def test_cli_writes_and_reports(tmp_path: Path) -> None:
    ref = aligned_reference(tmp_path, np.full((64, 96), 42))
    out = tmp_path / "ds.zarr"
    result = runner.invoke(
        app,
        [
            "prepare",
            str(scene_file(tmp_path)),
            "-r",
            str(ref),
            "--crosswalk",
            "nlcd",
            "--chip-size",
            "32",
            "--stride",
            "32",
            "--block-size",
            "500",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "6 chips" in result.output and "100.00%  Forests" in result.output
    ds = xr.open_zarr(out)
    assert ds.attrs["block_size_m"] == [500.0, 500.0] and ds.sizes["chip"] == 6
    again = runner.invoke(
        app,
        [
            "prepare",
            str(tmp_path / "scene.tif"),
            "-r",
            str(ref),
            "--crosswalk",
            "nlcd",
            "--out",
            str(out),
        ],
    )
    assert again.exit_code == 2 and "pass --overwrite" in again.output


# -- real data ------------------------------------------------------------------------------------
@pytest.mark.realdata
def test_real_zion_subset(data_dir: Path, tmp_path: Path) -> None:
    """300 x 300 px of Landsat 8 (B4, B3, B2; TOA DN * 2e-5 - 0.1) at 30 m; NLCD 2011; SRTM."""
    zion = data_dir / "zion"
    if not zion.is_dir():
        pytest.skip("zion data not found")
    window = ((400, 700), (400, 700))
    bands = []
    for b in (4, 3, 2):
        with rasterio.open(zion / f"landsat_b{b}.tif") as src:
            bands.append(src.read(1, window=window))
            transform, crs = src.window_transform(window), src.crs
    scene = write_raster(
        tmp_path / "zion.tif", np.stack(bands), crs=crs, transform=transform, nodata=65535
    )
    cfg = PrepareConfig(
        scenes=(scene,),
        reference=zion / "nlcd2011.tif",
        crosswalk="nlcd",
        dem=zion / "srtm.tif",
        rgb_bands="1,2,3",
        scale=2e-5,
        offset=-0.1,
        out=tmp_path / "zion.zarr",
    )
    summary = prepare_dataset(cfg)
    ds = xr.open_zarr(tmp_path / "zion.zarr").load()
    assert ds.sizes["chip"] == 4 and list(ds["variable"].values) == ["elevation", "slope"]
    check_sums(ds)
    assert np.isfinite(ds["ancillary"].values).all() and (ds["image"].values > 0).all()
    print(
        "Zion class balance (mean N2 fraction):",
        {k: round(v, 4) for k, v in summary["class_balance"].items()},
    )
