"""``lulcmap demo``: the embedded demo (pipelines/demo.yaml), a synthetic area with known truth."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from lulcmap.cli._common import Quiet, progress_bar, setup_logging, user_errors
from lulcmap.cli.run import print_scores
from lulcmap.process import importing

console = Console()


@user_errors
def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", "-o", help="Output folder."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier demo run."),
    quiet: Quiet = False,
) -> None:
    """Generate a synthetic area with known truth, map it, and print the MAE per level."""
    setup_logging(quiet)
    with importing():
        from lulcmap.commands.base import Progress
        from lulcmap.commands.run import check_outputs, demo_config, run_step
    start = time.perf_counter()
    cfg = demo_config(out, overwrite=overwrite)
    check_outputs(cfg)
    results: dict[str, Any] = {}
    for step in cfg.steps:  # world -> predict -> score, the predict step with a progress bar
        with progress_bar(quiet or step.kind != "predict", step.kind) as update:
            results[step.kind] = run_step(step, Progress(update))
    if quiet:
        return
    outputs = results["predict"]
    console.print(f"wrote {len(outputs)} outputs in {time.perf_counter() - start:.1f} s:")
    for path in outputs.values():
        console.print(f"  {path}")
    print_scores(results["score"], console)
