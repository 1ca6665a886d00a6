"""``lulcmap evaluate``: a model on a chip dataset's held-out blocks, with a report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from lulcmap.cli._common import BatchSize, Device, Quiet, progress_bar, setup_logging, user_errors
from lulcmap.process import importing

if TYPE_CHECKING:
    from lulcmap.evaluation.metrics import LevelMetrics
    from lulcmap.evaluation.runner import EvaluationResult

console = Console(stderr=True)


def _line(label: str, m: LevelMetrics) -> str:
    a = m.averages
    return (
        f"  {label:<12} MAE {a['mae'].value:6.2f} %  RMSE {a['rmse'].value:6.2f} %  "
        f"RRMSE {a['rrmse'].value:7.2f} %  CC {a['cc'].value:7.4f}  F1 {m.f1_macro:.4f}"
    )


def print_metrics(result: EvaluationResult) -> None:
    """The averages per level, the model's and the baseline's."""
    for level in result.levels:
        console.print(_line(f"{level} model", result.model[level]), soft_wrap=True)
        if result.baseline:
            console.print(_line(f"{level} baseline", result.baseline[level]), soft_wrap=True)


def summary(result: EvaluationResult, paths: dict[str, Path], seconds: float) -> None:
    console.print(f"evaluated {result.info['counts']['evaluated']} chips in {seconds:.1f} s")
    print_metrics(result)
    console.print(f"report: {paths['report']}", soft_wrap=True)


@user_errors
def evaluate(
    datasets: list[Path] = typer.Argument(
        ..., help="Chip dataset(s) (Zarr) made by `lulcmap prepare`, in one CRS: used together."
    ),
    model: str = typer.Option(
        ..., "--model", "-m", help="Shipped model id (see `lulcmap models`) or a card path."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder for the report."),
    split: str | None = typer.Option(
        None,
        "--split",
        help="test: the held-out blocks the model card records (default); all: every chip.",
    ),
    blocks: str | None = typer.Option(
        None, "--blocks", help="Evaluate these blocks instead, e.g. 3,7,12."
    ),
    train_blocks: str | None = typer.Option(
        None,
        "--train-blocks",
        help="Blocks whose mean reference is the baseline (default: the card's training blocks).",
    ),
    batch_size: BatchSize = 64,
    device: Device = "auto",
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    quiet: Quiet = False,
) -> None:
    """Score a model on a chip dataset: per-class and mean MAE, RMSE, RRMSE, CC and F1 beside the
    training-mean baseline; report.md, metrics.json and density scatter plots."""
    setup_logging(quiet)
    with importing():
        from lulcmap.evaluation.runner import run_evaluate
        from lulcmap.evaluation.selection import parse_blocks
    start = time.perf_counter()
    with progress_bar(quiet, "evaluate") as update:
        result, paths = run_evaluate(
            datasets,
            model=model,
            out=out,
            split=split,
            blocks=parse_blocks(blocks),
            train_blocks=parse_blocks(train_blocks, "--train-blocks"),
            batch_size=batch_size,
            device=device,
            overwrite=overwrite,
            on_progress=update,
        )
    if not quiet:
        summary(result, paths, time.perf_counter() - start)
