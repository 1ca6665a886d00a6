"""Full-size synthetic Sentinel-2 tile (10980 x 10980 px, 3-band uint8) through `lulcmap predict`.

Builds the inputs once into benchmarks/_cache/ (a synthetic world of 2745 x 2745 px mirrored 4 x 4,
so that texture is continuous across seams; DEM at 30 m and climate at 1 km), then runs the CLI
in a subprocess for the full tile and for its top-left quarter, and reports wall time, chips/s and
peak memory (RSS of the subprocess) side by side. Run from the repository root:

    python benchmarks/full_tile.py [--device auto|cpu|cuda] [--skip-quarter]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
from affine import Affine
from rasterio.windows import Window

from lulcmap.testing import synthetic_world

CACHE = Path(__file__).resolve().parent / "_cache"
TILE = 10980
BLOCK = TILE // 4  # 2745


def _mirror(a: np.ndarray, i: int, j: int) -> np.ndarray:
    if i % 2:
        a = a[..., ::-1, :]
    if j % 2:
        a = a[..., :, ::-1]
    return a


def _tiled(field: np.ndarray, n: int = 4) -> np.ndarray:
    rows = [np.concatenate([_mirror(field, i, j) for j in range(n)], axis=-1) for i in range(n)]
    return np.concatenate(rows, axis=-2)


def _coarsen(a: np.ndarray, f: int) -> np.ndarray:
    """Block means of ``f x f`` pixels, edge-padded so the result covers the whole field."""
    a = np.pad(a, [(0, -n % f) for n in a.shape], mode="edge")
    h, w = a.shape
    return a.reshape(h // f, f, w // f, f).mean(axis=(1, 3))


def build_inputs(size: int = TILE) -> dict[str, Path]:
    """Write scene (tiled deflate GeoTIFF), DEM and climate for a size x size tile (cached)."""
    out = CACHE / f"tile{size}"
    paths = {"scene": out / "scene.tif", "dem": out / "dem.tif", "climate": out / "climate"}
    if (out / "done").exists():
        return paths
    (out / "climate").mkdir(parents=True, exist_ok=True)
    world = synthetic_world((BLOCK, BLOCK), seed=1)
    t = world.grid.transform
    profile = {
        "driver": "GTiff",
        "dtype": "uint8",
        "count": 3,
        "width": size,
        "height": size,
        "crs": world.grid.crs,
        "transform": t,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "nodata": 0,
        "BIGTIFF": "IF_SAFER",
    }
    with rasterio.open(paths["scene"], "w", **profile) as dst:
        for i in range(size // BLOCK):
            for j in range(size // BLOCK):
                dst.write(
                    _mirror(world.rgb, i, j), window=Window(j * BLOCK, i * BLOCK, BLOCK, BLOCK)
                )
    n = size // BLOCK
    for name, field, f in [("dem", world.dem, 3)] + [(k, v, 100) for k, v in world.climate.items()]:
        coarse = _tiled(_coarsen(field, f), n).astype(np.float32)
        pad = 1 if f == 100 else 0  # climate: one coarse pixel of margin all round
        coarse = np.pad(coarse, pad, mode="edge")
        tr = Affine(t.a * f, 0, t.c - pad * t.a * f, 0, t.e * f, t.f - pad * t.e * f)
        path = paths["dem"] if name == "dem" else out / "climate" / f"{name}.tif"
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            dtype="float32",
            count=1,
            width=coarse.shape[1],
            height=coarse.shape[0],
            crs=world.grid.crs,
            transform=tr,
            compress="deflate",
        ) as dst:
            dst.write(coarse, 1)
    (out / "done").touch()
    return paths


# Runs the CLI in a fresh interpreter and prints that process's own peak RSS (kB) last.
_WRAPPER = """
import resource, sys
from lulcmap.cli.main import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    if exc.code:
        raise
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def run_predict(paths: dict[str, Path], out: Path, device: str) -> dict[str, float]:
    cmd = [
        sys.executable,
        "-c",
        _WRAPPER,
        "predict",
        str(paths["scene"]),
        "--dem",
        str(paths["dem"]),
        "--climate",
        str(paths["climate"]),
        "--out",
        str(out),
        "--overwrite",
        "--quiet",
        "--device",
        device,
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    peak_kb = int(proc.stdout.strip().splitlines()[-1])
    record = json.loads((out / "scene.run.json").read_text())
    cells = record["counts"]["cells"]
    sc = record["inputs"]["scene"]
    km2 = sc["width"] * sc["height"] * sc["pixel_size"][0] * sc["pixel_size"][1] / 1e6
    return {
        "wall_s": wall,
        "cells": cells,
        "chips_per_s": cells / wall,
        "km2_per_s": km2 / wall,
        "peak_rss_mb": peak_kb / 1024,
        "inference_s": record["timings_s"]["inference_s"],
        "ancillary_s": record["timings_s"]["ancillary_s"],
        "device": record["device"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--skip-quarter", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    full = build_inputs(TILE)
    print(f"inputs ready in {time.perf_counter() - t0:.0f} s: {full['scene']}")
    rows = []
    if not args.skip_quarter:
        quarter = build_inputs(TILE // 2)
        rows.append(
            ("quarter tile 5490 x 5490", run_predict(quarter, CACHE / "out_q", args.device))
        )
    rows.append(("full tile 10980 x 10980", run_predict(full, CACHE / "out_full", args.device)))
    print(
        f"\nmachine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
        f"torch threads, torch {torch.__version__}"
    )
    print(
        "| run | cells | wall s | chips/s | km²/s | peak RSS MB | inference s | ancillary s "
        "| device |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(
            f"| {name} | {r['cells']} | {r['wall_s']:.1f} | {r['chips_per_s']:.1f} | "
            f"{r['km2_per_s']:.1f} | {r['peak_rss_mb']:.0f} | {r['inference_s']:.1f} | "
            f"{r['ancillary_s']:.1f} | {r['device']} |"
        )


if __name__ == "__main__":
    main()
