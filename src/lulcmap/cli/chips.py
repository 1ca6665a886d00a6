"""``lulcmap chips`` (the original workflow's chip folder -> abundance CSVs) and
``lulcmap ancillary`` (the ancillary CSV for chips with known centres)."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console

from lulcmap.cli._common import (
    Quiet,
    Verbose,
    argument,
    config_data,
    option,
    progress_bar,
    setup_logging,
    user_errors,
)
from lulcmap.config import ChipsConfig, validate
from lulcmap.errors import ConfigError
from lulcmap.io.climate import CLIMATE_VARIABLES, find_climate, parse_climate_var
from lulcmap.process import importing

console = Console(stderr=True)
C = ChipsConfig


@user_errors
def chips(
    input_dir: Path | None = argument(C, "input_dir"),
    out: Path = option(C, "out", "-o"),
    level: str | None = option(C, "level", show_default=False),
    model: str = option(C, "model", "-m"),
    images: Path | None = option(C, "images"),
    ancillary: Path | None = option(C, "ancillary"),
    batch_size: int = option(C, "batch_size"),
    device: str = option(C, "device"),
    overwrite: bool = option(C, "overwrite"),
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Abundances of a folder of chips, as the original workflow writes them.

    Writes 'Abundance estimation results at level N1.csv' and/or '... N2.csv'
    in --out: filename, then one column per class, in percent.

    Checks, as the original: chips are 224x224x3 (the model's chip size);
    one CSV row per image and one image per row; the CSV has filename and
    the model's ancillary columns (evapotranspiration, precipitation,
    temp_ave, temp_max, temp_min, elevation, slope), all numbers.
    """
    data = config_data(C, locals())
    setup_logging(quiet, verbose)
    cfg = validate(C, data, source="lulcmap chips")
    with importing():
        from lulcmap.commands.base import Progress
        from lulcmap.commands.chips import run
    start = time.perf_counter()
    with progress_bar(quiet, "chips") as update:
        paths = run(cfg, Progress(update))
    if not quiet:
        console.print(f"wrote {len(paths)} file(s) in {time.perf_counter() - start:.1f} s:")
        for path in paths.values():
            console.print(f"  {path}")


@user_errors
def ancillary(
    source: Path = typer.Argument(
        ...,
        help=(
            "Chips with known centres: an images folder (or the original layout's folder) whose "
            "file names end in __(+lat,lon).jpg, or a CSV with filename, lat and lon columns."
        ),
        show_default=False,
    ),
    out: Path = typer.Option(..., "--out", "-o", help="The ancillary CSV to write."),
    dem: Path = typer.Option(..., "--dem", help="DEM raster, any CRS and resolution."),
    climate: Path | None = typer.Option(
        None,
        "--climate",
        help=(
            "Folder with one raster per climate variable, <variable>.tif; all of "
            f"{', '.join(CLIMATE_VARIABLES)} must be there."
        ),
    ),
    climate_var: list[str] = typer.Option(
        [], "--climate-var", help="NAME=PATH for one climate variable (repeatable)."
    ),
    chip_size: int = typer.Option(224, "--chip-size", help="Chip side in pixels."),
    pixel_size: float = typer.Option(10.0, "--pixel-size", help="Chip pixel size in metres."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing CSV."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary."),
    verbose: Verbose = False,
) -> None:
    """The original ancillary CSV for chips with known centres.

    Each value is the mean over the chip's footprint, as `lulcmap predict`
    computes it: chip-size x chip-size pixels of pixel-size m centred on the
    point, in its UTM zone; elevation (m) and slope (degrees, computed in
    metres) from the DEM, each climate variable from its grid.

    Climate is optional. Without --climate or --climate-var the CSV has only
    filename, elevation and slope; with --climate-var alone, only the
    variables given (evapotranspiration, precipitation, temp_ave, temp_max,
    temp_min) are written; --climate needs all five.
    """
    setup_logging(quiet, verbose)
    with importing():
        from lulcmap.compat.centres import chip_ancillary, read_chip_centres
        from lulcmap.compat.folders import ANCILLARY_COLUMNS, write_table_csv
        from lulcmap.io.writers import check_outputs_free
    overrides = dict(parse_climate_var(v) for v in climate_var)
    needed = list(CLIMATE_VARIABLES) if climate is not None else list(overrides)
    grids = find_climate(climate, needed, overrides=overrides) if needed else {}
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give the path of the CSV to write")
    check_outputs_free([out], overwrite)
    centres = read_chip_centres(source)
    table = chip_ancillary(
        centres, dem=dem, climate=grids, chip_size=chip_size, pixel_size=pixel_size
    )
    path = write_table_csv(table, out, overwrite=overwrite)
    if not quiet:
        left_out = [c for c in ANCILLARY_COLUMNS if c not in table.columns]
        console.print(f"wrote {len(table)} chips to {path}: {', '.join(table.columns)}")
        if left_out:
            console.print(f"  left out (no grid given): {', '.join(left_out)}")
