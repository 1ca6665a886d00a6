"""The options of ``lulcmap train`` (validated; unknown keys are rejected)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from lulcmap.config import Device, StrictConfig


class TrainOptions(StrictConfig):
    """Everything ``lulcmap train`` needs besides the datasets (``lulcmap train --help``)."""

    id: str | None = Field(None, description="The card's id (default: the --out folder's name).")
    version: str = Field("1.0.0", description="The card's version.")
    description: str | None = Field(None, description="The card's text.")
    data: str | None = Field(
        None, description="One line on the training data (shown by `lulcmap models`)."
    )
    licence: str = Field("unspecified", description="The weights' licence.")
    ancillary: Literal["all", "none"] | tuple[str, ...] = Field(
        "all", description="Ancillary variables: all, none, or names (elevation,slope)."
    )
    ancillary_units: dict[str, str] = Field(
        default_factory=dict, description="NAME=UNIT of an ancillary variable for the card."
    )
    test_fraction: float = Field(
        0.2, gt=0, lt=1, description="Share of the blocks held out for testing (seeded)."
    )
    test_blocks: tuple[int, ...] | None = Field(
        None, description="Hold out these blocks instead, e.g. 3,7."
    )
    test_datasets: tuple[Path, ...] = Field(
        (),
        description="Hold out these whole chip datasets' blocks instead (they are opened with "
        "the training datasets, which supply the training-mean baseline).",
    )
    val_fraction: float = Field(
        0.2, ge=0, lt=1, description="Share of the other blocks that pick the best epoch (0: none)."
    )
    val_blocks: tuple[int, ...] | None = Field(
        None, description="Pick the best epoch on these blocks instead, e.g. 4,9."
    )
    val_datasets: tuple[Path, ...] = Field(
        (), description="Pick the best epoch on these chip datasets' blocks instead."
    )
    epochs: int = Field(30, ge=1, description="Passes over the training chips.")
    batch_size: int = Field(32, ge=2, description="Chips per step.")
    lr: float = Field(2e-3, gt=0, description="Adam's initial learning rate (cosine decay).")
    weight_decay: float = Field(0.0, ge=0, description="Adam's L2 weight decay.")
    presence_weight: float = Field(
        0.1, ge=0, description="Weight of the class-presence BCE beside the MSE."
    )
    presence_threshold: float = Field(
        0.01, ge=0, lt=1, description="Fraction above which a class counts as present."
    )
    max_unmapped: float = Field(
        0.2, ge=0, le=1, description="Leave out chips with a larger unmapped fraction."
    )
    seed: int = Field(0, description="Seed of the split, the weights and the batches.")
    device: Device = Field("auto", description="auto, cpu or cuda.")
    widths: tuple[int, int, int, int] = Field(
        (24, 48, 96, 128), description="Channels of the CNN's stem and three stages."
    )
    anc_hidden: int = Field(32, ge=1, description="Width of the ancillary branch.")
    backbone: Literal["cnn", "presto"] = Field(
        "cnn",
        description="cnn: the chip CNN on the RGB chips; presto: an MLP head on the frozen "
        "Presto features a `prepare --backbone presto` dataset holds.",
    )
    head_hidden: tuple[int, ...] = Field(
        (64,), description="--backbone presto: widths of the head's hidden layers."
    )


class TrainConfig(TrainOptions):
    """``lulcmap train``: its options plus the datasets and the model folder."""

    datasets: tuple[Path, ...] = Field(
        min_length=1,
        description="Chip dataset(s) (Zarr) made by `lulcmap prepare`, in one CRS: used together.",
    )
    out: Path = Field(description="Model folder to write (card.yaml, ...).")
    overwrite: bool = Field(False, description="Replace an existing model.")

    def options(self) -> TrainOptions:
        """The training options alone (what the card records)."""
        return TrainOptions.model_validate(
            self.model_dump(exclude={"datasets", "out", "overwrite"})
        )


__all__ = ["TrainConfig", "TrainOptions"]
