"""``lulcmap run``: a YAML pipeline (:mod:`lulcmap.commands.run`, ``pipelines/README.md``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from lulcmap.cli import evaluate, predict, prepare, train
from lulcmap.cli._common import Quiet, name_values, progress_bar, setup_logging, user_errors
from lulcmap.process import importing

if TYPE_CHECKING:
    from lulcmap.commands.base import Progress
    from lulcmap.commands.run import RunConfig, StepBase

console = Console(stderr=True)


@contextmanager
def step_progress(stack: ExitStack, step: StepBase, quiet: bool) -> Iterator[Progress]:
    """The progress display of one step: the train bar with its epochs, else a cells bar."""
    from lulcmap.commands.base import Progress

    if step.kind == "train":
        on_step, on_epoch = stack.enter_context(train.progress(quiet, step.config.epochs))
        yield Progress(on_step, on_epoch)
    else:
        yield Progress(stack.enter_context(progress_bar(quiet, step.kind)))


def report(step: StepBase, result: Any, seconds: float) -> None:
    """The summary the step's own command prints."""
    if step.kind == "train":
        trained, paths = result
        train.summary(trained, paths, seconds)
    elif step.kind == "prepare":
        prepare.report(result, seconds)
    elif step.kind == "evaluate":
        evaluation, paths = result
        evaluate.summary(evaluation, paths, seconds)
    elif step.kind == "predict":
        predict.report(result, seconds, False)
    elif step.kind == "score":
        print_scores(result)
    else:
        console.print(f"wrote {step.config.out} ({', '.join(sorted(result))}) in {seconds:.1f} s")


def print_scores(mae: dict[str, float], to: Console = console) -> None:
    """The MAE per level of a ``score`` step, as ``lulcmap demo`` prints it."""
    for level, value in mae.items():
        to.print(f"{level} MAE against the synthetic truth: {value:.2f} %")
    if mae:
        to.print(
            "(MAE: per-class mean absolute error of the percent maps, averaged over "
            "classes, as in the papers)"
        )


def run_steps(cfg: RunConfig, *, quiet: bool = False) -> None:
    """Every step in order, after checking that none would replace existing outputs."""
    from lulcmap.commands.run import check_outputs, run_step

    check_outputs(cfg)
    for i, step in enumerate(cfg.steps, 1):
        if not quiet:
            target = getattr(step.config, "out", None)
            where = f" -> {target}" if target is not None else ""
            console.print(f"[bold]step {i}/{len(cfg.steps)}: {step.kind}[/]{where}")
        start = time.perf_counter()
        with ExitStack() as stack, step_progress(stack, step, quiet) as progress:
            result = run_step(step, progress)
        if not quiet:
            report(step, result, time.perf_counter() - start)


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
    """Run a declarative pipeline: steps of world/prepare/train/evaluate/predict/chips/score
    with the same options as the commands (unknown keys are rejected)."""
    setup_logging(quiet)
    with importing():
        from lulcmap.commands.run import load_run_config
    cfg = load_run_config(config, out=out, variables=name_values(var, "--var", "data=/data/zion"))
    run_steps(cfg.with_overwrite() if overwrite else cfg, quiet=quiet)
