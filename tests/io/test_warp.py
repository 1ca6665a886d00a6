"""A scene read at another pixel size: the bands, per-band radiometry and validity it was opened
with carry over, and one tolerance decides "same pixel size" everywhere.

Oracles: bilinear interpolation of a linear ramp is the ramp; the average of 2 x 2 pixels whose
digital numbers have an integer mean, put through the card's formula by hand.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
from affine import Affine

from lulcmap.commands.predict import predict
from lulcmap.errors import ConfigError
from lulcmap.grid import Grid
from lulcmap.io.scene import Scene, open_scene
from lulcmap.io.warp import (
    PIXEL_SIZE_TOLERANCE,
    at_pixel_size,
    pixel_size_m,
    resampled_grid,
    same_pixel_size,
)
from lulcmap.model.card import Radiometry
from lulcmap.testing import OracleModel, class_code_scene, make_grid, write_raster
from lulcmap.testing.safe import write_safe

RADIOMETRY = Radiometry()  # reflectance 0..0.3 -> 1..255
CRS = "EPSG:32630"
SAFE_SIZE = 300
OFFSET_DN = {"B04": -1000, "B03": 0, "B02": -2000}
"""A different BOA_ADD_OFFSET per band: whole 8-bit steps (1000 DN = 85), so no rounding ties."""
BAND_ID = {"B02": 1, "B03": 2, "B04": 3}
"""Sentinel-2 band_id of each band in the product metadata (B1 is 0)."""


def stretch(reflectance: np.ndarray) -> np.ndarray:
    """The card's formula, by hand: reflectance -> 1..255."""
    return np.clip(np.rint(reflectance / 0.3 * 255), 1, 255).astype(np.uint8)


def block_mean(a: np.ndarray) -> np.ndarray:
    """Mean of each 2 x 2 block of ``(h, w)``."""
    h, w = a.shape
    return a.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def with_offsets(safe: Path, offsets: dict[str, int]) -> Path:
    """``safe`` with a BOA_ADD_OFFSET of its own for each band of ``offsets``."""
    mtd = safe / "MTD_MSIL2A.xml"
    text = mtd.read_text()
    for band, value in offsets.items():
        pattern = rf'(<BOA_ADD_OFFSET band_id="{BAND_ID[band]}">)-?\d+(<)'
        text, n = re.subn(pattern, rf"\g<1>{value}\g<2>", text)
        assert n == 1
    mtd.write_text(text)
    return safe


# -- per-band radiometry through resampling --------------------------------------------------------
@pytest.fixture(scope="module")
def safe_blocks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """A SAFE product with a different offset per band, and each band's 20 m reflectance.

    Each 2 x 2 block of DN is ``mean + (d, -d, e, -e)``: its mean is an integer, so GDAL's
    average (which rounds to whole DN) is exact. The top two rows are fill (all bands 0).
    """
    rng = np.random.default_rng(5)
    half = SAFE_SIZE // 2
    dn, refl20 = {}, {}
    for band, offset in OFFSET_DN.items():
        target = rng.integers(10, 250, (half, half)) + rng.uniform(-0.3, 0.3, (half, half))
        mean = np.rint(target / 255 * 0.3 * 1e4).astype(np.int64) - offset  # reflectance -> DN
        d, e = rng.integers(-5, 6, (2, half, half))
        pattern = np.stack([np.stack([d, -d], -1), np.stack([e, -e], -1)], 1)  # (h, 2, w, 2)
        values = (mean[:, None, :, None] + pattern).reshape(SAFE_SIZE, SAFE_SIZE)
        values[:2] = 0
        dn[band] = values.astype(np.uint16)
        # by hand: each pixel's reflectance, then the mean of each block
        refl20[band] = block_mean(dn[band] / 1e4 + offset / 1e4)
    dn["B08"] = np.full((SAFE_SIZE, SAFE_SIZE), 1234, np.uint16)
    safe = with_offsets(write_safe(tmp_path_factory.mktemp("s2"), dn), OFFSET_DN)
    return safe, refl20


def test_safe_with_per_band_offsets_resampled_equals_averaged_reflectance(
    safe_blocks: tuple[Path, dict[str, np.ndarray]],
) -> None:
    safe, refl20 = safe_blocks
    scene = open_scene(safe, radiometry=RADIOMETRY)
    assert scene.offset == pytest.approx((-0.1, 0.0, -0.2))  # B4, B3, B2: not one value
    coarse = at_pixel_size(scene, 20.0)
    assert coarse.grid.shape == (SAFE_SIZE // 2, SAFE_SIZE // 2) and coarse.grid.res == (20, 20)
    assert coarse.band_indexes == scene.band_indexes and coarse.offset == scene.offset
    assert coarse.describe()["resampling"] == "average" and coarse.driver == "SENTINEL2"
    rgb, valid = coarse.read_strip(0, SAFE_SIZE // 2)
    expected = np.stack([stretch(refl20[b]) for b in ("B04", "B03", "B02")])
    expected[:, 0] = 0  # the fill rows average to fill: invalid
    assert not valid[0].any() and valid[1:].all()
    np.testing.assert_array_equal(rgb, expected)


def test_warped_strips_agree_with_whole_reads_and_across_threads(
    safe_blocks: tuple[Path, dict[str, np.ndarray]],
) -> None:
    coarse = at_pixel_size(open_scene(safe_blocks[0], radiometry=RADIOMETRY, chunk_rows=16), 20.0)
    assert isinstance(coarse.data.data, da.Array)
    assert coarse.data.chunks[1][:2] == (16, 16) and coarse.data.chunks[2] == (150,)
    assert coarse.data.rio.crs == coarse.grid.crs
    assert coarse.data.rio.transform() == coarse.grid.transform
    whole, _ = coarse.read_strip(0, 150)
    np.testing.assert_array_equal(coarse.read_strip(37, 20)[0], whole[:, 37:57])
    with ThreadPoolExecutor(4) as pool:
        strips = list(pool.map(lambda r: coarse.read_strip(r, 10)[0], range(0, 150, 10)))
    np.testing.assert_array_equal(np.concatenate(strips, axis=1), whole)
    coarse.close()
    np.testing.assert_array_equal(coarse.read_strip(0, 10)[0], whole[:, :10])  # reopens


def test_a_warped_scene_warped_again_is_read_from_its_source(
    safe_blocks: tuple[Path, dict[str, np.ndarray]],
) -> None:
    scene = open_scene(safe_blocks[0], radiometry=RADIOMETRY)
    back = at_pixel_size(scene, 20.0).warped(scene.grid)
    assert back.grid == scene.grid and back.source_grid == scene.grid
    np.testing.assert_array_equal(back.read_strip(0, 100)[0], scene.read_strip(0, 100)[0])


# -- the grid and the resampling -------------------------------------------------------------------
def test_finer_pixels_are_bilinear_on_a_ramp(tmp_path: Path) -> None:
    grid = make_grid((12, 20), pixel_size=30.0, crs=CRS)
    ramp = np.broadcast_to(np.arange(20, dtype=np.float32), (3, 12, 20))
    src = write_raster(tmp_path / "ramp.tif", ramp, crs=CRS, transform=grid.transform)
    fine = at_pixel_size(open_scene(src, rgb_bands="1,2,3", radiometry=RADIOMETRY), 10.0)
    assert fine.grid.shape == (36, 60) and fine.grid.res == (10.0, 10.0)
    assert fine.grid.transform.c == grid.transform.c and fine.grid.transform.f == grid.transform.f
    assert fine.describe()["resampling"] == "bilinear"
    band = fine.data.values[0]
    j = np.arange(60)
    inner = slice(3, 57)  # away from the edges, bilinear interpolation of a ramp is exact
    np.testing.assert_allclose(band[18, inner], ((j + 0.5) / 3 - 0.5)[inner], atol=1e-5)


def test_nodata_and_mask_carry_over(tmp_path: Path) -> None:
    bands = np.full((3, 8, 8), 2000, np.uint16)
    bands[:, :2, :2] = 65535  # a whole 2 x 2 block of nodata: no data in the 20 m pixel
    bands[:, 2, 2] = 65535  # one pixel of a block: the others average to data
    src = write_raster(
        tmp_path / "nd.tif", bands, crs=CRS, transform=make_grid((8, 8)).transform, nodata=65535
    )
    labels = np.zeros((4, 4), np.uint8)
    labels[3, 3] = 9
    grid20 = resampled_grid(make_grid((8, 8)), 20.0)
    mask = write_raster(tmp_path / "scl.tif", labels, crs=CRS, transform=grid20.transform)
    scene = open_scene(src, rgb_bands="1,2,3", radiometry=RADIOMETRY, mask=mask, mask_values=[9])
    rgb, valid = at_pixel_size(scene, 20.0).read_strip(0, 4)
    expected = np.ones((4, 4), bool)
    expected[0, 0] = expected[3, 3] = False
    np.testing.assert_array_equal(valid, expected)
    assert (rgb[:, valid] == stretch(np.float64(0.2))).all() and (rgb[:, ~valid] == 0).all()


def test_resampled_grid_holds_whole_pixels_inside() -> None:
    grid = make_grid((25, 31), pixel_size=10.0, crs=CRS)
    coarse = resampled_grid(grid, 20.0)
    assert coarse.shape == (12, 15) and coarse.transform.c == grid.transform.c
    with pytest.raises(ConfigError, match="larger than the scene"):
        resampled_grid(grid, 1000.0)
    with pytest.raises(ConfigError, match="geographic CRS"):
        resampled_grid(make_grid((4, 4), pixel_size=0.001, crs="EPSG:4326"), 20.0)


# -- one tolerance ---------------------------------------------------------------------------------
def test_pixel_sizes_are_the_same_within_one_tolerance() -> None:
    assert PIXEL_SIZE_TOLERANCE == 0.01
    assert same_pixel_size(10.0, 10.05) and same_pixel_size(10.05, 10.0)
    assert not same_pixel_size(10.0, 10.2)
    crs = make_grid((2, 2)).crs
    almost = Grid(crs, Affine(10.0, 0, 0, 0, -10.05, 0), (4, 4))
    assert pixel_size_m(almost) == 10.0  # square within the tolerance
    with pytest.raises(ConfigError, match="non-square"):
        pixel_size_m(Grid(crs, Affine(10.0, 0, 0, 0, -10.5, 0), (4, 4)))


def scene_at(tmp_path: Path, pixel: float) -> Path:
    classes = np.arange(64 * 64).reshape(64, 64) % 7
    t = make_grid((64, 64)).transform
    return write_raster(
        tmp_path / f"scene_{pixel:g}.tif",
        class_code_scene(classes),
        crs=CRS,
        transform=Affine(pixel, 0, t.c, 0, -pixel, t.f),
        nodata=0,
    )


@pytest.mark.parametrize(("pixel", "resampled"), [(10.05, False), (9.96, False), (10.3, True)])
def test_predict_and_the_resampler_agree_on_the_model_pixel_size(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, pixel: float, resampled: bool
) -> None:
    """0.5 % off the model's 10 m is the model's size for predict and the resampler alike."""
    path = scene_at(tmp_path, pixel)
    scene: Scene = open_scene(path, radiometry=RADIOMETRY)
    assert (at_pixel_size(scene, 10.0) is not scene) is resampled
    with caplog.at_level("WARNING", logger="lulcmap.commands.predict"):
        ds = predict(path, model=OracleModel(chip_size=16), stride=16, device="cpu")
    assert ("resampling on read" in caplog.text) is resampled
    assert ("resampled_from" in ds.attrs["scene"]) is resampled
    cell = 16 * (10.0 if resampled else pixel)
    assert ds.rio.resolution()[0] == pytest.approx(cell)
