"""``lulcmap predict``: one scene -> N1/N2 abundance maps."""

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
C = PredictConfig


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


def report(paths: dict[str, Path], seconds: float, quiet: bool, model: str = "") -> None:
    if quiet:
        return
    console.print(f"wrote {len(paths)} outputs in {seconds:.1f} s:")
    for path in paths.values():
        console.print(f"  {path}")
    if model:
        console.print(model, highlight=False)


@user_errors
def predict(
    scene: Path = argument(C, "scene"),
    out: Path = option(C, "out", "-o"),
    dem: Path | None = option(C, "dem"),
    climate: Path | None = option(C, "climate"),
    climate_var: list[str] = typer.Option(
        [], "--climate-var", help="NAME=PATH for one climate variable (repeatable)."
    ),
    model: str = option(C, "model", "-m"),
    stride: int = option(C, "stride"),
    rgb_bands: str | None = option(C, "rgb_bands"),
    bands: str | None = option(C, "bands"),
    pixels_per_cell: int | None = option(C, "pixels_per_cell"),
    date: str | None = option(C, "date"),
    scale: float | None = option(C, "scale"),
    offset: float | None = option(C, "offset"),
    boa_offset: bool = typer.Option(
        False, "--boa-offset", help="Apply the -1000 DN offset of L2A processing baseline >= 04.00."
    ),
    mask: Path | None = option(C, "mask"),
    mask_values: str | None = option(C, "mask_values"),
    min_valid_fraction: float = option(C, "min_valid_fraction", "--min-valid"),
    batch_size: int = option(C, "batch_size"),
    device: str = option(C, "device"),
    bf16: bool = option(C, "bf16"),
    strict: bool = option(C, "strict"),
    stem: str | None = option(C, "stem"),
    overwrite: bool = option(C, "overwrite"),
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Map N1/N2 abundances of a whole scene: COGs, Zarr, GeoParquet and a run record."""
    data = config_data(
        C,
        locals(),
        climate_vars=dict(parse_climate_var(v) for v in climate_var),
        offset=reflectance_offset(boa_offset, offset),
        mask_values=_mask_values(mask_values),
    )
    setup_logging(quiet, verbose)
    cfg = validate(PredictConfig, data, source="lulcmap predict")
    check_paths(cfg)
    with importing():
        from lulcmap.commands.base import Progress
        from lulcmap.commands.predict import run_predict
        from lulcmap.model.registry import resolve_card
    start = time.perf_counter()
    with progress_bar(quiet, "predict") as update:
        paths = run_predict(cfg, Progress(update))
    card = resolve_card(cfg.model)
    about = f"model {card.id} {card.version}, trained on {card.trained_on}"
    report(paths, time.perf_counter() - start, quiet, about)
