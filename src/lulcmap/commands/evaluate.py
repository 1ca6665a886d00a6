"""``evaluate``: a model on a chip dataset's held-out blocks, with a report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lulcmap.commands.base import Command, Progress, updates
from lulcmap.config import EvaluateConfig
from lulcmap.evaluation.runner import output_names, run_evaluate


def outputs(cfg: EvaluateConfig) -> list[Path]:
    """The report and metrics (the scatter plots' names depend on the model's levels)."""
    return [Path(cfg.out) / name for name in output_names(())]


def run(cfg: EvaluateConfig, progress: Progress | None = None) -> tuple[Any, dict[str, Path]]:
    """Score the model and write the report; returns ``(EvaluationResult, paths)``."""
    return run_evaluate(
        cfg.datasets,
        model=cfg.model,
        out=cfg.out,
        split=cfg.split,
        blocks=cfg.blocks,
        train_blocks=cfg.train_blocks,
        batch_size=cfg.batch_size,
        device=cfg.device,
        overwrite=cfg.overwrite,
        on_progress=updates(progress),
    )


COMMAND = Command(
    "evaluate", EvaluateConfig, run, outputs, "a model on a chip dataset's held-out blocks"
)

__all__ = ["COMMAND", "outputs", "run"]
