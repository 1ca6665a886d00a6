"""``lulcmap train``: a chip dataset -> a model folder (card, weights, log, loss curve)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lulcmap.cli._common import (
    Quiet,
    argument,
    config_data,
    err_console,
    name_values,
    option,
    setup_logging,
    user_errors,
)
from lulcmap.cli.evaluate import print_metrics
from lulcmap.config import validate
from lulcmap.errors import ConfigError
from lulcmap.process import importing
from lulcmap.training.options import TrainConfig

if TYPE_CHECKING:
    from lulcmap.training.loop import EpochRecord
    from lulcmap.training.train import TrainResult

console = Console(stderr=True)
C = TrainConfig
OnStep: TypeAlias = Callable[[int, int], None]
OnEpoch: TypeAlias = "Callable[[EpochRecord], None]"
Callbacks: TypeAlias = "tuple[OnStep | None, OnEpoch | None]"


def _names(text: str, option: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise ConfigError(f"{option} expects comma-separated names, got {text!r}")
    return names


def _ints(text: str, option: str, count: int, example: str = "24,48,96,128") -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != count or min(values) < 1:
        raise ConfigError(f"{option} expects {count} positive integers such as {example}")
    return values


@contextmanager
def progress(quiet: bool, epochs: int) -> Iterator[Callbacks]:
    """A steps bar whose label shows the epoch and the last losses; nothing off-terminal."""
    if quiet or not err_console.is_terminal:
        yield None, None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("steps"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(f"train epoch 1/{epochs}", total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        def epoch(r: EpochRecord) -> None:
            val = "" if r.val_loss is None else f" val {r.val_loss:.4f}"
            text = f"train epoch {min(r.epoch + 1, epochs)}/{epochs} (loss {r.train_loss:.4f}{val})"
            bar.update(task, description=text)

        yield step, epoch


def summary(result: TrainResult, paths: dict[str, Path], seconds: float) -> None:
    split, device = result.split, result.card.training.get("device")
    console.print(
        f"trained {result.card.id} on {len(split.train)} chips ({len(split.val)} validation, "
        f"{len(split.test)} test) for {len(result.history)} epochs in {seconds:.0f} s on "
        f"{device}; kept epoch {result.best_epoch}",
        soft_wrap=True,
    )
    print_metrics(result.evaluation)
    console.print(f"model: {paths['card']}", soft_wrap=True)


@user_errors
def train(
    datasets: list[Path] = argument(C, "datasets"),
    out: Path = option(C, "out", "-o"),
    id: str | None = option(C, "id"),
    version: str = option(C, "version"),
    description: str | None = option(C, "description"),
    data: str | None = option(C, "data"),
    licence: str = option(C, "licence"),
    ancillary: str = option(C, "ancillary"),
    ancillary_units: list[str] = option(C, "ancillary_units", "--units"),
    test_fraction: float = option(C, "test_fraction"),
    test_blocks: str | None = option(C, "test_blocks"),
    test_datasets: list[Path] = option(C, "test_datasets", "--test-dataset"),
    val_fraction: float = option(C, "val_fraction"),
    val_blocks: str | None = option(C, "val_blocks"),
    val_datasets: list[Path] = option(C, "val_datasets", "--val-dataset"),
    epochs: int = option(C, "epochs"),
    batch_size: int = option(C, "batch_size"),
    lr: float = option(C, "lr"),
    weight_decay: float = option(C, "weight_decay"),
    presence_weight: float = option(C, "presence_weight"),
    presence_threshold: float = option(C, "presence_threshold"),
    max_unmapped: float = option(C, "max_unmapped"),
    seed: int = option(C, "seed"),
    device: str = option(C, "device"),
    widths: str | None = option(C, "widths"),
    anc_hidden: int = option(C, "anc_hidden"),
    backbone: str = option(C, "backbone"),
    head_hidden: str | None = option(C, "head_hidden"),
    overwrite: bool = option(C, "overwrite"),
    quiet: Quiet = False,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log each epoch."),
) -> None:
    """Train a model on a chip dataset's training blocks, pick the best epoch on validation
    blocks, score it on held-out blocks, and write its card, weights, log and loss curve."""
    params = locals()
    setup_logging(quiet, verbose)
    with importing():
        from lulcmap.commands.base import Progress
        from lulcmap.commands.train import run
        from lulcmap.evaluation.selection import parse_blocks
    choice = ancillary.strip().lower()
    values = config_data(
        C,
        params,
        ancillary=choice if choice in ("all", "none") else _names(ancillary, "--ancillary"),
        ancillary_units=name_values(ancillary_units, "--ancillary-units", "prec_jan=mm"),
        test_blocks=parse_blocks(test_blocks, "--test-blocks"),
        val_blocks=parse_blocks(val_blocks, "--val-blocks"),
        widths=_ints(widths, "--widths", 4) if widths is not None else None,
        head_hidden=(
            _ints(head_hidden, "--head-hidden", len(head_hidden.split(",")), "128 or 128,64")
            if head_hidden is not None
            else None
        ),
    )
    cfg = validate(C, values, source="lulcmap train")
    start = time.perf_counter()
    with progress(quiet, cfg.epochs) as (on_step, on_epoch):
        result, paths = run(cfg, Progress(on_step, on_epoch))
    if not quiet:
        summary(result, paths, time.perf_counter() - start)
