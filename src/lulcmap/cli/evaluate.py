"""``lulcmap evaluate``: a model on a chip dataset's held-out blocks, with a report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from lulcmap.cli._common import (
    Quiet,
    argument,
    config_data,
    option,
    progress_bar,
    setup_logging,
    user_errors,
)
from lulcmap.config import EvaluateConfig, validate
from lulcmap.process import importing

if TYPE_CHECKING:
    from lulcmap.evaluation.metrics import LevelMetrics
    from lulcmap.evaluation.result import EvaluationResult

console = Console(stderr=True)
C = EvaluateConfig


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
    datasets: list[Path] = argument(C, "datasets"),
    model: str = option(C, "model", "-m"),
    out: Path = option(C, "out", "-o"),
    split: str | None = option(C, "split"),
    blocks: str | None = option(C, "blocks"),
    train_blocks: str | None = option(C, "train_blocks"),
    batch_size: int = option(C, "batch_size"),
    device: str = option(C, "device"),
    overwrite: bool = option(C, "overwrite"),
    quiet: Quiet = False,
) -> None:
    """Score a model on a chip dataset: per-class and mean MAE, RMSE, RRMSE, CC and F1 beside the
    training-mean baseline; report.md, metrics.json and density scatter plots."""
    params = locals()
    setup_logging(quiet)
    with importing():
        from lulcmap.commands.base import Progress
        from lulcmap.commands.evaluate import run
        from lulcmap.evaluation.selection import parse_blocks
    data = config_data(
        C,
        params,
        blocks=parse_blocks(blocks),
        train_blocks=parse_blocks(train_blocks, "--train-blocks"),
    )
    cfg = validate(C, data, source="lulcmap evaluate")
    start = time.perf_counter()
    with progress_bar(quiet, "evaluate") as update:
        result, paths = run(cfg, Progress(update))
    if not quiet:
        summary(result, paths, time.perf_counter() - start)
