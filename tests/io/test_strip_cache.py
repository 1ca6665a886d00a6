"""The GDAL block cache a scene is read with: every decoded block one strip touches, bounded.

Expected sizes are counted by hand from the files' block layouts (:func:`strip_blocks_bytes`).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio

import lulcmap.io.env as env_module
import lulcmap.io.scene as scene_module
from lulcmap.io.env import strip_cache_bytes
from lulcmap.io.scene import open_scene
from lulcmap.model.card import Radiometry
from lulcmap.testing.safe import north_up, write_safe

RADIOMETRY = Radiometry()
ORIGIN = (500000.0, 4200000.0)
SAFE_SIZE = 300


def write_tiled(
    path: Path, count: int, *, block: int, width: int, height: int, interleave: str = "pixel"
) -> Path:
    """A tiled uint16 GeoTIFF of ones with ``block`` x ``block`` px blocks."""
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": "uint16",
        "crs": "EPSG:32630",
        "transform": north_up(*ORIGIN, 10, 10),
        "tiled": True,
        "blockxsize": block,
        "blockysize": block,
        "interleave": interleave,
    }
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.ones((count, height, width), np.uint16))
    return path


def strip_blocks_bytes(width: int, block: int, rows: int) -> int:
    """Decoded uint16 bytes of one band's blocks that a strip of ``rows`` rows can touch: the
    rows of blocks it spans when it starts anywhere in a block, each ceil(width/block) blocks."""
    block_rows = math.ceil((rows - 1) / block) + 1
    return block_rows * math.ceil(width / block) * block * block * 2


@pytest.fixture
def no_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(env_module, "STRIP_CACHE_MIN", 0)


@pytest.mark.parametrize(("block", "rows"), [(32, 224), (256, 224), (64, 64), (16, 1)])
def test_strip_cache_holds_every_block_of_a_strip_of_every_decoded_band(
    tmp_path: Path, no_floor: None, block: int, rows: int
) -> None:
    # pixel-interleaved: a block holds all 4 bands, so all 4 are decoded (and cached) together
    path = write_tiled(tmp_path / "p.tif", 4, block=block, width=300, height=600)
    with rasterio.open(path) as ds:
        assert (
            strip_cache_bytes(ds, (3, 2, 1), rows)
            == 4 * strip_blocks_bytes(300, block, rows) * 5 // 4
        )


def test_strip_cache_counts_no_more_block_rows_than_the_file_has(
    tmp_path: Path, no_floor: None
) -> None:
    # 64 rows in one row of 64 px blocks: a 224-row strip touches that one row of blocks only
    path = write_tiled(tmp_path / "one.tif", 3, block=64, width=300, height=64)
    with rasterio.open(path) as ds:
        assert strip_cache_bytes(ds, (1, 2, 3), 224) == 3 * 5 * 64 * 64 * 2 * 5 // 4


def test_strip_cache_of_band_interleaved_counts_the_chosen_bands(
    tmp_path: Path, no_floor: None
) -> None:
    path = write_tiled(tmp_path / "b.tif", 4, block=32, width=300, height=600, interleave="band")
    with rasterio.open(path) as ds:
        assert (
            strip_cache_bytes(ds, (3, 2, 1), 224) == 3 * strip_blocks_bytes(300, 32, 224) * 5 // 4
        )


def test_strip_cache_of_a_vrt_uses_its_sources_blocks(tmp_path: Path, no_floor: None) -> None:
    write_tiled(tmp_path / "src.tif", 3, block=64, width=300, height=600)
    sources = "".join(
        f'<VRTRasterBand dataType="UInt16" band="{b}"><SimpleSource>'
        f'<SourceFilename relativeToVRT="1">src.tif</SourceFilename><SourceBand>{b}</SourceBand>'
        "</SimpleSource></VRTRasterBand>"
        for b in (1, 2, 3)
    )
    vrt = tmp_path / "scene.vrt"
    vrt.write_text(
        '<VRTDataset rasterXSize="300" rasterYSize="600"><SRS>EPSG:32630</SRS>'
        f"<GeoTransform>{ORIGIN[0]}, 10, 0, {ORIGIN[1]}, 0, -10</GeoTransform>"
        f"{sources}</VRTDataset>"
    )
    with rasterio.open(vrt) as ds:
        assert ds.block_shapes[0] != (64, 64)  # the VRT's own blocks are not what is decoded
        assert (
            strip_cache_bytes(ds, (1, 2, 3), 224) == 3 * strip_blocks_bytes(300, 64, 224) * 5 // 4
        )


def test_strip_cache_of_a_safe_uses_its_jp2_blocks(tmp_path: Path, no_floor: None) -> None:
    ones = np.ones((SAFE_SIZE, SAFE_SIZE), np.uint16)
    safe = write_safe(tmp_path, {b: ones for b in ("B02", "B03", "B04", "B08")})
    scene = open_scene(safe, radiometry=RADIOMETRY)
    (jp2,) = safe.rglob("*_B04_10m.jp2")
    with rasterio.open(jp2) as src:
        bh, bw = src.block_shapes[0]
    block_rows = min(math.ceil((224 - 1) / bh) + 1, math.ceil(SAFE_SIZE / bh))
    per_band = block_rows * math.ceil(SAFE_SIZE / bw) * bw * bh * 2
    assert scene.cache_bytes == 3 * per_band * 5 // 4


def test_strip_cache_is_bounded_and_a_too_large_layout_is_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_tiled(tmp_path / "p.tif", 3, block=16, width=64, height=64)
    with rasterio.open(path) as ds:
        assert strip_cache_bytes(ds, (1, 2, 3), 16) == env_module.STRIP_CACHE_MIN
        monkeypatch.setattr(env_module, "STRIP_CACHE_MIN", 1)
        monkeypatch.setattr(env_module, "STRIP_CACHE_MAX", 1000)
        with caplog.at_level(logging.WARNING, logger="lulcmap.io.env"):
            assert strip_cache_bytes(ds, (1, 2, 3), 16) == 1000
    assert "re-tile it" in caplog.text and "BLOCKYSIZE=512" in caplog.text


def test_read_strip_reads_with_the_scene_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_tiled(tmp_path / "p.tif", 3, block=64, width=300, height=600)
    scene = open_scene(path, rgb_bands="3,2,1", radiometry=RADIOMETRY)
    assert scene.cache_bytes == max(
        env_module.STRIP_CACHE_MIN, 3 * strip_blocks_bytes(300, 64, 224) * 5 // 4
    )
    assert scene.describe()["gdal_cache_mb"] == round(scene.cache_bytes / 2**20, 1)
    seen: list[object] = []
    real = scene_module.gdal_env

    def spy(**overrides: object) -> rasterio.Env:
        seen.append(overrides.get("GDAL_CACHEMAX"))
        return real(**overrides)

    monkeypatch.setattr(scene_module, "gdal_env", spy)
    _, valid = scene.read_strip(0, 224)
    assert valid.all() and seen == [scene.cache_bytes]
