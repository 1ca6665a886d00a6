"""Render a run's maps to PNG: the scene, then predicted and (if present) true abundances.

    python examples/render_maps.py OUT_DIR [--stem scene] [--png maps.png]

For the demo (`lulcmap demo --out demo-out`) it also shows `demo-out/inputs/truth_*.tif`.
Needs matplotlib (`pip install matplotlib`).
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import rasterio
from rasterio.enums import Resampling


def read_percent(path: Path) -> tuple[np.ndarray, list[str]]:
    with rasterio.open(path) as ds:
        data = ds.read().astype(float)
        names = list(ds.descriptions)
    data[data == 255] = np.nan
    return data, names


def scene_preview(path: Path, size: int = 800) -> tuple[np.ndarray, tuple[float, ...]]:
    with rasterio.open(path) as ds:
        f = max(1, max(ds.height, ds.width) // size)
        rgb = ds.read(
            [1, 2, 3], out_shape=(3, ds.height // f, ds.width // f), resampling=Resampling.average
        )
        b = ds.bounds
    return np.moveaxis(rgb, 0, -1), (b.left, b.right, b.bottom, b.top)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--stem", default="scene")
    ap.add_argument("--level", default="N1", choices=["N1", "N2"])
    ap.add_argument("--png", type=Path, default=None)
    args = ap.parse_args()
    pred, names = read_percent(args.out / f"{args.stem}_{args.level}.tif")
    truth_path = args.out / "inputs" / f"truth_{args.level}.tif"
    rows = [("predicted", pred)]
    if truth_path.exists():
        rows.append(("truth", read_percent(truth_path)[0]))
    with rasterio.open(args.out / f"{args.stem}_{args.level}.tif") as ds:
        b = ds.bounds
        extent = (b.left, b.right, b.bottom, b.top)
    n = len(names)
    fig, axes = plt.subplots(
        len(rows), n + 1, figsize=(3 * (n + 1), 3.2 * len(rows)), squeeze=False
    )
    scene = args.out / "inputs" / f"{args.stem}.tif"
    for r, (label, data) in enumerate(rows):
        ax = axes[r, 0]
        if scene.exists() and r == 0:
            rgb, sext = scene_preview(scene)
            ax.imshow(rgb, extent=sext)
            ax.set_title("scene (true colour)", fontsize=9)
        else:
            ax.imshow(
                np.nanargmax(np.nan_to_num(data, nan=-1), axis=0),
                cmap="tab10",
                extent=extent,
                vmin=0,
                vmax=9,
                interpolation="nearest",
            )
            ax.set_title(f"{label}: majority class", fontsize=9)
        for k in range(n):
            im = axes[r, k + 1].imshow(
                data[k], vmin=0, vmax=100, cmap="viridis", extent=extent, interpolation="nearest"
            )
            # long class names ("Wetlands and riverine forests") wrap instead of overlapping
            title = textwrap.fill(f"{label}: {names[k]}", 24)
            axes[r, k + 1].set_title(title, fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6, label="abundance (%)")
    png = args.png or args.out / f"{args.stem}_{args.level}.png"
    fig.savefig(png, dpi=80)
    print(png)


if __name__ == "__main__":
    main()
