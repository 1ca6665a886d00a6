"""The options of ``lulcmap train`` (validated; unknown keys are rejected)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from lulcmap.config import _Config


class TrainOptions(_Config):
    """Everything ``lulcmap train`` needs besides the dataset (``lulcmap train --help``)."""

    id: str | None = None
    """The card's id (``run_train``: the output folder's name; else ``model``)."""
    version: str = "1.0.0"
    description: str | None = None
    data: str | None = None
    """One line on the training data for ``lulcmap models`` (default: scenes + reference)."""
    licence: str = "unspecified"
    ancillary: Literal["all", "none"] | tuple[str, ...] = "all"
    ancillary_units: dict[str, str] = Field(default_factory=dict)
    test_fraction: float = Field(0.2, gt=0, lt=1)
    test_blocks: tuple[int, ...] | None = None
    test_datasets: tuple[Path, ...] = ()
    """Chip datasets held out whole: their blocks are the test blocks (and they are opened with
    the training datasets, which supply the training-mean baseline)."""
    val_fraction: float = Field(0.2, ge=0, lt=1)
    val_blocks: tuple[int, ...] | None = None
    val_datasets: tuple[Path, ...] = ()
    """Chip datasets whose blocks select the best checkpoint (instead of ``val_fraction``)."""
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(32, ge=2)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    presence_weight: float = Field(0.1, ge=0)
    presence_threshold: float = Field(0.01, ge=0, lt=1)
    max_unmapped: float = Field(0.2, ge=0, le=1)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    widths: tuple[int, int, int, int] = (24, 48, 96, 128)
    anc_hidden: int = Field(32, ge=1)


__all__ = ["TrainOptions"]
