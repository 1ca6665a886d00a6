"""``score``: predicted maps against truth maps, the mean absolute error per level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from lulcmap.commands.base import Command, Progress
from lulcmap.config import ScoreConfig
from lulcmap.io.env import gdal_env


def _read(path: Path) -> np.ndarray:
    with gdal_env(), rasterio.open(path) as ds:
        return ds.read()


def mae_percent(pred_tif: Path, truth_tif: Path) -> float:
    """Mean over classes of the mean absolute error (percent) on cells valid in both maps."""
    pred, truth = _read(pred_tif).astype(float), _read(truth_tif).astype(float)
    ok = (pred[0] != 255) & (truth[0] != 255)
    if not ok.any():
        return float("nan")
    return float(np.mean(np.abs(pred[:, ok] - truth[:, ok]).mean(axis=1)))


def outputs(cfg: ScoreConfig) -> list[Path]:
    return []  # it only reads


def run(cfg: ScoreConfig, progress: Progress | None = None) -> dict[str, float]:
    """The MAE (percent) of ``<maps>/<stem>_<level>.tif`` against ``<truth>/truth_<level>.tif``,
    by level: the per-class mean absolute error averaged over classes, as in the papers."""
    return {
        level: mae_percent(
            Path(cfg.maps) / f"{cfg.stem}_{level}.tif", Path(cfg.truth) / f"truth_{level}.tif"
        )
        for level in cfg.levels
    }


COMMAND = Command("score", ScoreConfig, run, outputs, "MAE of predicted maps against the truth")

__all__ = ["COMMAND", "mae_percent", "outputs", "run"]
