"""Model cards: the validated description of a model, and the only way weights are loaded.

A card is YAML or JSON (unknown keys are rejected) and points at a weights file whose sha256 it
records: safetensors for lulcmap's own network, or ONNX for a model converted from elsewhere (the
published Keras models, see docs/onnx.md), whose input conventions the card's ``onnx`` block
declares. Loading checks the hash before reading a byte of the weights; nothing is ever unpickled.

``levels`` says what the model's abundance output is: ``[N1]`` -> the N1 classes only;
``[N2]`` or ``[N1, N2]`` -> the N2 classes, N1 being their legend sum.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from lulcmap.errors import InputNotFoundError, ModelCardError, WeightsHashError
from lulcmap.legend import LEVELS, Legend, derived_levels, load_legend
from lulcmap.model.card_encoder import EncoderSpec, HeadSpec, WeightsFile

ONNX_DOC = "docs/onnx.md"
"""Where converting a published model to ONNX and writing its card is explained."""


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


Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class Weights(_Strict):
    """The weights file, next to the card, and its sha256.

    ``sha256: null`` is allowed for a card shipped without its weights (the file must be made by
    the user, e.g. converted to ONNX, and its bytes cannot be known in advance); such a card lists
    in ``lulcmap models`` but refuses to load until the user records the hash of their file.
    """

    file: WeightsFile
    sha256: Sha256 | None
    format: Literal["safetensors", "onnx"] = "safetensors"
    source: str = ""
    """What the file is made from (e.g. "the published Keras SavedModel X"), for the error
    shown when it is not installed."""


class OnnxSpec(_Strict):
    """How to feed an ONNX model and read its abundances (the ``onnx`` block of a card).

    lulcmap's chips are uint8 ``(N, 3, S, S)`` in the card's radiometry; they are transposed to
    ``image_layout``, cast to ``image_dtype`` and, for float32, mapped to
    ``value * image_scale + image_offset``. Ancillary values are fed in the card's ``ancillary``
    order, raw or, with ``ancillary_normalised``, as ``(value - mean) / std`` with the card's
    statistics. ``output`` is the name or index of the abundance output; ``null`` takes the only
    output whose last dimension is the number of classes of the card's level.
    """

    image_input: str
    image_layout: Literal["NHWC", "NCHW"] = "NHWC"
    image_dtype: Literal["uint8", "float32"] = "uint8"
    image_scale: float = 1.0
    image_offset: float = 0.0
    ancillary_input: str | None = None
    ancillary_normalised: bool = False
    output: str | Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _scaling_needs_float(self) -> OnnxSpec:
        if self.image_input == self.ancillary_input:
            raise ValueError(
                f"image_input and ancillary_input are both {self.image_input!r}; "
                "name the model's two inputs"
            )
        if self.image_dtype == "uint8" and (self.image_scale != 1.0 or self.image_offset != 0.0):
            raise ValueError(
                "image_scale and image_offset apply to float32 images; with image_dtype uint8 "
                "leave them out, or set image_dtype: float32"
            )
        return self


class ModelCard(_Strict):
    """A model: identity, legend, expected input, ancillary variables, weights, provenance."""

    id: str
    version: str
    kind: Literal["chip_cnn", "pixel_encoder"] = "chip_cnn"
    description: str = ""
    legend: str = "sipna"
    levels: tuple[str, ...] = ("N1", "N2")
    architecture: Architecture = Architecture()
    input: InputSpec = InputSpec()
    ancillary: tuple[AncillaryVar, ...] = ()
    weights: Weights
    onnx: OnnxSpec | None = None
    encoder: EncoderSpec | None = None
    head: HeadSpec | None = None
    training_domain: Literal["real", "synthetic"] = "real"
    """What the model was trained on: ``synthetic`` (lulcmap's generator only) makes ``predict``
    warn on any scene but a synthetic world."""
    training: dict[str, object] = Field(default_factory=dict)
    metrics: dict[str, object] = Field(default_factory=dict)
    licence: str = "unspecified"
    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _levels_known(self) -> ModelCard:
        bad = [lv for lv in self.levels if lv not in LEVELS]
        if bad or not self.levels or len(set(self.levels)) != len(self.levels):
            raise ValueError(
                f"levels must be [N1] (an N1 model), [N2] or [N1, N2] (an N2 model), "
                f"got {list(self.levels)}"
            )
        return self

    @model_validator(mode="after")
    def _encoder_blocks_match_kind(self) -> ModelCard:
        """A pixel-encoder card has ``encoder`` and ``head`` blocks; a chip-CNN card neither."""
        if self.kind == "pixel_encoder":
            if self.encoder is None or self.head is None:
                raise ValueError(
                    "kind pixel_encoder needs an `encoder` block (name, weights, pixels_per_cell, "
                    "bands, features, climate) and a `head` block (kind, crosswalk or hidden); "
                    "compare with models/presto-dynamicworld/card.yaml"
                )
            if self.weights.format != "safetensors" or self.onnx is not None:
                raise ValueError("a pixel_encoder card's weights are safetensors, not ONNX")
            if self.output_level != "N2":
                raise ValueError("a pixel_encoder model gives N2 abundances: levels [N1, N2]")
        elif self.encoder is not None or self.head is not None:
            raise ValueError(
                "`encoder` and `head` describe a pixel-encoder model; set kind: pixel_encoder "
                "or remove them"
            )
        return self

    @model_validator(mode="after")
    def _onnx_block_matches_format(self) -> ModelCard:
        if self.weights.format == "onnx":
            self._check_onnx_card()
        elif self.onnx is not None:
            raise ValueError(
                "the `onnx` block describes ONNX weights but weights.format is "
                f"{self.weights.format}; remove the block, or set weights.format: onnx"
            )
        return self

    def _check_onnx_card(self) -> None:
        if self.onnx is None:
            raise ValueError(
                "weights.format is onnx but the card has no `onnx` block; add one naming the "
                "model's inputs and conventions, e.g. `onnx: {image_input: input_1, "
                "image_layout: NHWC, image_dtype: uint8, ancillary_input: input_2}` "
                f"(see {ONNX_DOC})"
            )
        if "architecture" in self.model_fields_set:
            raise ValueError(
                "`architecture` describes lulcmap's own torch network; an ONNX file carries its "
                "own graph: remove `architecture` from the card"
            )
        if {"image_mean", "image_std"} & self.input.model_fields_set:
            raise ValueError(
                "input.image_mean/image_std are for lulcmap's torch network; for ONNX weights "
                "describe the image with onnx.image_dtype, image_scale and image_offset"
            )
        if self.ancillary and self.onnx.ancillary_input is None:
            raise ValueError(
                f"the card lists {len(self.ancillary)} ancillary variables but "
                "onnx.ancillary_input is not set; name the ONNX input that takes them"
            )
        if not self.ancillary and self.onnx.ancillary_input is not None:
            raise ValueError(
                "onnx.ancillary_input is set but the card lists no `ancillary` variables; "
                "list them in the order the model takes them"
            )
        if self.onnx.ancillary_normalised:
            unset = [a.name for a in self.ancillary if not {"mean", "std"} <= a.model_fields_set]
            if unset:
                raise ValueError(
                    "onnx.ancillary_normalised is true but ancillary "
                    f"{', '.join(unset)} lack `mean` and `std`; give the statistics the model "
                    "was trained with, or set ancillary_normalised: false for raw values"
                )

    @property
    def output_level(self) -> str:
        """The level of the model's abundance output: ``N2`` if the card lists it, else ``N1``."""
        return "N2" if "N2" in self.levels else "N1"

    @property
    def map_levels(self) -> tuple[str, ...]:
        """Levels a prediction holds: N1 and N2 for an N2 model (N1 = legend sum), else N1."""
        return derived_levels(self.output_level)

    @property
    def n_classes(self) -> int:
        """Classes of the model's output: those of :attr:`output_level` in the card's legend."""
        return len(self.get_legend().classes(self.output_level))

    @property
    def trained_on(self) -> str:
        """What the model was trained on, in a few words (``lulcmap models``, run summaries)."""
        if self.training_domain == "synthetic":
            return "synthetic data only"
        if self.head is not None and self.head.kind == "dynamicworld":
            return "no labels (Presto zero-shot on real pixels)"
        data = str(self.training.get("data", "")).split("(")[0].split(";")[0].strip(" ,")
        return data[:60] or "not stated"

    @property
    def ancillary_names(self) -> list[str]:
        return [a.name for a in self.ancillary]

    @property
    def climate_names(self) -> list[str]:
        """Ancillary variables that come from climate grids (not from the DEM)."""
        return [n for n in self.ancillary_names if n not in ("elevation", "slope")]

    @property
    def weights_path(self) -> Path:
        if self.encoder is not None and self.weights.file == self.encoder.weights.file:
            return self.encoder.weights_path(self.path)  # zero-shot: the encoder's own file
        base = self.path.parent if self.path is not None else Path.cwd()
        return base / self.weights.file

    @property
    def weights_installed(self) -> bool:
        """Whether the weights file is there (its hash is checked only when loading)."""
        return self.weights_path.is_file()

    def get_legend(self) -> Legend:
        if self.path is not None and not Path(self.legend).is_absolute():
            candidate = self.path.parent / self.legend
            if candidate.is_file():
                return load_legend(candidate)
        return load_legend(self.legend)

    def to_dict(self) -> dict[str, object]:
        """The card as written to YAML/JSON: what :func:`read_card` reads back to this card."""
        exclude: dict[str, object] = {"path": True}
        if self.onnx is None:
            exclude["onnx"] = True
        else:  # torch-network fields an ONNX card must not carry
            exclude.update(architecture=True, input={"image_mean", "image_std"})
        if not self.weights.source:
            exclude["weights"] = {"source"}
        if self.kind == "chip_cnn":  # chip-CNN cards are written as before
            exclude.update(kind=True, encoder=True, head=True)
        if self.training_domain == "real" and "training_domain" not in self.model_fields_set:
            exclude["training_domain"] = True
        return self.model_dump(mode="json", exclude=exclude)  # type: ignore[arg-type]


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
        at = f" at `{where}`" if where else ""
        msg = str(first["msg"]).removeprefix("Value error, ")
        weights = data.get("weights")
        onnx = (isinstance(weights, dict) and weights.get("format") == "onnx") or "onnx" in data
        example = (
            f"models/lifewatch-mimo-n1-s2g/card.yaml and {ONNX_DOC}"
            if onnx
            else "models/demo-synthetic/card.yaml"
        )
        raise ModelCardError(
            f"model card {path} is invalid{at}: {msg}; compare with {example}"
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


def _not_installed(card: ModelCard) -> str:
    wpath, where = card.weights_path, card.path or "the card"
    if card.weights.format == "onnx":
        fix = (
            f"convert {card.weights.source or 'the model'} to ONNX as {ONNX_DOC} explains, save "
            f"it there and write its sha256 in {where}"
        )
    else:
        made = f" ({card.weights.source})" if card.weights.source else ""
        fix = f"put the weights file{made} there, or fix weights.file in {where}"
    return f"model {card.id} has no weights installed: {wpath} does not exist; {fix}"


def verify_weights(card: ModelCard) -> Path:
    """Path of the card's weights after checking they exist and match the recorded sha256."""
    wpath = card.weights_path
    if not wpath.is_file():
        raise InputNotFoundError(_not_installed(card))
    expected = card.weights.sha256
    if expected is None:
        raise ModelCardError(
            f"card {card.path or card.id} records no sha256 for its weights {wpath.name}; "
            f"compute it (`sha256sum {wpath}`) and write it as weights.sha256 in the card, "
            f"so lulcmap can check the file is the one the card describes (see {ONNX_DOC})"
        )
    digest = sha256_file(wpath)
    if digest != expected:
        raise WeightsHashError(
            f"weights {wpath.name} have sha256 {digest[:12]}… but card {card.id} expects "
            f"{expected[:12]}…; use the weights the card was written for, "
            "or update the card"
        )
    return wpath


def verify_encoder(card: ModelCard) -> Path:
    """Path of a pixel-encoder card's encoder file, after checking its sha256."""
    if card.encoder is None:
        raise ModelCardError(f"card {card.id} has no `encoder` block")
    path, expected = card.encoder.weights_path(card.path), card.encoder.weights.sha256
    if not path.is_file():
        raise InputNotFoundError(
            f"model {card.id}'s encoder {card.encoder.weights.file} is neither next to the card "
            f"nor in the shipped models/presto/ ({path}); put the file there"
        )
    digest = sha256_file(path)
    if digest != expected:
        raise WeightsHashError(
            f"encoder {path.name} has sha256 {digest[:12]}… but card {card.id} expects "
            f"{expected[:12]}…; use the encoder the card was written for, or update the card"
        )
    return path


__all__ = [
    "ONNX_DOC",
    "AncillaryVar",
    "InputSpec",
    "ModelCard",
    "OnnxSpec",
    "Radiometry",
    "Weights",
    "read_card",
    "sha256_file",
    "verify_encoder",
    "verify_weights",
    "write_card",
]
