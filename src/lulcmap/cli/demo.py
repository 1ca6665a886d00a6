"""``lulcmap demo``: the embedded demo (pipelines/demo.yaml), a synthetic area with known truth."""

from __future__ import annotations

from pathlib import Path

import typer

from lulcmap.cli._common import Quiet, setup_logging, user_errors
from lulcmap.process import importing


@user_errors
def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", "-o", help="Output folder."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier demo run."),
    quiet: Quiet = False,
) -> None:
    """Generate a synthetic area with known truth, map it, and print the MAE per level."""
    setup_logging(quiet)
    with importing():
        from lulcmap.demo import run_demo
    run_demo(out, overwrite=overwrite, quiet=quiet)
