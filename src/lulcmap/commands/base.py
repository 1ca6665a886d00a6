"""What a command is: a validated config, ``run(config, progress)`` and the outputs it writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lulcmap.config import StrictConfig


@dataclass(frozen=True)
class Progress:
    """Where a command reports progress: ``update(done, total)`` (cells, chips or steps) and,
    for ``train``, ``epoch(record)`` after each epoch. Either may be None."""

    update: Callable[[int, int], None] | None = None
    epoch: Callable[[Any], None] | None = None


@dataclass(frozen=True)
class Command:
    """One command of the table: the CLI, YAML pipelines and the Python API dispatch through it.

    ``run(config, progress)`` does the work and returns what the command made (its written paths,
    or a result with them); ``outputs(config)`` lists the paths it writes, checked by the one
    "outputs exist" check before any work (:func:`lulcmap.io.writers.check_outputs_free`).
    """

    name: str
    config: type[StrictConfig]
    run: Callable[[Any, Progress | None], Any]
    outputs: Callable[[Any], list[Path]]
    summary: str


def updates(progress: Progress | None) -> Callable[[int, int], None] | None:
    """The ``update`` callback of ``progress``, if any."""
    return progress.update if progress is not None else None


__all__ = ["Command", "Progress", "updates"]
