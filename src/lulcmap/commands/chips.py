"""``chips``: the original workflow's chip folder -> its abundance CSVs."""

from __future__ import annotations

from pathlib import Path

from lulcmap.commands.base import Command, Progress, updates
from lulcmap.compat.chips import output_name, run_chips
from lulcmap.config import ChipsConfig
from lulcmap.legend import LEVELS


def outputs(cfg: ChipsConfig) -> list[Path]:
    """The CSV of each level asked for (every level when the model decides)."""
    wanted = (cfg.level or "both").strip().upper()
    levels = LEVELS if wanted == "BOTH" else (wanted,)
    return [Path(cfg.out) / output_name(lv) for lv in levels]


def run(cfg: ChipsConfig, progress: Progress | None = None) -> dict[str, Path]:
    """Predict every chip and write the CSVs; returns their paths by level."""
    return run_chips(
        cfg.input_dir,
        out=cfg.out,
        images=cfg.images,
        ancillary=cfg.ancillary,
        level=cfg.level,
        model=cfg.model,
        batch_size=cfg.batch_size,
        device=cfg.device,
        overwrite=cfg.overwrite,
        on_progress=updates(progress),
    )


COMMAND = Command(
    "chips", ChipsConfig, run, outputs, "the original workflow's chip folder -> abundance CSVs"
)

__all__ = ["COMMAND", "outputs", "run"]
