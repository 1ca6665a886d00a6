"""``lulcmap prepare``: scenes + a reference land-cover map -> a chip dataset for training."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import cast

import typer
from rich.console import Console

from lulcmap.cli._common import (
    Quiet,
    Verbose,
    progress_bar,
    reflectance_offset,
    setup_logging,
    user_errors,
)
from lulcmap.config import validate
from lulcmap.errors import ConfigError
from lulcmap.io.climate import parse_climate_var
from lulcmap.process import importing

console = Console(stderr=True)


def parse_block_size(text: str) -> tuple[float, float]:
    """``"18000x15000"`` (width x height, metres) or ``"10000"`` (square) -> ``(w, h)``."""
    parts = re.split(r"\s*[xX,]\s*", text.strip())
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values) <= 0:
        raise ConfigError(
            f"--block-size expects WIDTHxHEIGHT in metres, e.g. 18000x15000, got {text!r}"
        )
    return (values[0], values[-1])


def report(summary: dict[str, object], seconds: float) -> None:
    console.print(
        f"wrote {summary['path']}: {summary['n_chips']} chips "
        f"(per scene {summary['chips_per_scene']}) in {summary['n_blocks']} blocks, "
        f"{seconds:.1f} s; left out: {summary['chips_dropped_low_valid']} below the valid "
        f"fraction, {summary['chips_dropped_no_reference']} without mapped reference",
        soft_wrap=True,
    )
    balance = cast(dict[str, float], summary["class_balance"])
    console.print("class balance (mean N2 fraction of the mapped area over chips):")
    for name, value in balance.items():
        console.print(f"  {value:7.2%}  {name}", soft_wrap=True)


@user_errors
def prepare(
    scenes: list[Path] = typer.Argument(..., help="Scene(s): GeoTIFF/COG/VRT or Sentinel-2 SAFE."),
    reference: Path = typer.Option(
        ..., "--reference", "-r", help="Reference map: raster, or polygons (.gpkg/.parquet/.shp)."
    ),
    crosswalk: str = typer.Option(
        ..., "--crosswalk", help="nlcd, esa_worldcover, corine, index, or a crosswalk YAML file."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="The dataset to write (DATASET.zarr)."),
    class_column: str | None = typer.Option(
        None, "--class-column", help="Column of the polygons holding the class codes."
    ),
    legend: str = typer.Option("sipna", "--legend", help="Legend the crosswalk maps onto."),
    dem: Path | None = typer.Option(None, "--dem", help="DEM raster (elevation, slope)."),
    climate: Path | None = typer.Option(
        None, "--climate", help="Folder of climate rasters, <variable>.tif: all are used."
    ),
    climate_var: list[str] = typer.Option(
        [], "--climate-var", help="NAME=PATH for one climate variable (repeatable)."
    ),
    rgb_bands: str | None = typer.Option(
        None, "--rgb-bands", help="Red,green,blue as 1-based indexes (4,3,2) or names (B04,...)."
    ),
    scale: float | None = typer.Option(None, "--scale", help="Reflectance per digital number."),
    offset: float | None = typer.Option(
        None, "--offset", help="Reflectance offset added after scaling (e.g. -0.1)."
    ),
    boa_offset: bool = typer.Option(
        False, "--boa-offset", help="Apply the -1000 DN offset of L2A processing baseline >= 04.00."
    ),
    reflectance_max: float = typer.Option(
        0.3, "--reflectance-max", help="Reflectance stretched to 255 (the model's radiometry)."
    ),
    chip_size: int = typer.Option(224, "--chip-size", help="Chip side in pixels."),
    stride: int = typer.Option(224, "--stride", help="Distance between chips in pixels."),
    pixel_size: float | None = typer.Option(
        None, "--pixel-size", help="Resample the scenes to this pixel size (metres) on read."
    ),
    block_size: str = typer.Option(
        "18000x15000", "--block-size", help="Spatial blocks, WIDTHxHEIGHT metres."
    ),
    min_valid: float = typer.Option(
        0.5, "--min-valid", help="Leave out chips with a smaller valid-pixel fraction."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing dataset."),
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Cut scenes into chips with exact N1/N2 fractions from a reference map (a Zarr dataset)."""
    setup_logging(quiet, verbose)
    data = {
        "scenes": tuple(scenes),
        "reference": reference,
        "crosswalk": crosswalk,
        "out": out,
        "class_column": class_column,
        "legend": legend,
        "dem": dem,
        "climate": climate,
        "climate_vars": dict(parse_climate_var(v) for v in climate_var),
        "rgb_bands": rgb_bands,
        "scale": scale,
        "offset": reflectance_offset(boa_offset, offset),
        "reflectance_max": reflectance_max,
        "chip_size": chip_size,
        "stride": stride,
        "pixel_size": pixel_size,
        "block_size": parse_block_size(block_size),
        "min_valid_fraction": min_valid,
        "overwrite": overwrite,
    }
    with importing():
        from lulcmap.training.prepare import PrepareConfig, prepare_dataset
    cfg = validate(PrepareConfig, data, source="lulcmap prepare")
    start = time.perf_counter()
    with progress_bar(quiet, "prepare") as update:
        summary = prepare_dataset(cfg, on_progress=update)
    if not quiet:
        report(summary, time.perf_counter() - start)
