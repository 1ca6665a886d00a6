"""The blocks of a pixel-encoder card (``kind: pixel_encoder``): the encoder and the head.

A pixel-encoder model runs a pretrained encoder of single pixels (Presto, ``models/presto/``) on
a lattice of pixels in each output cell's chip footprint, averages the pixel embeddings per cell
and maps them to abundances with a head:

* ``head.kind: dynamicworld`` -- zero-shot: the encoder's decoder gives Dynamic World class
  probabilities per pixel, averaged per cell and mapped onto the legend's N2 classes by
  ``head.crosswalk``; the card's ``weights`` are the encoder's own file.
* ``head.kind: mlp`` -- a small MLP (``head.hidden`` units) on the cell's features, softmax
  output; its weights are the card's ``weights`` file.

``encoder.bands`` lists the Sentinel-2 channels the model uses (``[B2, B3, B4, B8]``); a scene
lacking one is an error, the scene's other channels are masked so the embedding matches what the
head saw. ``bands: []`` means "every Presto channel the scene has" (the zero-shot model's
choice). ``encoder.terrain`` and ``encoder.climate`` say whether elevation/slope (from ``--dem``)
and the month's temperature and precipitation (from monthly climate grids) are fed:
``required``/``monthly`` make them inputs the run must have, ``masked`` never feeds them,
``if_given`` (terrain only) feeds the DEM when one is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from lulcmap.resources import shipped_dir

PRESTO_BANDS = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
"""Presto's Sentinel-2 channels (as :data:`lulcmap.model.presto_inputs.PRESTO_S2`)."""

ENCODER_FOLDER = "presto"
"""Shipped folder (under ``models/``) where an encoder file not found next to the card is
looked up."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _bare_file(value: str) -> str:
    """A weights file is a bare file name next to the card: nothing outside its folder is read."""
    if not value.strip() or "/" in value or "\\" in value or ".." in value or ":" in value:
        raise ValueError(
            f"weights file {value!r} must be a bare file name next to the card (no `/`, `\\`, "
            "`:` or `..`); put the file beside the card and give its name, e.g. weights.onnx"
        )
    return value


WeightsFile = Annotated[str, AfterValidator(_bare_file)]
"""A card's weights (or encoder) file: a bare file name, resolved next to the card."""


class EncoderWeights(_Strict):
    """The encoder's safetensors file (a bare file name) and its sha256, always verified."""

    file: WeightsFile
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class EncoderSpec(_Strict):
    """The ``encoder`` block of a pixel-encoder card."""

    name: Literal["presto"] = "presto"
    weights: EncoderWeights
    pixels_per_cell: int = Field(64, ge=0)
    bands: tuple[str, ...] = ()
    features: Literal["mean", "mean_std"] = "mean"
    climate: Literal["masked", "monthly"] = "masked"
    terrain: Literal["masked", "required", "if_given"] = "if_given"

    @model_validator(mode="after")
    def _check(self) -> EncoderSpec:
        bad = [b for b in self.bands if b not in PRESTO_BANDS]
        if bad:
            raise ValueError(
                f"encoder.bands {bad} are not Presto channels; use some of "
                f"{', '.join(PRESTO_BANDS)} (or [] for every channel the scene has)"
            )
        check_lattice(self.pixels_per_cell, "encoder.pixels_per_cell")
        return self

    def weights_path(self, card_path: Path | None) -> Path:
        """The encoder file: next to the card if there, else in the shipped ``models/presto/``."""
        if card_path is not None:
            beside = card_path.parent / self.weights.file
            if beside.is_file():
                return beside
        return shipped_dir("models") / ENCODER_FOLDER / self.weights.file


class HeadSpec(_Strict):
    """The ``head`` block: ``dynamicworld`` (zero-shot, through ``crosswalk``) or ``mlp``."""

    kind: Literal["dynamicworld", "mlp"]
    crosswalk: str | None = None
    hidden: tuple[Annotated[int, Field(ge=1)], ...] = ()

    @model_validator(mode="after")
    def _check(self) -> HeadSpec:
        if self.kind == "dynamicworld" and not self.crosswalk:
            raise ValueError(
                "head.kind dynamicworld needs head.crosswalk (e.g. `crosswalk: dynamicworld`)"
            )
        if self.kind == "mlp" and self.crosswalk:
            raise ValueError("head.crosswalk applies to head.kind dynamicworld; remove it")
        if self.kind == "dynamicworld" and self.hidden:
            raise ValueError("head.hidden applies to head.kind mlp; remove it")
        return self


def check_lattice(pixels_per_cell: int, what: str = "--pixels-per-cell") -> int:
    """``pixels_per_cell`` is 0 (every pixel) or a square (k x k lattice); returns ``k`` (0: all).

    Raises ``ValueError`` with the fix (callers turn it into their error type).
    """
    k = round(pixels_per_cell**0.5)
    if pixels_per_cell < 0 or k * k != pixels_per_cell:
        lo = max(1, int(pixels_per_cell**0.5)) if pixels_per_cell > 0 else 1
        raise ValueError(
            f"{what} must be 0 (every pixel) or a square number of pixels (a k x k lattice, "
            f"e.g. {lo * lo} or {(lo + 1) ** 2}), got {pixels_per_cell}"
        )
    return k


__all__ = [
    "ENCODER_FOLDER",
    "PRESTO_BANDS",
    "EncoderSpec",
    "EncoderWeights",
    "HeadSpec",
    "WeightsFile",
    "check_lattice",
]
