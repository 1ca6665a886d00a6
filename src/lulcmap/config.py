"""Validated configuration: one config per command, the same objects behind the CLI, the Python
API and YAML pipelines (:mod:`lulcmap.commands`). Each knob's default, bounds and help text are
declared here once; the command line's options and ``lulcmap.predict``'s keywords take them from
these fields. User-facing configs reject unknown keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from lulcmap.errors import ConfigError

Device = Literal["auto", "cpu", "cuda"]
MODEL_HELP = "Shipped model id (see `lulcmap models`) or a card path."
OVERWRITE_HELP = "Replace existing outputs."


def _bare_name(value: str) -> str:
    """An output name stem is a bare file name: outputs land inside ``--out``, never beside it."""
    if not value.strip():
        raise ValueError("the name stem is empty; give a file name such as `scene`")
    if "/" in value or "\\" in value or ".." in value:
        raise ValueError(
            f"the name stem {value!r} is not a bare file name (no `/`, `\\` or `..`); "
            "outputs are written inside --out, so give a name such as `scene`"
        )
    return value


Stem = Annotated[str, AfterValidator(_bare_name)]
"""An output name stem: a bare file name (no separators, no ``..``, not absolute, not empty)."""


class StrictConfig(BaseModel):
    """A user-facing config: frozen, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def digest(self) -> str:
        """sha256 of the resolved config, recorded next to every output."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def default(config: type[BaseModel], name: str) -> Any:
    """The default of field ``name`` of ``config`` (for keyword defaults declared elsewhere)."""
    return config.model_fields[name].get_default(call_default_factory=True)


class PredictConfig(StrictConfig):
    """Everything ``lulcmap predict`` needs (see ``lulcmap predict --help``)."""

    scene: Path = Field(description="Scene: GeoTIFF/COG/VRT, or Sentinel-2 SAFE folder/.zip.")
    out: Path = Field(description="Output folder (created if missing).")
    dem: Path | None = Field(None, description="DEM raster, any CRS and resolution.")
    climate: Path | None = Field(
        None, description="Folder with one raster per climate variable, <variable>.tif."
    )
    climate_vars: dict[str, Path] = Field(
        default_factory=dict, description="One raster per climate variable, by name."
    )
    model: str = Field("presto-dynamicworld", description=MODEL_HELP)
    stride: int = Field(224, ge=1, description="Output cell size in scene pixels.")
    rgb_bands: str | None = Field(
        None, description="Red,green,blue as 1-based indexes (4,3,2) or names (B04,B03,B02)."
    )
    bands: str | None = Field(
        None,
        description="Names of all the scene's bands, in order (e.g. B02,B03,B04,B08), for a "
        "pixel-encoder model when the file has no band descriptions.",
    )
    pixels_per_cell: int | None = Field(
        None,
        ge=0,
        description="Pixel-encoder models: pixels encoded per cell, a k x k lattice (a square: "
        "16, 64, 256...) or 0 for every pixel (default: the model card's).",
    )
    date: str | None = Field(
        None,
        description="Acquisition date YYYY-MM-DD (or YYYY-MM), for a pixel-encoder model when "
        "the scene's metadata and name do not give it.",
    )
    scale: float | None = Field(
        None, description="Reflectance per digital number (default 1/10000 for integer DNs)."
    )
    offset: float | None = Field(
        None, description="Reflectance offset added after scaling (e.g. -0.1)."
    )
    mask: Path | None = Field(None, description="Raster of pixels to exclude (e.g. SCL).")
    mask_values: tuple[int, ...] | None = Field(
        None, description="Mask values to exclude, e.g. 3,8,9,10 (default: non-zero)."
    )
    min_valid_fraction: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Cells whose chip has a smaller valid fraction become nodata.",
    )
    batch_size: int = Field(64, ge=1, description="Chips per forward pass.")
    device: Device = Field("auto", description="auto, cpu or cuda.")
    bf16: bool = Field(
        False,
        description="Run the model under bfloat16 autocast, on CUDA or CPU (faster on GPUs and on "
        "CPUs with AVX512-BF16/AMX; fractions differ from float32 by ~1e-3).",
    )
    strict: bool = Field(
        False,
        description="Refuse ancillary values outside the model's training range (beyond 5 σ of "
        "its card's statistics, or in another unit such as kelvin for °C) instead of warning.",
    )
    stem: Stem | None = Field(None, description="Output name stem (default: scene name).")
    overwrite: bool = Field(False, description=OVERWRITE_HELP)

    @property
    def output_stem(self) -> str:
        return self.stem or scene_stem(self.scene)


class PrepareConfig(StrictConfig):
    """Everything ``lulcmap prepare`` needs (see ``lulcmap prepare --help``)."""

    scenes: tuple[Path, ...] = Field(
        min_length=1, description="Scene(s): GeoTIFF/COG/VRT or Sentinel-2 SAFE."
    )
    reference: Path = Field(description="Reference map: raster, or polygons (.gpkg/.parquet/.shp).")
    crosswalk: str = Field(
        description="nlcd, esa_worldcover, corine, index, or a crosswalk YAML file."
    )
    out: Path = Field(description="The dataset to write (DATASET.zarr).")
    class_column: str | None = Field(
        None, description="Column of the polygons holding the class codes."
    )
    legend: str = Field("sipna", description="Legend the crosswalk maps onto.")
    dem: Path | None = Field(None, description="DEM raster (elevation, slope).")
    climate: Path | None = Field(
        None, description="Folder of climate rasters, <variable>.tif: all are used."
    )
    climate_vars: dict[str, Path] = Field(
        default_factory=dict, description="One raster per climate variable, by name."
    )
    rgb_bands: str | None = Field(
        None, description="Red,green,blue as 1-based indexes (4,3,2) or names (B04,...)."
    )
    scale: float | None = Field(None, description="Reflectance per digital number.")
    offset: float | None = Field(
        None, description="Reflectance offset added after scaling (e.g. -0.1)."
    )
    reflectance_max: float = Field(
        0.3, gt=0, description="Reflectance stretched to 255 (the model's radiometry)."
    )
    chip_size: int = Field(224, ge=8, description="Chip side in pixels.")
    stride: int = Field(224, ge=1, description="Distance between chips in pixels.")
    pixel_size: float | None = Field(
        None, gt=0, description="Resample the scenes to this pixel size (metres) on read."
    )
    block_size: tuple[float, float] = Field(
        (18000.0, 15000.0), description="Spatial blocks, WIDTHxHEIGHT metres."
    )
    min_valid_fraction: float = Field(
        0.5, ge=0.0, le=1.0, description="Leave out chips with a smaller valid-pixel fraction."
    )
    backbone: Literal["none", "presto"] = Field(
        "none",
        description="Also store each chip's features from a frozen pretrained encoder: presto "
        "(for `lulcmap train --backbone presto`).",
    )
    bands: str | None = Field(
        None,
        description="--backbone presto: names of all the scene's bands, in order (e.g. "
        "B04,B03,B02,B08), when its band descriptions are not Sentinel-2 names.",
    )
    pixels_per_cell: int | None = Field(
        None,
        ge=0,
        description="--backbone presto: pixels encoded per chip, a k x k lattice (16, 64, "
        "256...) or 0 for every pixel (default: the encoder's, 64).",
    )
    features: Literal["mean", "mean_std"] = Field(
        "mean",
        description="--backbone presto: per chip, the mean of the pixel embeddings, or their "
        "mean and standard deviation.",
    )
    date: str | None = Field(
        None,
        description="--backbone presto: acquisition date YYYY-MM-DD, when the scene's "
        "metadata and name do not give it.",
    )
    overwrite: bool = Field(False, description="Replace an existing dataset.")


class EvaluateConfig(StrictConfig):
    """Everything ``lulcmap evaluate`` needs (see ``lulcmap evaluate --help``)."""

    datasets: tuple[Path, ...] = Field(
        min_length=1,
        description="Chip dataset(s) (Zarr) made by `lulcmap prepare`, in one CRS: used together.",
    )
    model: str = Field(description=MODEL_HELP)
    out: Path = Field(description="Output folder for the report.")
    split: str | None = Field(
        None,
        description="test: the held-out blocks the model card records (default); all: every chip.",
    )
    blocks: tuple[int, ...] | None = Field(
        None, description="Evaluate these blocks instead, e.g. 3,7,12."
    )
    train_blocks: tuple[int, ...] | None = Field(
        None,
        description="Blocks whose mean reference is the baseline (default: the card's training "
        "blocks).",
    )
    batch_size: int = Field(64, ge=1, description="Chips per forward pass.")
    device: Device = Field("auto", description="auto, cpu or cuda.")
    overwrite: bool = Field(False, description=OVERWRITE_HELP)


class ChipsConfig(StrictConfig):
    """Everything ``lulcmap chips`` needs: the original workflow's chip folder -> CSVs."""

    input_dir: Path | None = Field(
        None,
        description="Folder in the original layout: 'RGB satellite images folder/' and "
        "'Environmental ancillary data CSV file.csv'.",  # lulcmap.compat.layout's names
    )
    out: Path = Field(description="Output folder (created if missing).")
    level: str | None = Field(
        None,
        description="N1, N2 or both. Default: every level the model gives (both for N2 models).",
    )
    model: str = Field("demo-synthetic", description=MODEL_HELP)
    images: Path | None = Field(
        None, description="Folder of chips (JPG, PNG or TIFF), instead of INPUT_DIR's."
    )
    ancillary: Path | None = Field(
        None, description="Ancillary CSV (filename + one column per variable)."
    )
    batch_size: int = Field(64, ge=1, description="Chips per forward pass.")
    device: Device = Field("auto", description="auto, cpu or cuda.")
    overwrite: bool = Field(False, description=OVERWRITE_HELP)


class TruthConfig(StrictConfig):
    """The truth maps a ``world`` step writes: exact percent fractions per output cell."""

    chip_size: int = Field(224, ge=1, description="The chip size of the model that maps it.")
    stride: int = Field(224, ge=1, description="The predict step's stride (its cell size).")
    legend: str = Field("sipna", description="The legend of the truth maps.")


class WorldConfig(StrictConfig):
    """A synthetic world with its truth, written as the tool's inputs (``world`` step)."""

    seed: int = Field(description="The world's seed.")
    out: Path = Field(description="The folder to write (scene.tif, dem.tif, climate/, ...).")
    size: int = Field(
        2240,
        ge=16,
        description="Pixels per side at 10 m (2240: the demo's worlds, which hold every class).",
    )
    origin: Literal["block", "default"] = Field(
        "block",
        description="block: each seed in its own block-sized cell of the map (world_origin); "
        "default: the generator's own origin (the demo's area).",
    )
    reference: bool = Field(
        True, description="Write reference.tif: the N2 class index of every pixel."
    )
    truth: TruthConfig | None = Field(
        None, description="Write truth_N1.tif and truth_N2.tif on these cells."
    )
    overwrite: bool = Field(False, description=OVERWRITE_HELP)


class ScoreConfig(StrictConfig):
    """MAE of predicted maps against truth maps (``score`` step; writes nothing)."""

    maps: Path = Field(description="The predict step's output folder.")
    truth: Path = Field(description="The folder holding truth_<level>.tif.")
    stem: Stem = Field("scene", description="The maps' name stem: <stem>_<level>.tif.")
    levels: tuple[Literal["N1", "N2"], ...] = Field(
        ("N1", "N2"), min_length=1, description="The levels scored."
    )


def scene_stem(path: Path) -> str:
    name = path.name.rstrip("/")
    for suffix in (".zip", ".SAFE", ".xml", ".tif", ".tiff", ".vrt", ".jp2"):
        if name.lower().endswith(suffix.lower()):
            name = name[: -len(suffix)]
    return name or "scene"


C = TypeVar("C", bound=StrictConfig)


def validate(
    model: type[C],
    data: Mapping[str, object],
    *,
    source: str,
    example: str | None = None,
) -> C:
    """Validate ``data`` as ``model``; the first problem becomes a one-line ConfigError that names
    the accepted keys when a key is unknown. ``example`` says where to look (default: the help of
    the command ``source`` names, ``lulcmap <command>``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()  # an unknown key first: a misspelt key also makes one "missing"
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        where = ".".join(str(p) for p in first["loc"])
        if source.startswith("lulcmap ") and len(first["loc"]) == 1:  # the option, as typed
            where = "--" + where.replace("_", "-")
        hint = ""
        if first["type"] == "extra_forbidden":
            keys = _accepted_keys(model, first["loc"][:-1])
            hint = f" (unknown key; accepted: {', '.join(keys)})" if keys else " (unknown key)"
        see = example or (f"see `{source} --help`" if source.startswith("lulcmap ") else "")
        raise ConfigError(
            f"{source}: `{where}`{hint}: {str(first['msg']).removeprefix('Value error, ')}"
            + (f"; {see}" if see else "")
        ) from None


def _accepted_keys(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The field names of the (nested) model at ``loc`` inside ``model``."""
    current: object = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return []
        current = _model_in(fields[part].annotation)
    fields = getattr(current, "model_fields", None)
    return list(fields) if fields else []


def _model_in(annotation: object) -> object:
    """The pydantic model an annotation holds (through ``X | None``, tuples and lists)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


__all__ = [
    "ChipsConfig",
    "EvaluateConfig",
    "PredictConfig",
    "PrepareConfig",
    "ScoreConfig",
    "Stem",
    "StrictConfig",
    "TruthConfig",
    "WorldConfig",
    "default",
    "scene_stem",
    "validate",
]
