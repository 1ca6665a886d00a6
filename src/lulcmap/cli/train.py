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

from lulcmap.cli._common import Device, Quiet, err_console, name_values, setup_logging, user_errors
from lulcmap.cli.evaluate import print_metrics
from lulcmap.config import validate
from lulcmap.errors import ConfigError
from lulcmap.process import importing

if TYPE_CHECKING:
    from lulcmap.training.loop import EpochRecord
    from lulcmap.training.train import TrainResult

console = Console(stderr=True)
OnStep: TypeAlias = Callable[[int, int], None]
OnEpoch: TypeAlias = "Callable[[EpochRecord], None]"
Callbacks: TypeAlias = "tuple[OnStep | None, OnEpoch | None]"


def _names(text: str, option: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise ConfigError(f"{option} expects comma-separated names, got {text!r}")
    return names


def _ints(text: str, option: str, count: int) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != count or min(values) < 1:
        raise ConfigError(f"{option} expects {count} positive integers such as 24,48,96,128")
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
    datasets: list[Path] = typer.Argument(
        ..., help="Chip dataset(s) (Zarr) made by `lulcmap prepare`, in one CRS: used together."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Model folder to write (card.yaml, ...)."),
    model_id: str | None = typer.Option(
        None, "--id", help="The card's id (default: the --out folder's name)."
    ),
    version: str = typer.Option("1.0.0", "--version", help="The card's version."),
    description: str | None = typer.Option(None, "--description", help="The card's text."),
    data_line: str | None = typer.Option(
        None, "--data", help="One line on the training data (shown by `lulcmap models`)."
    ),
    licence: str = typer.Option("unspecified", "--licence", help="The weights' licence."),
    ancillary: str = typer.Option(
        "all", "--ancillary", help="Ancillary variables: all, none, or names (elevation,slope)."
    ),
    units: list[str] = typer.Option(
        [], "--units", help="NAME=UNIT of an ancillary variable for the card (repeatable)."
    ),
    test_fraction: float = typer.Option(
        0.2, "--test-fraction", help="Share of the blocks held out for testing (seeded)."
    ),
    test_blocks: str | None = typer.Option(
        None, "--test-blocks", help="Hold out these blocks instead, e.g. 3,7."
    ),
    test_dataset: list[Path] = typer.Option(
        [], "--test-dataset", help="Hold out this whole chip dataset's blocks instead (repeatable)."
    ),
    val_fraction: float = typer.Option(
        0.2, "--val-fraction", help="Share of the other blocks that pick the best epoch (0: none)."
    ),
    val_blocks: str | None = typer.Option(
        None, "--val-blocks", help="Pick the best epoch on these blocks instead, e.g. 4,9."
    ),
    val_dataset: list[Path] = typer.Option(
        [], "--val-dataset", help="Pick the best epoch on this chip dataset instead (repeatable)."
    ),
    epochs: int = typer.Option(30, "--epochs", help="Passes over the training chips."),
    batch_size: int = typer.Option(32, "--batch-size", help="Chips per step."),
    lr: float = typer.Option(2e-3, "--lr", help="Adam's initial learning rate (cosine decay)."),
    weight_decay: float = typer.Option(0.0, "--weight-decay", help="Adam's L2 weight decay."),
    presence_weight: float = typer.Option(
        0.1, "--presence-weight", help="Weight of the class-presence BCE beside the MSE."
    ),
    max_unmapped: float = typer.Option(
        0.2, "--max-unmapped", help="Leave out chips with a larger unmapped fraction."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, the weights and the batches."),
    device: Device = "auto",
    widths: str = typer.Option(
        "24,48,96,128", "--widths", help="Channels of the CNN's stem and three stages."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing model."),
    quiet: Quiet = False,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log each epoch."),
) -> None:
    """Train a model on a chip dataset's training blocks, pick the best epoch on validation
    blocks, score it on held-out blocks, and write its card, weights, log and loss curve."""
    setup_logging(quiet, verbose)
    with importing():
        from lulcmap.evaluation.selection import parse_blocks
        from lulcmap.training.outputs import run_train
        from lulcmap.training.train import TrainOptions
    choice = ancillary.strip().lower()
    values = {
        "id": model_id,
        "version": version,
        "description": description,
        "data": data_line,
        "licence": licence,
        "ancillary": choice if choice in ("all", "none") else _names(ancillary, "--ancillary"),
        "ancillary_units": name_values(units, "--units", "prec_jan=mm"),
        "test_fraction": test_fraction,
        "test_blocks": parse_blocks(test_blocks, "--test-blocks"),
        "test_datasets": tuple(test_dataset),
        "val_fraction": val_fraction,
        "val_blocks": parse_blocks(val_blocks, "--val-blocks"),
        "val_datasets": tuple(val_dataset),
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "presence_weight": presence_weight,
        "max_unmapped": max_unmapped,
        "seed": seed,
        "device": device,
        "widths": _ints(widths, "--widths", 4),
    }
    options = validate(TrainOptions, values, source="lulcmap train")
    start = time.perf_counter()
    with progress(quiet, epochs) as (on_step, on_epoch):
        result, paths = run_train(
            datasets, out=out, options=options, overwrite=overwrite, on_step=on_step,
            on_epoch=on_epoch,
        )  # fmt: skip
    if not quiet:
        summary(result, paths, time.perf_counter() - start)
