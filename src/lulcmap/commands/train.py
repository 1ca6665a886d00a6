"""``train``: chip datasets -> a model folder (card, weights, log, loss curve)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lulcmap.commands.base import Command, Progress
from lulcmap.training.options import TrainConfig
from lulcmap.training.outputs import OUTPUTS, run_train


def outputs(cfg: TrainConfig) -> list[Path]:
    return [Path(cfg.out) / name for name in OUTPUTS.values()]


def run(cfg: TrainConfig, progress: Progress | None = None) -> tuple[Any, dict[str, Path]]:
    """Train and write the model folder; returns ``(TrainResult, paths)``."""
    p = progress or Progress()
    return run_train(
        cfg.datasets,
        out=cfg.out,
        options=cfg.options(),
        overwrite=cfg.overwrite,
        on_step=p.update,
        on_epoch=p.epoch,
    )


COMMAND = Command("train", TrainConfig, run, outputs, "chip datasets -> a carded model")

__all__ = ["COMMAND", "outputs", "run"]
