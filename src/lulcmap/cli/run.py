"""``lulcmap run``: a YAML pipeline (see :mod:`lulcmap.workflow` and ``pipelines/README.md``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from lulcmap.cli import evaluate, predict, prepare, train
from lulcmap.cli._common import Quiet, name_values, progress_bar, setup_logging, user_errors
from lulcmap.process import importing

if TYPE_CHECKING:
    from lulcmap.workflow import RunConfig, Step

console = Console(stderr=True)


def _step(step: Step, quiet: bool) -> None:
    from lulcmap.workflow import run_step

    start = time.perf_counter()
    cfg: Any = step.config
    if step.kind == "train":
        with train.progress(quiet, cfg.epochs) as (on_step, on_epoch):
            result, paths = run_step(step, on_progress=on_step, on_epoch=on_epoch)
        if not quiet:
            train.summary(result, paths, time.perf_counter() - start)
        return
    with progress_bar(quiet, step.kind) as update:
        result = run_step(step, on_progress=update)
    seconds = time.perf_counter() - start
    if quiet:
        return
    if step.kind == "prepare":
        prepare.report(result, seconds)
    elif step.kind == "evaluate":
        evaluation, paths = result
        evaluate.summary(evaluation, paths, seconds)
    elif step.kind == "predict":
        predict.report(result, seconds, quiet)
    else:
        console.print(f"wrote {cfg.out} ({', '.join(sorted(result))}) in {seconds:.1f} s")


def run_steps(cfg: RunConfig, *, quiet: bool = False) -> None:
    """Every step in order, after checking that none would replace existing outputs."""
    from lulcmap.workflow import check_outputs

    check_outputs(cfg)
    for i, step in enumerate(cfg.steps, 1):
        if not quiet:
            console.print(f"[bold]step {i}/{len(cfg.steps)}: {step.kind}[/] -> {step.config.out}")
        _step(step, quiet)


@user_errors
def run(
    config: Path = typer.Argument(..., help="A YAML pipeline, e.g. pipelines/demo.yaml."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="The run's output folder ({out} in the config)."
    ),
    var: list[str] = typer.Option(
        [], "--var", help="NAME=VALUE overriding one of the config's `vars` (repeatable)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    quiet: Quiet = False,
) -> None:
    """Run a declarative pipeline: the demo, or steps of world/prepare/train/evaluate/predict
    with the same options as the commands (unknown keys are rejected)."""
    setup_logging(quiet)
    with importing():
        from lulcmap.demo import run_config
        from lulcmap.workflow import load_run_config
    cfg = load_run_config(config, out=out, variables=name_values(var, "--var", "data=/data/zion"))
    if overwrite:
        cfg = cfg.with_overwrite()
    if cfg.steps:
        run_steps(cfg, quiet=quiet)
    else:
        run_config(cfg, quiet=quiet)
