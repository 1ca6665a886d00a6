"""Benchmark inputs, built once into ``benchmarks/_cache/`` (git-ignored).

A full Sentinel-2-size tile: 3-band **uint16** Cloud-Optimized GeoTIFF (deflate, horizontal
predictor, 512 px blocks, overviews), 10980 x 10980 px at 10 m, EPSG:32630, bands described
``B04, B03, B02``, nodata 0 -- the layout of the public L2A COGs. Its digital numbers are
L2A-like: the 8-bit true colour of :func:`lulcmap.synthetic.synthetic_world` (a 2745 x 2745 px
world, mirrored 4 x 4 so texture runs on across the seams) mapped back through the demo model's
radiometry, ``DN = round((v + u) * 3000 / 255)`` with a dither ``|u| <= 0.45``, so DN fill the
continuum as real ones do (and deflate as badly) while reading gives back exactly ``v``. DEM at
30 m and five climate grids at 1 km come from the same world, mirrored the same way.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.shutil import copy as rio_copy
from rasterio.windows import Window

from lulcmap.synthetic import synthetic_world

CACHE = Path(__file__).resolve().parent / "_cache"
TILE = 10980
BLOCK = TILE // 4  # 2745: the synthetic world is mirrored to fill the tile
BAND_NAMES = ("B04", "B03", "B02")
DN_PER_LEVEL = 3000 / 255  # demo radiometry: reflectance 0..0.3 -> 1..255, DN = reflectance x 1e4


def _mirror(a: np.ndarray, i: int, j: int) -> np.ndarray:
    if i % 2:
        a = a[..., ::-1, :]
    if j % 2:
        a = a[..., :, ::-1]
    return a


def _tiled(field: np.ndarray, n: int) -> np.ndarray:
    rows = [np.concatenate([_mirror(field, i, j) for j in range(n)], axis=-1) for i in range(n)]
    return np.concatenate(rows, axis=-2)


def _coarsen(a: np.ndarray, f: int) -> np.ndarray:
    """Block means of ``f x f`` pixels, edge-padded so the result covers the whole field."""
    a = np.pad(a, [(0, -n % f) for n in a.shape], mode="edge")
    h, w = a.shape
    return a.reshape(h // f, f, w // f, f).mean(axis=(1, 3))


def _digital_numbers(rgb: np.ndarray, seed: int = 0) -> np.ndarray:
    """uint16 DN that the demo radiometry maps back exactly to ``rgb`` (0 stays 0: nodata)."""
    u = np.random.default_rng(seed).uniform(-0.45, 0.45, rgb.shape)
    dn = np.rint((rgb + u) * DN_PER_LEVEL).astype(np.uint16)
    dn[rgb == 0] = 0
    return dn


def _write_scene(path: Path, dn: np.ndarray, n: int, crs: object, transform: Affine) -> None:
    size = n * BLOCK
    profile = {
        "driver": "GTiff",
        "dtype": "uint16",
        "count": 3,
        "width": size,
        "height": size,
        "crs": crs,
        "transform": transform,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "nodata": 0,
        "BIGTIFF": "IF_SAFER",
    }
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        plain = Path(tmp) / "plain.tif"
        with rasterio.open(plain, "w", **profile) as dst:
            for i in range(n):
                for j in range(n):
                    win = Window(j * BLOCK, i * BLOCK, BLOCK, BLOCK)
                    dst.write(_mirror(dn, i, j), window=win)
            for b, name in enumerate(BAND_NAMES, start=1):
                dst.set_band_description(b, name)
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
            rio_copy(
                plain,
                path,
                driver="COG",
                compress="DEFLATE",
                predictor="YES",
                blocksize=512,
                overview_resampling="AVERAGE",
                bigtiff="IF_SAFER",
                num_threads="ALL_CPUS",
            )


def _write_float(path: Path, data: np.ndarray, crs: object, transform: Affine) -> None:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        dtype="float32",
        count=1,
        width=data.shape[1],
        height=data.shape[0],
        crs=crs,
        transform=transform,
        compress="deflate",
    ) as dst:
        dst.write(data, 1)


def build_inputs(size: int = TILE) -> dict[str, Path]:
    """Scene (uint16 COG), DEM and climate folder of a ``size x size`` tile; cached."""
    if size % BLOCK:
        raise ValueError(f"size must be a multiple of {BLOCK}, got {size}")
    out = CACHE / f"s2tile{size}"
    paths = {"scene": out / "scene.tif", "dem": out / "dem.tif", "climate": out / "climate"}
    if (out / "done").exists():
        return paths
    (out / "climate").mkdir(parents=True, exist_ok=True)
    n = size // BLOCK
    world = synthetic_world((BLOCK, BLOCK), seed=1)
    t, crs = world.grid.transform, world.grid.crs
    _write_scene(paths["scene"], _digital_numbers(world.rgb), n, crs, t)
    for name, field, f in [("dem", world.dem, 3)] + [(k, v, 100) for k, v in world.climate.items()]:
        pad = 1 if f == 100 else 0  # climate: one coarse pixel of margin all round
        coarse = np.pad(_tiled(_coarsen(field, f), n).astype(np.float32), pad, mode="edge")
        tr = Affine(t.a * f, 0, t.c - pad * t.a * f, 0, t.e * f, t.f - pad * t.e * f)
        _write_float(
            paths["dem"] if name == "dem" else out / "climate" / f"{name}.tif", coarse, crs, tr
        )
    (out / "done").touch()
    return paths


def build_relaid(size: int = TILE, block: int = 2048) -> Path:
    """The tile's scene rewritten as a plain tiled GeoTIFF with ``block`` px blocks (deflate,
    pixel-interleaved, same pixels): the layout of files written by other tools; cached."""
    scene = build_inputs(size)["scene"]
    path = scene.with_name(f"scene_blocks{block}.tif")
    if not path.exists():
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            part = Path(tmp) / path.name
            with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
                rio_copy(
                    scene, part, driver="GTiff", tiled=True, blockxsize=block, blockysize=block,
                    compress="DEFLATE", predictor=2, num_threads="ALL_CPUS", bigtiff="IF_SAFER",
                )  # fmt: skip
            part.replace(path)
    return path
