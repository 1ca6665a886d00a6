"""Validated configuration: the same objects behind the CLI, the Python API and YAML pipelines
(:mod:`lulcmap.workflow`). User-facing configs reject unknown keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lulcmap.errors import ConfigError


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PredictConfig(_Config):
    """Everything ``lulcmap predict`` needs (see ``lulcmap predict --help``)."""

    scene: Path
    out: Path
    dem: Path | None = None
    climate: Path | None = None
    climate_vars: dict[str, Path] = Field(default_factory=dict)
    model: str = "demo-synthetic"
    stride: int = Field(224, ge=1)
    rgb_bands: str | None = None
    scale: float | None = None
    offset: float | None = None
    mask: Path | None = None
    mask_values: tuple[int, ...] | None = None
    min_valid_fraction: float = Field(0.5, ge=0.0, le=1.0)
    batch_size: int = Field(64, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    bf16: bool = False
    stem: str | None = None
    overwrite: bool = False

    @property
    def output_stem(self) -> str:
        return self.stem or scene_stem(self.scene)

    def digest(self) -> str:
        """sha256 of the resolved config, recorded next to every output."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


class DemoConfig(_Config):
    """The synthetic demo area (see :mod:`lulcmap.demo`)."""

    seed: int = 42
    size: int = Field(2240, ge=224)


def scene_stem(path: Path) -> str:
    name = path.name.rstrip("/")
    for suffix in (".zip", ".SAFE", ".xml", ".tif", ".tiff", ".vrt", ".jp2"):
        if name.lower().endswith(suffix.lower()):
            name = name[: -len(suffix)]
    return name or "scene"


C = TypeVar("C", bound=_Config)


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
        hint = ""
        if first["type"] == "extra_forbidden":
            keys = _accepted_keys(model, first["loc"][:-1])
            hint = f" (unknown key; accepted: {', '.join(keys)})" if keys else " (unknown key)"
        see = example or (f"see `{source} --help`" if source.startswith("lulcmap ") else "")
        raise ConfigError(
            f"{source}: `{where}`{hint}: {first['msg']}" + (f"; {see}" if see else "")
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


__all__ = ["DemoConfig", "PredictConfig", "scene_stem", "validate"]
