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
    argument,
    config_data,
    option,
    progress_bar,
    reflectance_offset,
    setup_logging,
    user_errors,
)
from lulcmap.config import PrepareConfig, validate
from lulcmap.errors import ConfigError
from lulcmap.io.climate import parse_climate_var
from lulcmap.process import importing

console = Console(stderr=True)
C = PrepareConfig


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
    scenes: list[Path] = argument(C, "scenes"),
    reference: Path = option(C, "reference", "-r"),
    crosswalk: str = option(C, "crosswalk"),
    out: Path = option(C, "out", "-o"),
    class_column: str | None = option(C, "class_column"),
    legend: str = option(C, "legend"),
    dem: Path | None = option(C, "dem"),
    climate: Path | None = option(C, "climate"),
    climate_var: list[str] = typer.Option(
        [], "--climate-var", help="NAME=PATH for one climate variable (repeatable)."
    ),
    rgb_bands: str | None = option(C, "rgb_bands"),
    scale: float | None = option(C, "scale"),
    offset: float | None = option(C, "offset"),
    boa_offset: bool = typer.Option(
        False, "--boa-offset", help="Apply the -1000 DN offset of L2A processing baseline >= 04.00."
    ),
    reflectance_max: float = option(C, "reflectance_max"),
    chip_size: int = option(C, "chip_size"),
    stride: int = option(C, "stride"),
    pixel_size: float | None = option(C, "pixel_size"),
    block_size: str | None = option(C, "block_size"),
    min_valid_fraction: float = option(C, "min_valid_fraction", "--min-valid"),
    backbone: str = option(C, "backbone"),
    bands: str | None = option(C, "bands"),
    pixels_per_cell: int | None = option(C, "pixels_per_cell"),
    features: str = option(C, "features"),
    date: str | None = option(C, "date"),
    overwrite: bool = option(C, "overwrite"),
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Cut scenes into chips with exact N1/N2 fractions from a reference map (a Zarr dataset)."""
    data = config_data(
        C,
        locals(),
        climate_vars=dict(parse_climate_var(v) for v in climate_var),
        offset=reflectance_offset(boa_offset, offset),
        block_size=parse_block_size(block_size) if block_size is not None else None,
    )
    setup_logging(quiet, verbose)
    cfg = validate(C, data, source="lulcmap prepare")
    with importing():
        from lulcmap.commands.base import Progress
        from lulcmap.commands.prepare import run
    start = time.perf_counter()
    with progress_bar(quiet, "prepare") as update:
        summary = run(cfg, Progress(update))
    if not quiet:
        report(summary, time.perf_counter() - start)
