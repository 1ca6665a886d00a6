"""``lulcmap predict``: one scene -> N1/N2 abundance maps."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console

from lulcmap.cli._common import (
    BatchSize,
    Device,
    ModelRef,
    Quiet,
    Verbose,
    progress_bar,
    reflectance_offset,
    setup_logging,
    user_errors,
)
from lulcmap.config import PredictConfig, validate
from lulcmap.errors import ConfigError
from lulcmap.io.climate import check_climate_paths, parse_climate_var
from lulcmap.io.paths import require_local
from lulcmap.process import importing

console = Console(stderr=True)


def _mask_values(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(
            f"--mask-values must be comma-separated integers such as 3,8,9,10, got {text!r}"
        ) from None


def check_paths(cfg: PredictConfig) -> None:
    """Missing inputs, reported before the model and the readers are imported (~2 s)."""
    require_local(cfg.scene, "scene")
    for path, what in ((cfg.dem, "DEM"), (cfg.mask, "mask")):
        if path is not None:
            require_local(path, what)
    check_climate_paths(cfg.climate, cfg.climate_vars)


def report(paths: dict[str, Path], seconds: float, quiet: bool) -> None:
    if quiet:
        return
    console.print(f"wrote {len(paths)} outputs in {seconds:.1f} s:")
    for path in paths.values():
        console.print(f"  {path}")


@user_errors
def predict(
    scene: Path = typer.Argument(
        ..., help="Scene: GeoTIFF/COG/VRT, or Sentinel-2 SAFE folder/.zip."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (created if missing)."),
    dem: Path | None = typer.Option(None, "--dem", help="DEM raster, any CRS and resolution."),
    climate: Path | None = typer.Option(
        None, "--climate", help="Folder with one raster per climate variable, <variable>.tif."
    ),
    climate_var: list[str] = typer.Option(
        [], "--climate-var", help="NAME=PATH for one climate variable (repeatable)."
    ),
    model: ModelRef = "demo-synthetic",
    stride: int = typer.Option(224, "--stride", help="Output cell size in scene pixels."),
    rgb_bands: str | None = typer.Option(
        None,
        "--rgb-bands",
        help="Red,green,blue as 1-based indexes (4,3,2) or names (B04,B03,B02).",
    ),
    scale: float | None = typer.Option(
        None, "--scale", help="Reflectance per digital number (default 1/10000 for integer DNs)."
    ),
    offset: float | None = typer.Option(
        None, "--offset", help="Reflectance offset added after scaling (e.g. -0.1)."
    ),
    boa_offset: bool = typer.Option(
        False, "--boa-offset", help="Apply the -1000 DN offset of L2A processing baseline >= 04.00."
    ),
    mask: Path | None = typer.Option(
        None, "--mask", help="Raster of pixels to exclude (e.g. SCL)."
    ),
    mask_values: str | None = typer.Option(
        None, "--mask-values", help="Mask values to exclude, e.g. 3,8,9,10 (default: non-zero)."
    ),
    min_valid: float = typer.Option(
        0.5, "--min-valid", help="Cells whose chip has a smaller valid fraction become nodata."
    ),
    batch_size: BatchSize = 64,
    device: Device = "auto",
    bf16: bool = typer.Option(
        False,
        "--bf16",
        help="Run the model under bfloat16 autocast, on CUDA or CPU (faster on GPUs and on CPUs "
        "with AVX512-BF16/AMX; fractions differ from float32 by ~1e-3).",
    ),
    stem: str | None = typer.Option(None, "--stem", help="Output name stem (default: scene name)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Map N1/N2 abundances of a whole scene: COGs, Zarr, GeoParquet and a run record."""
    setup_logging(quiet, verbose)
    data = {
        "scene": scene,
        "out": out,
        "dem": dem,
        "climate": climate,
        "climate_vars": dict(parse_climate_var(v) for v in climate_var),
        "model": model,
        "stride": stride,
        "rgb_bands": rgb_bands,
        "scale": scale,
        "offset": reflectance_offset(boa_offset, offset),
        "mask": mask,
        "mask_values": _mask_values(mask_values),
        "min_valid_fraction": min_valid,
        "batch_size": batch_size,
        "device": device,
        "bf16": bf16,
        "stem": stem,
        "overwrite": overwrite,
    }
    cfg = validate(PredictConfig, data, source="lulcmap predict")
    check_paths(cfg)
    with importing():
        from lulcmap.pipeline import run_predict
    start = time.perf_counter()
    with progress_bar(quiet, "predict") as update:
        paths = run_predict(cfg, on_progress=update)
    report(paths, time.perf_counter() - start, quiet)
