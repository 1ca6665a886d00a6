"""A synthetic world with its exact truth, and writing it as the tool's inputs."""

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds

from lulcmap.chips import ChipPlan
from lulcmap.grid import Grid
from lulcmap.io.env import gdal_env
from lulcmap.io.scene import SYNTHETIC_TAG
from lulcmap.legend import Legend, load_legend
from lulcmap.synthetic.constants import (
    CLIMATE_NAMES,
    F32,
    N_CLASSES,
)
from lulcmap.synthetic.generator import Generator
from lulcmap.synthetic.rasters import make_grid, write_raster
from lulcmap.synthetic.render import render


# ----------------------------------------------------------------------------------------------
# The world
# ----------------------------------------------------------------------------------------------
def _box_sums(
    integral: np.ndarray, rows: np.ndarray, cols: np.ndarray, h: np.ndarray, w: np.ndarray
) -> np.ndarray:
    return (
        integral[rows + h, cols + w]
        - integral[rows, cols + w]
        - integral[rows + h, cols]
        + integral[rows, cols]
    )


def _integral(a: np.ndarray, dtype: type) -> np.ndarray:
    out = np.zeros((a.shape[0] + 1, a.shape[1] + 1), dtype)
    np.cumsum(a, axis=0, dtype=dtype, out=out[1:, 1:])
    np.cumsum(out[1:, 1:], axis=1, out=out[1:, 1:])
    return out


@dataclass(frozen=True, eq=False)
class World:
    """A synthetic scene with its exact truth.

    Attributes:
        grid: the scene's pixel grid.
        rgb: uint8 ``(3, H, W)`` true colour in the default model radiometry (0 = nodata).
        classes: uint8 ``(H, W)`` N2 class codes (SIPNA legend order).
        dem: float32 ``(H, W)`` elevation in metres.
        climate: float32 ``(H, W)`` fields named as :data:`CLIMATE_NAMES`.
    """

    grid: Grid
    rgb: np.ndarray
    classes: np.ndarray
    dem: np.ndarray
    climate: dict[str, np.ndarray]

    @property
    def legend(self) -> Legend:
        return load_legend("sipna")

    @cached_property
    def slope(self) -> np.ndarray:
        """Slope in degrees, from ``np.gradient`` of the DEM in metres."""
        gy, gx = np.gradient(self.dem, self.grid.res[1], self.grid.res[0])
        return np.degrees(np.arctan(np.hypot(gx, gy))).astype(F32)

    def ancillary(self) -> dict[str, np.ndarray]:
        """Scene-resolution fields of the seven ancillary variables."""
        return {"elevation": self.dem, "slope": self.slope, **self.climate}

    # -- truth per window -----------------------------------------------------------------------
    def window_fractions(self, windows: np.ndarray) -> np.ndarray:
        """Exact N2 fractions ``(n, 10)`` of windows ``(n, 4)`` = ``(row, col, height, width)``."""
        r, c, h, w = self._check_windows(windows)
        out = np.empty((len(r), N_CLASSES))
        counter = np.int32 if self.classes.size < 2**31 else np.int64
        for k in range(N_CLASSES):
            out[:, k] = _box_sums(_integral(self.classes == k, counter), r, c, h, w)
        return out / (h * w)[:, None]

    def window_ancillary(self, windows: np.ndarray) -> dict[str, np.ndarray]:
        """Mean of each ancillary field over windows ``(n, 4)``, as ``name -> (n,)``."""
        r, c, h, w = self._check_windows(windows)
        return {
            name: _box_sums(_integral(field, np.float64), r, c, h, w) / (h * w)
            for name, field in self.ancillary().items()
        }

    def fractions(self, plan: ChipPlan, *, level: str = "N2") -> np.ndarray:
        """Exact class fractions ``(n_classes, rows, cols)`` of each cell's chip window."""
        self.legend.classes(level)  # validates the level
        frac = self.window_fractions(self._plan_windows(plan))
        return self.legend.levels_from(frac.T.reshape(N_CLASSES, *plan.shape), "N2")[level]

    def chip_ancillary(self, plan: ChipPlan) -> dict[str, np.ndarray]:
        """Mean elevation, slope and climate over each cell's chip, ``name -> (rows, cols)``."""
        means = self.window_ancillary(self._plan_windows(plan))
        return {name: v.reshape(plan.shape) for name, v in means.items()}

    def _plan_windows(self, plan: ChipPlan) -> np.ndarray:
        if plan.scene.shape != self.grid.shape:
            raise ValueError(
                f"the chip plan is for a {plan.scene.shape} scene but the world is "
                f"{self.grid.shape}; plan chips on `world.grid`"
            )
        rr, cc = np.meshgrid(plan.row_offsets, plan.col_offsets, indexing="ij")
        h, w = plan.chip_shape
        return np.stack([rr.ravel(), cc.ravel(), np.full(rr.size, h), np.full(rr.size, w)], 1)

    def _check_windows(self, windows: np.ndarray) -> tuple[np.ndarray, ...]:
        win = np.asarray(windows, np.int64).reshape(-1, 4)
        r, c, h, w = win.T
        H, W = self.grid.shape
        if (
            (h < 1).any()
            or (w < 1).any()
            or (r < 0).any()
            or (c < 0).any()
            or (r + h > H).any()
            or (c + w > W).any()
        ):
            raise ValueError(f"windows (row, col, height, width) must lie inside the {H}x{W} world")
        return r, c, h, w


def synthetic_world(
    shape: tuple[int, int] = (2240, 2240),
    *,
    seed: int,
    pixel_size: float = 10.0,
    crs: str | CRS = "EPSG:32630",
    origin: tuple[float, float] = (300_000.0, 4_200_000.0),
) -> World:
    """A deterministic Andalusian-like landscape of ``shape`` pixels with its exact truth.

    A coastal plain rises to sierras along a random direction; a river runs down a carved valley to
    a marshy mouth. Croplands and greenhouses take the flat low ground in rectangular parcels, olive
    groves the gentle slopes, forests the high wet ground, shrubland the mid slopes, barelands the
    steep ridges; towns sit near the valley floor along a road. A 2240 x 2240 world (22.4 km at
    10 m) holds every class of the SIPNA legend.
    """
    if min(shape) < 2:
        raise ValueError(f"a synthetic world needs at least 2 x 2 pixels, got shape {shape}")
    grid = make_grid(shape, pixel_size=pixel_size, crs=crs, origin=origin)
    gen = Generator(grid, seed)
    terrain = gen.terrain()
    climate = gen.climate(terrain)
    classes, layout = gen.classes(terrain, climate)
    dem, shade, water = terrain.dem, terrain.shade, terrain.river < terrain.channel
    del terrain  # keep memory low: the render needs only the shading and the open water
    rgb = render(gen, classes, layout, shade, water)
    return World(grid, rgb, classes, dem, climate)


# ----------------------------------------------------------------------------------------------
# Writing the world as the tool's inputs
# ----------------------------------------------------------------------------------------------
def _coarse_grid(grid: Grid, res: float, dst_crs: CRS) -> tuple[Affine, int, int]:
    """A ``res`` grid in ``dst_crs`` snapped to multiples of ``res`` covering ``grid`` + 1 pixel."""
    if dst_crs == grid.crs:
        left, bottom, right, top = grid.bounds
    else:
        left, bottom, right, top = transform_bounds(grid.crs, dst_crs, *grid.bounds, densify_pts=21)
    left = math.floor(left / res) * res - res
    top = math.ceil(top / res) * res + res
    width = math.ceil((right - left) / res) + 1
    height = math.ceil((top - bottom) / res) + 1
    return Affine(res, 0, left, 0, -res, top), height, width


def _resample(
    world: World, field: np.ndarray, res_m: float, dst_crs: CRS
) -> tuple[np.ndarray, Affine]:
    res = res_m / 111_320.0 if dst_crs.is_geographic else res_m
    transform, height, width = _coarse_grid(world.grid, res, dst_crs)
    # continue the world past its edges (mirrored) so the margin pixels hold plausible values
    extent = max(world.grid.shape) * world.grid.res[0]
    pad = math.ceil((3 * res_m + 0.06 * extent) / world.grid.res[0])
    src = np.pad(field, pad, mode="reflect" if min(field.shape) > pad else "edge")
    src_transform = world.grid.transform @ Affine.translation(-pad, -pad)
    dst = np.full((height, width), np.nan, F32)
    with gdal_env():
        reproject(
            src,
            dst,
            src_transform=src_transform,
            src_crs=world.grid.crs,
            dst_transform=transform,
            dst_crs=dst_crs,
            resampling=Resampling.average,
            src_nodata=np.nan,
            dst_nodata=np.nan,
        )
    return np.where(np.isnan(dst), F32(-9999.0), dst), transform


def write_world(
    world: World,
    out_dir: str | Path,
    *,
    dem_pixel: float = 30.0,
    climate_pixel: float = 1000.0,
    dem_crs: str | CRS | None = None,
    climate_crs: str | CRS | None = None,
    reference: bool = False,
) -> dict[str, Path]:
    """Write ``scene.tif``, ``dem.tif`` and ``climate/<variable>.tif`` (and ``reference.tif``).

    The DEM (``dem_pixel`` metres, or its equivalent in degrees for a geographic ``dem_crs``) and
    the climate grids (``climate_pixel``) are averaged from the world's fields onto coarser grids
    that cover the scene with one coarse pixel of margin. Returns ``name -> path`` with keys
    ``scene``, ``dem``, ``climate`` (the folder), each climate variable, and ``reference``.
    """
    out = Path(out_dir)
    g = world.grid
    paths = {
        "scene": write_raster(
            out / "scene.tif",
            world.rgb,
            crs=g.crs,
            transform=g.transform,
            nodata=0,
            descriptions=("red", "green", "blue"),
            tags={SYNTHETIC_TAG: "lulcmap.synthetic world"},
        )
    }
    if reference:
        paths["reference"] = write_raster(
            out / "reference.tif",
            world.classes,
            crs=g.crs,
            transform=g.transform,
            nodata=255,
            descriptions=("N2 class code",),
        )
    dcrs = CRS.from_user_input(dem_crs) if dem_crs is not None else g.crs
    dem, transform = _resample(world, world.dem, dem_pixel, dcrs)
    paths["dem"] = write_raster(
        out / "dem.tif",
        dem,
        crs=dcrs,
        transform=transform,
        nodata=-9999.0,
        descriptions=("elevation",),
    )
    ccrs = CRS.from_user_input(climate_crs) if climate_crs is not None else g.crs
    paths["climate"] = out / "climate"
    for name in CLIMATE_NAMES:
        grid_values, transform = _resample(world, world.climate[name], climate_pixel, ccrs)
        paths[name] = write_raster(
            out / "climate" / f"{name}.tif",
            grid_values,
            crs=ccrs,
            transform=transform,
            nodata=-9999.0,
            descriptions=(name,),
        )
    return paths
