"""Model cards: the validated description of a model, and the only way weights are loaded.

A card is YAML or JSON (unknown keys are rejected) and points at a safetensors file whose sha256 it
records. Loading checks the hash before reading a byte of the weights; nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lulcmap.errors import InputNotFoundError, ModelCardError
from lulcmap.legend import Legend, load_legend


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Radiometry(_Strict):
    """How scene values become the 8-bit chips the model was trained on.

    8-bit scenes are taken as already in this radiometry. Reflectance ``r`` (digital numbers times
    the scene's scale plus offset) maps to ``clip(round(r / reflectance_max * 255), 1, 255)``;
    0 is kept for nodata.
    """

    dtype: Literal["uint8"] = "uint8"
    kind: Literal["reflectance_stretch"] = "reflectance_stretch"
    reflectance_max: float = Field(0.3, gt=0)
    description: str = "8-bit true colour, linear stretch of reflectance 0..0.3 to 1..255"


class InputSpec(_Strict):
    chip_size: int = Field(224, ge=8)
    pixel_size_m: float = Field(10.0, gt=0)
    bands: tuple[str, str, str] = ("red", "green", "blue")
    radiometry: Radiometry = Radiometry()
    image_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    image_std: tuple[float, float, float] = (0.25, 0.25, 0.25)


class AncillaryVar(_Strict):
    name: str
    units: str = ""
    mean: float = 0.0
    std: float = Field(1.0, gt=0)


class Architecture(_Strict):
    name: Literal["lulcnet"] = "lulcnet"
    widths: tuple[int, int, int, int] = (24, 48, 96, 128)
    anc_hidden: int = 32


class Weights(_Strict):
    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    format: Literal["safetensors"] = "safetensors"


class ModelCard(_Strict):
    """A model: identity, legend, expected input, ancillary variables, weights, provenance."""

    id: str
    version: str
    description: str = ""
    legend: str = "sipna"
    levels: tuple[str, ...] = ("N1", "N2")
    architecture: Architecture = Architecture()
    input: InputSpec = InputSpec()
    ancillary: tuple[AncillaryVar, ...] = ()
    weights: Weights
    training: dict[str, object] = Field(default_factory=dict)
    metrics: dict[str, object] = Field(default_factory=dict)
    licence: str = "unspecified"
    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _levels_known(self) -> ModelCard:
        bad = [lv for lv in self.levels if lv not in ("N1", "N2")]
        if bad:
            raise ValueError(f"levels must be N1 and/or N2, got {bad}")
        return self

    @property
    def ancillary_names(self) -> list[str]:
        return [a.name for a in self.ancillary]

    @property
    def climate_names(self) -> list[str]:
        """Ancillary variables that come from climate grids (not from the DEM)."""
        return [n for n in self.ancillary_names if n not in ("elevation", "slope")]

    @property
    def weights_path(self) -> Path:
        base = self.path.parent if self.path is not None else Path.cwd()
        return base / self.weights.file

    def get_legend(self) -> Legend:
        if self.path is not None and not Path(self.legend).is_absolute():
            candidate = self.path.parent / self.legend
            if candidate.is_file():
                return load_legend(candidate)
        return load_legend(self.legend)

    def to_dict(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude={"path"})


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_card(path: str | Path) -> ModelCard:
    """Read and validate a card (YAML or JSON); its weights path is resolved next to it."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(
            f"model card {path} does not exist; give a card file or a model name"
        )
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ModelCardError(
            f"model card {path} is not YAML/JSON ({exc.__class__.__name__}); "
            "a card is a text file like models/demo-synthetic/card.yaml"
        ) from None
    if not isinstance(data, dict):
        raise ModelCardError(
            f"model card {path} must be a mapping of fields, got {type(data).__name__}"
        )
    try:
        card = ModelCard.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ModelCardError(
            f"model card {path} is invalid at `{where}`: {first['msg']}; "
            "compare with models/demo-synthetic/card.yaml"
        ) from None
    return card.model_copy(update={"path": path.resolve()})


def write_card(card: ModelCard, path: str | Path) -> None:
    path = Path(path)
    text = (
        json.dumps(card.to_dict(), indent=2)
        if path.suffix == ".json"
        else yaml.safe_dump(card.to_dict(), sort_keys=False, allow_unicode=True)
    )
    path.write_text(text, "utf-8")


def verify_weights(card: ModelCard) -> Path:
    """Path of the card's weights after checking they exist and match the recorded sha256."""
    wpath = card.weights_path
    if not wpath.is_file():
        raise InputNotFoundError(f"weights {wpath} named by card {card.path} do not exist")
    digest = sha256_file(wpath)
    if digest != card.weights.sha256:
        from lulcmap.errors import WeightsHashError

        raise WeightsHashError(
            f"weights {wpath.name} have sha256 {digest[:12]}… but card {card.id} expects "
            f"{card.weights.sha256[:12]}…; use the weights the card was written for, "
            "or update the card"
        )
    return wpath


__all__ = [
    "AncillaryVar",
    "InputSpec",
    "ModelCard",
    "Radiometry",
    "read_card",
    "sha256_file",
    "verify_weights",
    "write_card",
]
