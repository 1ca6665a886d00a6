"""Writers for a prediction: COGs (uint8 percent), Zarr (float32 fractions), GeoParquet, run JSON.

A prediction is an :class:`xarray.Dataset` on the output cell grid with dims ``class_n1``,
``class_n2``, ``y``, ``x``; data vars ``N1`` and ``N2`` (float32 fractions, NaN on invalid cells),
``valid_fraction`` and one ``(y, x)`` variable per name in ``attrs["ancillary"]``; chip footprint
coords ``chip_left``/``chip_right`` (along ``x``) and ``chip_bottom``/``chip_top`` (along ``y``);
and the CRS and transform attached with rioxarray. The prediction of an N1-only model has ``N1``
(and ``class_n1``) only; the writers write the levels present. A cell is valid where the finest
level present is finite.

Everything is written into a staging folder and moved into place only when all outputs are
complete (:func:`atomic_outputs`), so nothing partial ever appears under a final name.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
import xarray as xr
from rasterio.crs import CRS
from rasterio.io import MemoryFile
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles
from rio_cogeo.utils import get_maximum_overview_level

from lulcmap.errors import InputDataError, OutputExistsError
from lulcmap.grid import Grid
from lulcmap.io.env import gdal_env
from lulcmap.io.products import describe, foreign
from lulcmap.legend import LEVELS, Legend

logger = logging.getLogger(__name__)

NODATA = 255
"""uint8 nodata of the percent COGs (valid percents are 0-100)."""
PERCENT_SCALE = 0.01
"""Band scale of the percent COGs: readers that apply scales get fractions."""
TAG_KEYS = (
    "model_id",
    "model_version",
    "weights_sha256",
    "legend",
    "chip_size",
    "stride",
    "lulcmap_version",
)
"""Dataset attrs copied into the COG tags."""


# -- percent encoding -------------------------------------------------------------------------
def percent_largest_remainder(fractions: np.ndarray, axis: int = 0) -> np.ndarray:
    """Fractions (classes along ``axis``) -> uint8 percents summing to exactly 100 per cell.

    Largest-remainder (Hamilton) rounding: floor every ``100 * fraction``, then give the missing
    points to the largest remainders (ties: lower class index first). Fractions are clipped at 0
    and renormalised to sum to 1 first. Cells with any NaN, or summing to 0, become 255 on every
    class.
    """
    f = np.moveaxis(np.asarray(fractions, dtype=np.float64), axis, 0)
    finite = np.isfinite(f).all(axis=0)
    f = np.where(finite, np.clip(f, 0.0, None), 0.0)
    total = f.sum(axis=0)
    valid = finite & (total > 0)
    if np.any(finite & ~valid):
        logger.warning(
            "%d cells have all-zero fractions; writing them as nodata", int(np.sum(finite & ~valid))
        )
    scaled = f / np.where(valid, total, 1.0) * 100.0
    floor = np.floor(scaled)
    missing = np.clip(100.0 - floor.sum(axis=0), 0, f.shape[0])
    order = np.argsort(-(scaled - floor), axis=0, kind="stable")
    rank = np.empty_like(order)
    ranks = np.arange(f.shape[0]).reshape((-1,) + (1,) * (f.ndim - 1))
    np.put_along_axis(rank, order, np.broadcast_to(ranks, order.shape), axis=0)
    percent = floor + (rank < missing)
    out = np.where(valid, percent, NODATA).astype(np.uint8)
    return np.moveaxis(out, 0, axis)


def levels_of(ds: xr.Dataset) -> tuple[str, ...]:
    """The levels a prediction holds: ``("N1", "N2")``, or ``("N1",)`` for an N1-only model."""
    levels = tuple(lv for lv in LEVELS if lv in ds.data_vars)
    if not levels:
        raise InputDataError(
            f"prediction has none of the variables {', '.join(LEVELS)}; "
            "give a dataset made by lulcmap.predict"
        )
    return levels


def _valid(ds: xr.Dataset) -> np.ndarray:
    """``(y, x)`` cells where every class of the finest level present is finite."""
    level = levels_of(ds)[-1]
    return np.isfinite(ds[level].transpose(f"class_{level.lower()}", "y", "x").values).all(axis=0)


def _check_classes(ds: xr.Dataset, legend: Legend) -> None:
    for level in levels_of(ds):
        got = [str(n) for n in ds[f"class_{level.lower()}"].values]
        if got != legend.names(level):
            raise InputDataError(
                f"prediction classes at {level} are {got}, expected legend {legend.id!r} "
                f"{legend.names(level)}; predict with a model whose card uses this legend"
            )


def encode_levels(ds: xr.Dataset, legend: Legend) -> dict[str, np.ndarray]:
    """uint8 percents ``{"N1": (n1, y, x), "N2": (n2, y, x)}``; N1 = legend sum of N2 percents.

    An N1-only prediction gives ``{"N1": ...}``, its own fractions rounded to percents.
    """
    _check_classes(ds, legend)
    if "N2" not in ds.data_vars:
        return {"N1": percent_largest_remainder(ds["N1"].transpose("class_n1", "y", "x").values)}
    n2 = percent_largest_remainder(ds["N2"].transpose("class_n2", "y", "x").values, axis=0)
    invalid = n2[0] == NODATA
    n1 = legend.aggregate(np.where(invalid, 0, n2).astype(np.uint16), axis=0)
    n1 = np.where(invalid, NODATA, n1).astype(np.uint8)
    return {"N1": n1, "N2": n2}


# -- COG --------------------------------------------------------------------------------------
def _blocksize(shape: tuple[int, int]) -> int:
    """Output grids are small (scene / stride): 64-px tiles, so grids over 64 px get overviews."""
    return 256 if min(shape) >= 2048 else 64


def write_cog(
    percent: np.ndarray,
    path: str | os.PathLike[str],
    *,
    grid: Grid,
    class_names: list[str],
    tags: dict[str, Any],
) -> Path:
    """Write ``(classes, y, x)`` uint8 percents as a Cloud-Optimized GeoTIFF, one band per class.

    Band descriptions are the class names, nodata 255, scale 0.01 / offset 0 on every band,
    deflate, internal tiles, AVERAGE overviews (halved while the smaller side exceeds a tile).
    """
    if percent.dtype != np.uint8 or percent.shape != (len(class_names), *grid.shape):
        raise ValueError(
            f"expected uint8 percents of shape {(len(class_names), *grid.shape)}, "
            f"got {percent.dtype} {percent.shape}"
        )
    count, (height, width) = len(class_names), grid.shape
    block = _blocksize(grid.shape)
    profile = cog_profiles.get("deflate")
    # MINISBLACK: GTiff would read 3-4 uint8 bands as RGB(A), the 4th (e.g. N1) as an alpha mask.
    profile.update(blockxsize=block, blockysize=block, photometric="MINISBLACK")
    src_profile = {
        "driver": "GTiff",
        "count": count,
        "height": height,
        "width": width,
        "dtype": "uint8",
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": NODATA,
        "photometric": "MINISBLACK",
    }
    with gdal_env(), MemoryFile() as mem:
        with mem.open(**src_profile) as tmp:
            tmp.write(percent)
            for band, name in enumerate(class_names, start=1):
                tmp.set_band_description(band, name)
            tmp.scales = (PERCENT_SCALE,) * count
            tmp.offsets = (0.0,) * count
            tmp.update_tags(**{k: str(v) for k, v in tags.items()})
        with mem.open() as src:
            cog_translate(
                src,
                str(path),
                profile,
                nodata=NODATA,
                quiet=True,
                overview_resampling="average",
                overview_level=get_maximum_overview_level(width, height, minsize=block),
            )
    logger.info("wrote %s (%d bands, %dx%d)", path, count, height, width)
    return Path(path)


def _grid_of(ds: xr.Dataset) -> Grid:
    return Grid(CRS.from_user_input(ds.rio.crs), ds.rio.transform(), (ds.sizes["y"], ds.sizes["x"]))


def write_cogs(
    ds: xr.Dataset, out_dir: str | os.PathLike[str], stem: str, *, legend: Legend
) -> list[Path]:
    """Write ``<stem>_N1.tif`` and ``<stem>_N2.tif`` (uint8 percent COGs) into ``out_dir``.

    Only ``<stem>_N1.tif`` for the prediction of an N1-only model.
    """
    grid, percents = _grid_of(ds), encode_levels(ds, legend)
    base = {k: ds.attrs[k] for k in TAG_KEYS if ds.attrs.get(k) is not None}
    return [
        write_cog(
            percents[level],
            Path(out_dir) / f"{stem}_{level}.tif",
            grid=grid,
            class_names=legend.names(level),
            tags={**base, "level": level},
        )
        for level in percents
    ]


# -- Zarr -------------------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    """``json`` default hook: numpy scalars/arrays, paths, CRSs and sets to plain types."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, (os.PathLike, CRS)):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON: {value!r}")


def write_zarr(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write the prediction as Zarr (format 2, consolidated): readable with ``xr.open_zarr``.

    Floats use NaN as ``_FillValue``; ``spatial_ref`` is listed in every variable's
    ``coordinates`` so plain ``open_zarr(...).rio.crs`` finds the CRS.
    """
    out = ds.copy().assign_coords(
        {
            f"class_{lv.lower()}": ds[f"class_{lv.lower()}"].values.astype(str)
            for lv in levels_of(ds)
        }
    )
    out.attrs = json.loads(json.dumps(ds.attrs, default=_jsonable))
    coords = [str(c) for c in out.coords if c not in out.dims and c != "spatial_ref"]
    for name in list(out.data_vars):
        mine = [c for c in coords if set(out[c].dims) <= set(out[name].dims)]
        fill = np.nan if np.issubdtype(out[name].dtype, np.floating) else None
        out[name].encoding = {
            "_FillValue": fill,
            "grid_mapping": "spatial_ref",
            "coordinates": " ".join(["spatial_ref", *mine]),
        }
    for name in [*coords, "x", "y"]:
        out[name].encoding = {"_FillValue": None}
    # Format 2: consolidated metadata and fixed-width strings are in its spec (not yet in v3's).
    out.to_zarr(path, mode="w-", consolidated=True, zarr_format=2)
    logger.info("wrote %s", path)
    return Path(path)


# -- GeoParquet -------------------------------------------------------------------------------
def write_table(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """One GeoParquet row per cell (row-major): cell polygon, chip footprint, values, fractions."""
    grid, (h, w) = _grid_of(ds), (ds.sizes["y"], ds.sizes["x"])
    rows, cols = (a.ravel() for a in np.indices((h, w)))
    t = grid.transform
    xa, xb = t.c + cols * t.a, t.c + (cols + 1) * t.a
    ya, yb = t.f + rows * t.e, t.f + (rows + 1) * t.e
    cells = shapely.box(
        np.minimum(xa, xb), np.minimum(ya, yb), np.maximum(xa, xb), np.maximum(ya, yb)
    )
    chips = shapely.box(
        ds["chip_left"].values[cols],
        ds["chip_bottom"].values[rows],
        ds["chip_right"].values[cols],
        ds["chip_top"].values[rows],
    )
    flat = {
        name: ds[name].transpose("y", "x").values.ravel()
        for name in [*ds.attrs.get("ancillary", []), "valid_fraction"]
    }
    valid = _valid(ds).ravel()
    table: dict[str, Any] = {
        "row": rows.astype(np.int32),
        "col": cols.astype(np.int32),
        **flat,
        "valid": valid,
    }
    for level in levels_of(ds):
        values = ds[level].transpose(f"class_{level.lower()}", "y", "x").values.astype(np.float32)
        for name, band in zip(ds[f"class_{level.lower()}"].values, values, strict=True):
            table[f"{level}: {name}"] = np.where(valid, band.ravel(), np.float32(np.nan))
    crs = grid.crs.to_wkt()
    gdf = gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(cells, crs=crs))
    gdf["chip_footprint"] = gpd.GeoSeries(chips, crs=crs)
    gdf.to_parquet(path, index=False)
    logger.info("wrote %s (%d rows)", path, len(gdf))
    return Path(path)


def write_run_json(record: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write the run record as pretty JSON (numpy types, paths and CRSs converted)."""
    Path(path).write_text(json.dumps(record, indent=2, default=_jsonable) + "\n", "utf-8")
    return Path(path)


# -- atomic outputs ---------------------------------------------------------------------------
def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _commit(staging: Path, out_dir: Path, names: list[str]) -> None:
    """Move every staged output into place; on failure put back what was there before."""
    replaced = staging / ".replaced"
    replaced.mkdir()
    moved: list[str] = []
    try:
        for name in names:
            final = out_dir / name
            if final.exists() or final.is_symlink():
                os.replace(final, replaced / name)
            os.replace(staging / name, final)
            moved.append(name)
    except OSError:
        for name in moved:
            _remove(out_dir / name)
        for old in replaced.iterdir():
            os.replace(old, out_dir / old.name)
        raise


def check_outputs_free(paths: Iterable[Path], overwrite: bool, *, step: str = "") -> None:
    """The one "outputs exist" check, before any work: raise :class:`OutputExistsError` when one
    of ``paths`` exists and ``overwrite`` is not set. ``step`` (e.g. ``step 2 (train)``) names a
    pipeline step whose outputs are checked before the pipeline starts."""
    found = [p for p in paths if p.exists() or p.is_symlink()]
    if not found:
        return
    if overwrite:
        theirs = foreign(found)
        if theirs:
            raise OutputExistsError(
                f"{theirs[0]} is {describe(theirs[0])} that lulcmap did not write; --overwrite "
                "replaces only lulcmap outputs: move it away or choose another --out"
            )
        return
    if step:
        raise OutputExistsError(
            f"{step} would replace {found[0]}; pass --overwrite to replace outputs "
            "or choose another --out"
        )
    raise OutputExistsError(
        f"{found[0].parent} already holds {', '.join(p.name for p in found)}; "
        "pass --overwrite to replace them or choose another --out"
    )


@contextmanager
def atomic_outputs(
    out_dir: str | os.PathLike[str], names: Iterable[str], *, overwrite: bool = False
) -> Iterator[Path]:
    """Stage outputs in ``out_dir/.lulcmap-tmp-*/`` and move them into place only on success.

    Raises :class:`OutputExistsError` up front if an output exists and ``overwrite`` is false.
    On an exception the staging folder (and ``out_dir``, if created here and left empty) is
    removed and ``out_dir`` is left as it was.
    """
    out, names = Path(out_dir), list(names)
    check_outputs_free([out / n for n in names], overwrite)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".lulcmap-tmp-", dir=out))
    try:
        yield staging
        missing = [n for n in names if not (staging / n).exists()]
        if missing:
            raise RuntimeError(f"writers did not produce {missing} in {staging}")
        _commit(staging, out, names)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not any(out.iterdir()):
            out.rmdir()
        raise
    shutil.rmtree(staging)


def output_names(stem: str, levels: Iterable[str] = LEVELS) -> dict[str, str]:
    """File names of one prediction's outputs, by kind: a COG per level in ``levels``, then the
    Zarr, the table and the run record."""
    return {
        **{level: f"{stem}_{level}.tif" for level in levels},
        "zarr": f"{stem}.zarr",
        "table": f"{stem}_chips.parquet",
        "run": f"{stem}.run.json",
    }


def write_outputs(
    ds: xr.Dataset,
    out_dir: str | os.PathLike[str],
    stem: str,
    *,
    legend: Legend,
    run_record: dict[str, Any],
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write all outputs of one prediction atomically; returns their final paths by kind.

    A COG per level the prediction holds (:func:`levels_of`), the Zarr, the table, the record.
    """
    names = output_names(stem, levels_of(ds))
    with atomic_outputs(out_dir, names.values(), overwrite=overwrite) as staging:
        write_cogs(ds, staging, stem, legend=legend)
        write_zarr(ds, staging / names["zarr"])
        write_table(ds, staging / names["table"])
        write_run_json(run_record, staging / names["run"])
    return {kind: Path(out_dir) / name for kind, name in names.items()}


__all__ = [
    "NODATA",
    "PERCENT_SCALE",
    "atomic_outputs",
    "check_outputs_free",
    "encode_levels",
    "levels_of",
    "output_names",
    "percent_largest_remainder",
    "write_cog",
    "write_cogs",
    "write_outputs",
    "write_run_json",
    "write_table",
    "write_zarr",
]
