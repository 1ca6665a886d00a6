"""The original workflow's files: chip folders -> abundance CSVs, and ancillary CSVs for chips.

Oracles: lossless chips (PNG, TIFF) read back equal the synthetic world's crops, so the CSVs
must equal the model run directly on those crops; a DEM that is a plane in EPSG:4326 has a known
footprint mean (the plane at the chip's centre) and a known slope.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import torch
from affine import Affine
from PIL import Image

import lulcmap.ancillary as anc_module
from lulcmap.ancillary import GROUP_PIXELS, footprint_ancillary
from lulcmap.errors import ConfigError, CoverageError, InputDataError, ModelCardError
from lulcmap.model.card import ModelCard, Weights
from lulcmap.model.registry import load_model
from lulcmap.seed import (
    ANCILLARY_CSV,
    IMAGES_FOLDER,
    SEED_COLUMNS,
    centre_from_name,
    chip_ancillary,
    chip_footprints,
    output_name,
    predict_chips,
    read_chip,
    read_chip_centres,
    read_chip_folder,
    resolve_levels,
    utm_epsg,
    write_seed_csvs,
)
from lulcmap.testing import World, synthetic_world, write_raster

SIZE = 224


# -- a synthetic chip folder --------------------------------------------------------------------
def chip_windows(world: World) -> np.ndarray:
    """Every 224-px chip of the world at stride 224, as ``(row, col, height, width)``."""
    rows, cols = world.grid.height // SIZE, world.grid.width // SIZE
    return np.array([(r * SIZE, c * SIZE, SIZE, SIZE) for r in range(rows) for c in range(cols)])


def write_chip_folder(world: World, root: Path, suffixes: list[str]) -> list[str]:
    """The original layout from the world's chips (one suffix per chip); returns the names."""
    folder = root / IMAGES_FOLDER
    folder.mkdir(parents=True)
    windows = chip_windows(world)
    names = []
    for i, ((r, c, h, w), suffix) in enumerate(zip(windows, suffixes, strict=True)):
        name = f"Chip_{i}__(+38.{i:04d},-5.{i:04d}){suffix}"
        Image.fromarray(world.rgb[:, r : r + h, c : c + w].transpose(1, 2, 0)).save(folder / name)
        names.append(name)
    means = world.window_ancillary(windows)
    table = pd.DataFrame({"filename": names, **{c: means[c] for c in SEED_COLUMNS}})
    table.iloc[::-1].to_csv(root / ANCILLARY_CSV, index=False)  # CSV order != folder order
    return names[::-1]


@pytest.fixture(scope="module")
def world() -> World:
    return synthetic_world((448, 672), seed=11)


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    return load_model("demo-synthetic")


@pytest.fixture
def folder(world: World, tmp_path: Path) -> Path:
    write_chip_folder(world, tmp_path / "in", [".png", ".tif", ".png", ".tiff", ".png", ".png"])
    return tmp_path / "in"


def test_lossless_chips_read_back_as_the_world_crops(world: World, folder: Path) -> None:
    chips = read_chip_folder(folder)
    windows = chip_windows(world)
    for path in chips.files:
        i = int(path.name.split("_")[1])
        r, c, h, w = windows[i]
        np.testing.assert_array_equal(read_chip(path), world.rgb[:, r : r + h, c : c + w])


def test_csvs_equal_the_model_on_the_crops(world: World, folder: Path, model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    chips = read_chip_folder(folder, columns=model.card.ancillary_names)
    tables = predict_chips(chips, model, batch_size=4)
    assert list(tables) == ["N1", "N2"]
    windows = chip_windows(world)
    order = [int(n.split("_")[1]) for n in chips.filenames]
    crops = np.stack([world.rgb[:, r : r + h, c : c + w] for r, c, h, w in windows[order]])
    means = world.window_ancillary(windows[order])
    anc = np.stack([means[n] for n in model.card.ancillary_names], axis=1).astype(np.float32)
    direct = model(torch.from_numpy(crops), torch.from_numpy(anc)).numpy().astype(np.float64)
    n2 = tables["N2"]
    assert n2["filename"].tolist() == chips.filenames  # the CSV's order
    np.testing.assert_array_equal(n2.iloc[:, 1:].to_numpy(), direct * 100.0)
    paths = write_seed_csvs(tables, tmp_path / "out")
    back = {lv: pd.read_csv(p) for lv, p in paths.items()}
    legend = model.card.get_legend()
    assert list(back["N1"].columns) == ["filename", *legend.names("N1")]
    assert list(back["N2"].columns) == ["filename", *legend.names("N2")]
    n1 = legend.aggregate(back["N2"].iloc[:, 1:].to_numpy(), axis=1)
    np.testing.assert_array_equal(back["N1"].iloc[:, 1:].to_numpy(), n1)
    np.testing.assert_allclose(back["N1"].iloc[:, 1:].sum(axis=1), 100.0, atol=1e-3)


def test_batches_equal_one_chip_at_a_time(folder: Path, model) -> None:  # type: ignore[no-untyped-def]
    chips = read_chip_folder(folder, columns=model.card.ancillary_names)
    batched = predict_chips(chips, model, batch_size=64)["N2"].iloc[:, 1:].to_numpy()
    single = predict_chips(chips, model, batch_size=1)["N2"].iloc[:, 1:].to_numpy()
    np.testing.assert_allclose(batched, single, rtol=0, atol=1e-4)  # percent


def test_jpeg_chips_are_read(world: World, tmp_path: Path, model) -> None:  # type: ignore[no-untyped-def]
    write_chip_folder(world, tmp_path, [".jpg", ".jpeg", ".JPG", ".png", ".tif", ".jpg"])
    chips = read_chip_folder(tmp_path, columns=model.card.ancillary_names)
    tables = predict_chips(chips, model, levels=["N2"], batch_size=5)
    assert list(tables) == ["N2"] and len(tables["N2"]) == 6
    np.testing.assert_allclose(tables["N2"].iloc[:, 1:].sum(axis=1), 100.0, atol=1e-3)


def test_explicit_images_and_csv(folder: Path, tmp_path: Path) -> None:
    csv = tmp_path / "mine.csv"
    (folder / ANCILLARY_CSV).rename(csv)
    chips = read_chip_folder(images=folder / IMAGES_FOLDER, ancillary=csv)
    assert len(chips) == 6 and chips.csv == csv


# -- single-level models ------------------------------------------------------------------------
class N1Model:
    """A stand-in for a published single-level (N1) model: constant N1 fractions."""

    def __init__(self) -> None:
        self.card = ModelCard(
            id="n1-only",
            version="0",
            levels=("N1",),
            weights=Weights(file="-", sha256="0" * 64),
        )

    def __call__(self, images: torch.Tensor, ancillary: torch.Tensor) -> torch.Tensor:
        return torch.tensor([[0.1, 0.2, 0.3, 0.4]]).repeat(images.shape[0], 1)


def test_n1_model_gives_only_n1(folder: Path) -> None:
    chips = read_chip_folder(folder, columns=[])
    tables = predict_chips(chips, N1Model())
    assert list(tables) == ["N1"]
    np.testing.assert_allclose(tables["N1"].iloc[:, 1:].to_numpy()[0], [10, 20, 30, 40])
    assert resolve_levels(None, N1Model().card) == ("N1",)
    with pytest.raises(ConfigError, match="gives only N1"):
        resolve_levels("both", N1Model().card)
    with pytest.raises(ConfigError, match="gives only N1"):
        predict_chips(chips, N1Model(), levels=["N2"])


def test_model_output_of_the_wrong_width(folder: Path) -> None:
    model = N1Model()
    model.card = model.card.model_copy(update={"levels": ("N1", "N2")})
    with pytest.raises(ModelCardError, match="10 classes"):
        predict_chips(read_chip_folder(folder, columns=[]), model)


def test_output_names() -> None:
    assert output_name("N1") == "Abundance estimation results at level N1.csv"


# -- input checks -------------------------------------------------------------------------------
def test_wrong_size_names_the_file(folder: Path) -> None:
    name = sorted((folder / IMAGES_FOLDER).glob("*.png"))[0]
    Image.new("RGB", (200, 224)).save(name)
    with pytest.raises(InputDataError, match=r"is 200x224 px with 3 band.*224x224x3"):
        read_chip_folder(folder)


def test_grey_chip_is_rejected(folder: Path) -> None:
    name = sorted((folder / IMAGES_FOLDER).glob("*.png"))[0]
    Image.new("L", (224, 224)).save(name)
    with pytest.raises(InputDataError, match=r"with 1 band"):
        read_chip_folder(folder)


def test_non_numeric_value_says_where(folder: Path) -> None:
    csv = folder / ANCILLARY_CSV
    table = pd.read_csv(csv)
    table["slope"] = table["slope"].astype(object)
    table.loc[2, "slope"] = "steep"
    table.to_csv(csv, index=False)
    with pytest.raises(InputDataError, match=r"column slope of row 3 \(filename Chip_3.*'steep'"):
        read_chip_folder(folder)


# -- ancillary for chips with known centres -----------------------------------------------------
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


LAT0, LON0 = 38.3, -5.3
A, B, C = 500.0, 2000.0, 3000.0  # z = A + B (lon - LON0) + C (lat - LAT0), metres


def plane(lat: np.ndarray | float, lon: np.ndarray | float) -> np.ndarray:
    return A + B * (np.asarray(lon) - LON0) + C * (np.asarray(lat) - LAT0)


def plane_raster(path: Path, res: float, half: float = 0.8) -> Path:
    n = round(2 * half / res)
    transform = Affine(res, 0, LON0 - half, 0, -res, LAT0 + half)
    lon = LON0 - half + (np.arange(n) + 0.5) * res
    lat = LAT0 + half - (np.arange(n) + 0.5) * res
    z = plane(lat[:, None], lon[None, :]).astype(np.float32)
    return write_raster(path, z, crs="EPSG:4326", transform=transform, nodata=-9999.0)


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
