"""The original workflow's chip folders built from a synthetic world, and a DEM that is a plane.

:func:`write_chip_folder` writes the original layout (``RGB satellite images folder/`` and the
ancillary CSV) from a :class:`~lulcmap.synthetic.World`'s chips, so lossless chips read back equal
the world's crops. :func:`plane_raster` writes a DEM in EPSG:4326 that is a plane around
(:data:`LAT0`, :data:`LON0`): its mean over a chip's footprint is :func:`plane` at the chip's
centre, its slope is known.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from affine import Affine
from PIL import Image

from lulcmap.compat.folders import ANCILLARY_COLUMNS
from lulcmap.compat.layout import ANCILLARY_CSV, IMAGES_FOLDER
from lulcmap.synthetic import World, write_raster

SIZE = 224
"""Side of the original's chips, in pixels."""

LAT0, LON0 = 38.3, -5.3
"""Centre of :func:`plane_raster`'s DEM (degrees)."""
A, B, C = 500.0, 2000.0, 3000.0
"""The plane ``z = A + B (lon - LON0) + C (lat - LAT0)``, in metres."""


def chip_windows(world: World, size: int = SIZE) -> np.ndarray:
    """Every ``size``-px chip of the world at stride ``size``, as ``(row, col, height, width)``."""
    rows, cols = world.grid.height // size, world.grid.width // size
    return np.array([(r * size, c * size, size, size) for r in range(rows) for c in range(cols)])


def write_chip_folder(world: World, root: Path, suffixes: list[str]) -> list[str]:
    """The original layout from the world's chips (one suffix per chip), named with their
    centres as the original does; the CSV lists them in reverse order. Returns the CSV's names."""
    folder = root / IMAGES_FOLDER
    folder.mkdir(parents=True)
    windows = chip_windows(world)
    names = []
    for i, ((r, c, h, w), suffix) in enumerate(zip(windows, suffixes, strict=True)):
        name = f"Chip_{i}__(+38.{i:04d},-5.{i:04d}){suffix}"
        Image.fromarray(world.rgb[:, r : r + h, c : c + w].transpose(1, 2, 0)).save(folder / name)
        names.append(name)
    means = world.window_ancillary(windows)
    table = pd.DataFrame({"filename": names, **{c: means[c] for c in ANCILLARY_COLUMNS}})
    table.iloc[::-1].to_csv(root / ANCILLARY_CSV, index=False)  # CSV order != folder order
    return names[::-1]


def plane(lat: np.ndarray | float, lon: np.ndarray | float) -> np.ndarray:
    """The plane's height (m) at ``lat``, ``lon`` (degrees)."""
    return A + B * (np.asarray(lon) - LON0) + C * (np.asarray(lat) - LAT0)


def plane_raster(path: Path, res: float, half: float = 0.8) -> Path:
    """The plane as a float32 GeoTIFF in EPSG:4326, ``res`` degrees a pixel, ``half`` degrees
    either side of the centre."""
    n = round(2 * half / res)
    transform = Affine(res, 0, LON0 - half, 0, -res, LAT0 + half)
    lon = LON0 - half + (np.arange(n) + 0.5) * res
    lat = LAT0 + half - (np.arange(n) + 0.5) * res
    z = plane(lat[:, None], lon[None, :]).astype(np.float32)
    return write_raster(path, z, crs="EPSG:4326", transform=transform, nodata=-9999.0)


__all__ = [
    "LAT0",
    "LON0",
    "SIZE",
    "chip_windows",
    "plane",
    "plane_raster",
    "write_chip_folder",
]
