"""Scene reading: band choice, radiometry, validity, laziness, errors, Sentinel-2 SAFE products.

Every expected value comes from the radiometry formula applied to known digital numbers, never
from a golden file: ``uint8 = clip(round((DN * scale + offset) / reflectance_max * 255), 1, 255)``.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp
from rasterio.shutil import copy as rio_copy

from lulcmap.errors import (
    BandSelectionError,
    ConfigError,
    CoverageError,
    InputDataError,
    InputNotFoundError,
    MissingCRSError,
    NotARasterError,
)
from lulcmap.io.scene import open_scene
from lulcmap.model.card import Radiometry
from lulcmap.testing.safe import (
    north_up,
    write_safe,
    zip_safe,
)

RADIOMETRY = Radiometry()  # reflectance 0..0.3 -> 1..255
H, W = 40, 30
ORIGIN = (500000.0, 4200000.0)
DESCRIPTIONS = ("B02", "B03", "B04", "B08")


def expected_uint8(dn: np.ndarray, *, offset: float = 0.0, rmax: float = 0.3) -> np.ndarray:
    """The oracle: the card's formula, computed independently of the reader."""
    return np.clip(np.rint((dn * 1e-4 + offset) / rmax * 255), 1, 255).astype(np.uint8)


def known_dn(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """DN whose 8-bit value is at least 0.2 away from a rounding tie (.5), whatever the offset."""
    target = rng.integers(1, 256, shape) + rng.uniform(-0.3, 0.3, shape)
    return np.rint(target / 255 * 0.3 * 1e4).astype(np.uint16)


def write_tif(
    path: Path,
    bands: np.ndarray,
    *,
    crs: str | None = "EPSG:32630",
    transform: Affine | None = None,
    nodata: float | None = None,
    descriptions: tuple[str, ...] | None = None,
    **creation: object,
) -> Path:
    """``bands`` as a GeoTIFF; ``creation``: GDAL creation options (tiling, interleave)."""
    count, h, w = bands.shape
    profile = {
        "driver": "GTiff",
        "width": w,
        "height": h,
        "count": count,
        "dtype": bands.dtype,
        "crs": crs,
        "transform": transform or north_up(*ORIGIN, 10, 10),
        "nodata": nodata,
        **creation,
    }
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(bands)
        for i, d in enumerate(descriptions or (), start=1):
            ds.set_band_description(i, d)
    return path


@pytest.fixture(scope="module")
def dn() -> np.ndarray:
    """4 bands (B02, B03, B04, B08) of DN from known reflectances, with a few hand-picked pixels."""
    values = known_dn(np.random.default_rng(7), (4, H, W))
    # (B04 DN -> uint8): 1000 -> 0.1 -> 85; 3000 -> 255; 5000 -> clipped 255; 1 -> clipped 1;
    # 50 -> 4.25 -> 4; 2000 -> 170 (and 85 with offset -0.1)
    values[2, 0, :6] = [1000, 3000, 5000, 1, 50, 2000]
    return values


@pytest.fixture(scope="module")
def reflectance_tif(tmp_path_factory: pytest.TempPathFactory, dn: np.ndarray) -> Path:
    path = tmp_path_factory.mktemp("scene") / "s2_4band.tif"
    return write_tif(path, dn, descriptions=DESCRIPTIONS)


# -- radiometry ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rgb_bands", ["B04,B03,B02", "3,2,1", "b4, b3, b2", (3, 2, 1), ["B04", 2, "1"]]
)
def test_reflectance_to_uint8_matches_the_formula(
    reflectance_tif: Path, dn: np.ndarray, rgb_bands: str | Sequence[int | str]
) -> None:
    scene = open_scene(reflectance_tif, rgb_bands=rgb_bands, radiometry=RADIOMETRY)
    rgb, valid = scene.read_strip(0, H)
    assert rgb.dtype == np.uint8 and rgb.shape == (3, H, W) and valid.shape == (H, W)
    assert valid.all()
    np.testing.assert_array_equal(rgb, expected_uint8(dn[[2, 1, 0]]))
    assert list(rgb[0, 0, :6]) == [85, 255, 255, 1, 4, 170]
    assert scene.band_names == ["B04", "B03", "B02"]
    assert scene.scale == (1e-4,) * 3 and scene.offset == (0.0,) * 3


def test_uint8_scene_of_the_same_values_reads_identically(
    tmp_path: Path, reflectance_tif: Path, dn: np.ndarray
) -> None:
    tc = write_tif(tmp_path / "truecolour.tif", expected_uint8(dn[[2, 1, 0]]))
    rgb8, valid8 = open_scene(tc, radiometry=RADIOMETRY).read_strip(0, H)
    rgb16, valid16 = open_scene(
        reflectance_tif, rgb_bands="3,2,1", radiometry=RADIOMETRY
    ).read_strip(0, H)
    np.testing.assert_array_equal(rgb8, rgb16)
    np.testing.assert_array_equal(valid8, valid16)


def test_offset_shifts_reflectance(reflectance_tif: Path, dn: np.ndarray) -> None:
    scene = open_scene(reflectance_tif, rgb_bands="3,2,1", radiometry=RADIOMETRY, offset=-0.1)
    rgb, _ = scene.read_strip(0, H)
    np.testing.assert_array_equal(rgb, expected_uint8(dn[[2, 1, 0]], offset=-0.1))
    assert list(rgb[0, 0, :6]) == [1, 170, 255, 1, 1, 85]
    assert scene.describe()["offset_reflectance"] == [-0.1] * 3


def test_card_reflectance_max_and_explicit_scale(reflectance_tif: Path, dn: np.ndarray) -> None:
    scene = open_scene(
        reflectance_tif, rgb_bands="3,2,1", scale=2e-4, radiometry=Radiometry(reflectance_max=0.6)
    )
    rgb, _ = scene.read_strip(0, H)  # doubling both scale and reflectance_max changes nothing
    np.testing.assert_array_equal(rgb, expected_uint8(dn[[2, 1, 0]]))


def test_declared_gdal_scale_and_offset_are_used(tmp_path: Path, dn: np.ndarray) -> None:
    path = write_tif(tmp_path / "scaled.tif", dn, descriptions=DESCRIPTIONS)
    with rasterio.open(path, "r+") as ds:
        ds.scales = (1e-4,) * 4
        ds.offsets = (-0.1,) * 4
    rgb, _ = open_scene(path, rgb_bands="3,2,1", radiometry=RADIOMETRY).read_strip(0, H)
    np.testing.assert_array_equal(rgb, expected_uint8(dn[[2, 1, 0]], offset=-0.1))


def test_float_reflectance_scene(tmp_path: Path, dn: np.ndarray) -> None:
    refl = (dn[[2, 1, 0]] * 1e-4).astype(np.float64)
    refl[:, 5, 5] = np.nan
    refl[1, 6, 6] = np.nan  # one NaN band is enough to invalidate a pixel
    scene = open_scene(
        write_tif(tmp_path / "refl.tif", refl), rgb_bands="1,2,3", radiometry=RADIOMETRY
    )
    assert scene.scale == (1.0,) * 3
    rgb, valid = scene.read_strip(0, H)
    assert not valid[5, 5] and not valid[6, 6] and valid.sum() == H * W - 2
    expected = expected_uint8(dn[[2, 1, 0]])
    expected[:, ~valid] = 0
    np.testing.assert_array_equal(rgb, expected)


@pytest.mark.parametrize("form", ["COG", "VRT", "zip"])
def test_other_gdal_formats(
    tmp_path: Path, reflectance_tif: Path, dn: np.ndarray, form: str
) -> None:
    if form == "zip":
        path = tmp_path / "scene.zip"
        with zipfile.ZipFile(path, "w") as zf:
            zf.write(reflectance_tif, "inside/scene.tif")
    else:
        path = tmp_path / f"scene.{form.lower()}"
        rio_copy(reflectance_tif, path, driver=form)
    scene = open_scene(path, rgb_bands="B04,B03,B02", radiometry=RADIOMETRY)
    assert scene.driver == {"COG": "GTiff", "VRT": "VRT", "zip": "GTiff"}[form]
    np.testing.assert_array_equal(scene.read_strip(0, H)[0], expected_uint8(dn[[2, 1, 0]]))


@pytest.mark.parametrize(("dtype", "offset"), [("uint16", 0.0), ("uint16", -0.1), ("int16", 0.0)])
def test_every_16bit_dn_reads_as_the_formula(tmp_path: Path, dtype: str, offset: float) -> None:
    """16-bit scenes go through a lookup table: it must equal the formula for all 65536 DN."""
    values = np.arange(65536, dtype=np.uint16).view(dtype).reshape(256, 256)
    bands = np.stack([values, np.roll(values, 1), np.roll(values, 2)])
    bands[:, 0, 0] = 0  # all bands 0: Sentinel-2 fill
    path = write_tif(tmp_path / "all_dn.tif", bands)
    scene = open_scene(path, rgb_bands="1,2,3", radiometry=RADIOMETRY, offset=offset or None)
    rgb, valid = scene.read_strip(0, 256)
    expected = expected_uint8(bands.astype(np.float64), offset=offset)
    expected[:, 0, 0] = 0
    assert np.argwhere(~valid).tolist() == [[0, 0]]
    np.testing.assert_array_equal(rgb, expected)


def test_convert_matches_read_strip(reflectance_tif: Path) -> None:
    scene = open_scene(reflectance_tif, rgb_bands="B04,B03,B02", radiometry=RADIOMETRY)
    rgb, valid = scene.read_strip(3, 20)
    rgb2, valid2 = scene.convert(scene.data[:, 3:23, :].values)
    np.testing.assert_array_equal(rgb2, rgb)
    np.testing.assert_array_equal(valid2, valid)


# -- validity --------------------------------------------------------------------------------------
def test_declared_nodata_marks_pixels_invalid(tmp_path: Path, dn: np.ndarray) -> None:
    bands = dn.copy()
    bands[:, 3, 4] = 65535  # all bands nodata: invalid
    bands[0, 7, 8] = 65535  # one band only: still valid
    bands[:, 9, 9] = 0  # all-zero but nodata is declared as 65535: valid
    scene = open_scene(
        write_tif(tmp_path / "nd.tif", bands, nodata=65535, descriptions=DESCRIPTIONS),
        rgb_bands="B4,B3,B2",
        radiometry=RADIOMETRY,
    )
    rgb, valid = scene.read_strip(0, H)
    assert np.argwhere(~valid).tolist() == [[3, 4]]
    assert (rgb[:, 3, 4] == 0).all() and (rgb[:, ~valid] == 0).all()
    assert (rgb[:, valid] >= 1).all()


def test_declared_nodata_zero(tmp_path: Path, dn: np.ndarray) -> None:
    bands = dn[[2, 1, 0]].copy()
    bands[:, 4, 5] = 0  # all bands 0: invalid
    bands[:2, 6, 7] = 0  # red and green only: valid, and red reads as 1
    path = write_tif(tmp_path / "nd0.tif", bands, nodata=0)
    rgb, valid = open_scene(path, rgb_bands="1,2,3", radiometry=RADIOMETRY).read_strip(0, H)
    assert np.argwhere(~valid).tolist() == [[4, 5]]
    assert (rgb[:, 4, 5] == 0).all() and rgb[0, 6, 7] == 1 and rgb[2, 6, 7] > 1


def test_all_zero_dn_is_fill_without_declared_nodata(tmp_path: Path, dn: np.ndarray) -> None:
    bands = dn.copy()
    bands[:3, 10:12, :] = 0  # rows 10-11 zero in the three chosen bands
    bands[2, 13, 0] = 0  # red only: valid
    scene = open_scene(
        write_tif(tmp_path / "zeros.tif", bands), rgb_bands="3,2,1", radiometry=RADIOMETRY
    )
    _, valid = scene.read_strip(0, H)
    assert not valid[10:12].any() and valid[13, 0] and valid.sum() == H * W - 2 * W


def test_rgba_alpha_band_is_validity(tmp_path: Path, dn: np.ndarray) -> None:
    rgba = np.concatenate([expected_uint8(dn[[2, 1, 0]]), np.full((1, H, W), 255, np.uint8)])
    rgba[3, :3, :] = 0  # transparent top rows
    path = write_tif(tmp_path / "rgba.tif", rgba)
    with rasterio.open(path, "r+") as ds:
        ds.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    scene = open_scene(path, radiometry=RADIOMETRY)  # R, G, B found by colour interpretation
    assert scene.band_indexes == (1, 2, 3) and scene.scale is None
    rgb, valid = scene.read_strip(0, H)
    assert not valid[:3].any() and valid[3:].all()
    np.testing.assert_array_equal(rgb[:, 3:], rgba[:3, 3:])
    assert (rgb[:, :3] == 0).all()


def test_mask_on_a_coarser_grid(tmp_path: Path, reflectance_tif: Path) -> None:
    labels = np.full((1, H // 2, W // 2), 4, np.uint8)  # SCL 4: vegetation
    labels[0, 2, 3] = 9  # cloud high probability
    labels[0, 5, 1] = 3  # cloud shadow
    labels[0, 7, 7] = 11  # snow: kept with mask_values
    mask = write_tif(tmp_path / "scl_20m.tif", labels, transform=north_up(*ORIGIN, 20, 20))
    scene = open_scene(
        reflectance_tif,
        rgb_bands="3,2,1",
        radiometry=RADIOMETRY,
        mask=mask,
        mask_values=[3, 8, 9, 10],
    )
    rgb, valid = scene.read_strip(0, H)
    expected = np.ones((H, W), bool)
    expected[4:6, 6:8] = False
    expected[10:12, 2:4] = False
    np.testing.assert_array_equal(valid, expected)
    assert (rgb[:, ~valid] == 0).all()
    _, valid_rows = scene.read_strip(5, 6)  # windowed reads agree with whole reads
    np.testing.assert_array_equal(valid_rows, expected[5:11])


def test_mask_without_values_excludes_nonzero(tmp_path: Path, reflectance_tif: Path) -> None:
    labels = np.zeros((1, H // 2, W // 2), np.uint8)
    labels[0, 0, 0] = 1
    mask = write_tif(tmp_path / "cloud.tif", labels, transform=north_up(*ORIGIN, 20, 20))
    scene = open_scene(reflectance_tif, rgb_bands="3,2,1", radiometry=RADIOMETRY, mask=mask)
    _, valid = scene.read_strip(0, H)
    assert not valid[:2, :2].any() and valid.sum() == H * W - 4


def test_mask_off_the_scene_is_an_error(tmp_path: Path, reflectance_tif: Path) -> None:
    far = write_tif(
        tmp_path / "far.tif", np.zeros((1, 5, 5), np.uint8), transform=north_up(0, 0, 20, 20)
    )
    with pytest.raises(CoverageError, match="does not overlap"):
        open_scene(reflectance_tif, rgb_bands="3,2,1", radiometry=RADIOMETRY, mask=far)


# -- laziness, threads, record ---------------------------------------------------------------------
def test_data_is_lazy_with_chip_row_chunks(reflectance_tif: Path, dn: np.ndarray) -> None:
    scene = open_scene(
        reflectance_tif, rgb_bands="B04,B03,B02", radiometry=RADIOMETRY, chunk_rows=16
    )
    assert isinstance(scene.data.data, da.Array)
    assert scene.data.dims == ("band", "y", "x")
    assert scene.data.chunks == ((3,), (16, 16, 8), (W,))
    assert list(scene.data.band_name.values) == ["B04", "B03", "B02"]
    np.testing.assert_array_equal(scene.data.values, dn[[2, 1, 0]])
    assert scene.data.rio.crs == scene.grid.crs


def test_all_bands_of_a_3_band_scene_share_one_chunk(tmp_path: Path, dn: np.ndarray) -> None:
    path = write_tif(tmp_path / "three.tif", dn[:3])
    scene = open_scene(path, rgb_bands="3,2,1", radiometry=RADIOMETRY, chunk_rows=16)
    assert scene.data.chunks == ((3,), (16, 16, 8), (W,))
    np.testing.assert_array_equal(scene.data.values, dn[[2, 1, 0]])


def test_read_strip_is_thread_safe(reflectance_tif: Path) -> None:
    scene = open_scene(reflectance_tif, rgb_bands="3,2,1", radiometry=RADIOMETRY)
    serial = [scene.read_strip(r, 4)[0] for r in range(0, H, 4)]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda r: scene.read_strip(r, 4)[0], list(range(0, H, 4)) * 5))
    for i, strip in enumerate(parallel):
        np.testing.assert_array_equal(strip, serial[i % len(serial)])
    scene.close()
    np.testing.assert_array_equal(scene.read_strip(0, 4)[0], serial[0])  # reopens after close


def test_describe_and_grid(reflectance_tif: Path) -> None:
    scene = open_scene(reflectance_tif, rgb_bands="3,2,1", radiometry=RADIOMETRY)
    assert scene.grid.shape == (H, W) and scene.grid.res == (10.0, 10.0)
    record = scene.describe()
    assert record["driver"] == "GTiff" and record["dtype"] == "uint16"
    assert (record["width"], record["height"]) == (W, H)
    assert record["bands"] == {"red": "B04", "green": "B03", "blue": "B02", "indexes": [3, 2, 1]}
    assert record["crs"] == "EPSG:32630" and record["pixel_size"] == [10.0, 10.0]
    assert record["resampling"] is None and scene.source_grid == scene.grid
    with pytest.raises(ValueError, match="outside"):
        scene.read_strip(H - 2, 4)


# -- errors ----------------------------------------------------------------------------------------
def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="does not exist"):
        open_scene(tmp_path / "nope.tif", radiometry=RADIOMETRY)


def test_not_a_raster(tmp_path: Path) -> None:
    text = tmp_path / "notes.tif"
    text.write_text("hello")
    with pytest.raises(NotARasterError, match="not a raster GDAL can read"):
        open_scene(text, radiometry=RADIOMETRY)
    with pytest.raises(NotARasterError, match=r"\.SAFE"):
        open_scene(tmp_path, radiometry=RADIOMETRY)


def test_no_crs(tmp_path: Path, dn: np.ndarray) -> None:
    path = write_tif(tmp_path / "nocrs.tif", dn[:3].astype(np.uint8), crs=None)
    with pytest.raises(MissingCRSError, match="gdal_edit"):
        open_scene(path, radiometry=RADIOMETRY)


def test_not_north_up(tmp_path: Path, dn: np.ndarray) -> None:
    rotated = north_up(*ORIGIN, 10, 10) @ Affine.rotation(30)
    path = write_tif(tmp_path / "rotated.tif", dn[:3].astype(np.uint8), transform=rotated)
    with pytest.raises(InputDataError, match=r"north-up.*gdalwarp"):
        open_scene(path, radiometry=RADIOMETRY)


def test_unknown_band_lists_the_bands(reflectance_tif: Path) -> None:
    with pytest.raises(BandSelectionError) as err:
        open_scene(reflectance_tif, rgb_bands="B05,B03,B02", radiometry=RADIOMETRY)
    message = str(err.value)
    assert "'B05'" in message and "--rgb-bands" in message
    assert "1: B02; 2: B03; 3: B04; 4: B08" in message


@pytest.mark.parametrize(
    ("rgb_bands", "match"),
    [
        (None, r"1: B02.*no rgb_bands.*--rgb-bands"),
        ("5,2,1", r"band 5.*4: B08"),
        ("3,2", "exactly three"),
        ("3,2,1,4", "exactly three"),
    ],
)
def test_band_selection_errors(reflectance_tif: Path, rgb_bands: str | None, match: str) -> None:
    with pytest.raises(BandSelectionError, match=match):
        open_scene(reflectance_tif, rgb_bands=rgb_bands, radiometry=RADIOMETRY)


def test_scale_or_offset_on_an_8bit_scene(tmp_path: Path, dn: np.ndarray) -> None:
    path = write_tif(tmp_path / "tc.tif", expected_uint8(dn[:3]))
    with pytest.raises(ConfigError, match="8-bit"):
        open_scene(path, radiometry=RADIOMETRY, offset=-0.1)


# -- Sentinel-2 SAFE -------------------------------------------------------------------------------
SAFE_SIZE = 300


@pytest.fixture(scope="module")
def safe_dn() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    # L2A DN of processing baseline >= 04.00 carry +1000: reflectance = DN / 10000 - 0.1
    bands = {b: known_dn(rng, (SAFE_SIZE, SAFE_SIZE)) + 1000 for b in ("B02", "B03", "B04", "B08")}
    for b in ("B02", "B03", "B04"):
        bands[b][:2, :] = 0  # the no-data fill along the top rows
    return bands


@pytest.fixture(scope="module")
def safe(tmp_path_factory: pytest.TempPathFactory, safe_dn: dict[str, np.ndarray]) -> Path:
    return write_safe(tmp_path_factory.mktemp("s2"), safe_dn)


@pytest.mark.parametrize("form", ["folder", "zip", "mtd"])
def test_safe_opens_with_default_bands_and_offset(
    safe: Path, safe_dn: dict[str, np.ndarray], form: str
) -> None:
    path = {"folder": safe, "zip": zip_safe(safe), "mtd": safe / "MTD_MSIL2A.xml"}[form]
    scene = open_scene(path, radiometry=RADIOMETRY)
    assert scene.driver == "SENTINEL2"
    assert scene.gdal_path.startswith("SENTINEL2_L2A:") and ":10m:EPSG_32719" in scene.gdal_path
    assert scene.band_names == ["B4", "B3", "B2"]
    assert scene.offset == pytest.approx((-0.1,) * 3) and scene.scale == pytest.approx((1e-4,) * 3)
    assert scene.grid.shape == (SAFE_SIZE, SAFE_SIZE) and scene.grid.crs.to_epsg() == 32719
    assert scene.grid.transform == north_up(600000, 4700020, 10, 10)
    rgb, valid = scene.read_strip(0, 224)
    stack = np.stack([safe_dn[b][:224] for b in ("B04", "B03", "B02")])
    expected = expected_uint8(stack, offset=-0.1)
    expected[:, :2] = 0
    assert not valid[:2].any() and valid[2:].all()
    np.testing.assert_array_equal(rgb, expected)


def test_safe_band_names_and_explicit_offset(safe: Path, safe_dn: dict[str, np.ndarray]) -> None:
    scene = open_scene(safe, rgb_bands="B08,B03,B02", offset=0.0, radiometry=RADIOMETRY)
    assert scene.band_names == ["B8", "B3", "B2"]
    rgb, _ = scene.read_strip(100, 10)
    np.testing.assert_array_equal(rgb[0], expected_uint8(safe_dn["B08"][100:110]))
    with pytest.raises(BandSelectionError, match="B4, central wavelength 665 nm"):
        open_scene(safe, rgb_bands="B05,B03,B02", radiometry=RADIOMETRY)


def test_safe_before_baseline_4_has_no_offset(
    tmp_path: Path, safe_dn: dict[str, np.ndarray]
) -> None:
    old = write_safe(tmp_path, safe_dn, baseline="02.09", add_offset=None)
    assert open_scene(old, radiometry=RADIOMETRY).offset == (0.0,) * 3


def test_l1c_product_reads_radio_add_offset(tmp_path: Path, safe_dn: dict[str, np.ndarray]) -> None:
    l1c = write_safe(tmp_path, safe_dn, level="L1C")
    scene = open_scene(zip_safe(l1c), radiometry=RADIOMETRY)
    assert scene.gdal_path.startswith("SENTINEL2_L1C:") and scene.band_names == ["B4", "B3", "B2"]
    assert scene.offset == pytest.approx((-0.1,) * 3)
    rgb, _ = scene.read_strip(50, 5)
    np.testing.assert_array_equal(rgb[2], expected_uint8(safe_dn["B02"][50:55], offset=-0.1))


# -- real data -------------------------------------------------------------------------------------
def _real_data() -> Path:
    env = os.environ.get("LULCMAP_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.mark.realdata
def test_real_sentinel2_subset() -> None:
    path = _real_data() / "s2-patagonia" / "s2_patagonia_b02_b03_b04_b08.tif"
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set LULCMAP_DATA)")
    scene = open_scene(path, rgb_bands="3,2,1", offset=-0.1, radiometry=RADIOMETRY)
    assert scene.grid.shape == (200, 300) and scene.band_names == ["B04", "B03", "B02"]
    rgb, valid = scene.read_strip(0, 200)
    assert valid.all()
    saturated = np.isin(rgb, (1, 255)).mean()
    assert saturated < 0.5, f"{saturated:.0%} of values at the ends of the stretch"
    assert 5 < np.median(rgb) < 200
    with rasterio.open(path) as ds:
        red = ds.read(3)
    np.testing.assert_array_equal(rgb[0], expected_uint8(red, offset=-0.1))
