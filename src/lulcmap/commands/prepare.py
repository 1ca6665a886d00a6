"""``prepare``: scenes + a reference land-cover map -> a chip dataset (Zarr) for training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lulcmap.commands.base import Command, Progress, updates
from lulcmap.config import PrepareConfig
from lulcmap.training.prepare import prepare_dataset


def outputs(cfg: PrepareConfig) -> list[Path]:
    return [Path(cfg.out)]


def run(cfg: PrepareConfig, progress: Progress | None = None) -> dict[str, Any]:
    """Write the chip dataset; returns its summary (``path``, counts, class balance)."""
    return prepare_dataset(cfg, on_progress=updates(progress))


COMMAND = Command(
    "prepare", PrepareConfig, run, outputs, "scenes + a reference map -> a chip dataset"
)

__all__ = ["COMMAND", "outputs", "run"]
