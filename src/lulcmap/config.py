"""Validated run configuration: the same object behind the CLI, the Python API and YAML files.

User-facing configs reject unknown keys. Relative paths in a YAML file are resolved against the
file's folder; the placeholder ``{out}`` expands to the run's output folder.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lulcmap.errors import ConfigError, InputNotFoundError


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


class RunConfig(_Config):
    """A YAML pipeline: optionally generate the demo inputs, then predict."""

    demo: DemoConfig | None = None
    predict: PredictConfig


def scene_stem(path: Path) -> str:
    name = path.name.rstrip("/")
    for suffix in (".zip", ".SAFE", ".xml", ".tif", ".tiff", ".vrt", ".jp2"):
        if name.lower().endswith(suffix.lower()):
            name = name[: -len(suffix)]
    return name or "scene"


def _resolve(value: str, base: Path, out: str) -> str:
    path = Path(value.replace("{out}", out))
    return str(path if path.is_absolute() else base / path)


_PATH_KEYS = ("scene", "dem", "climate", "mask")


def load_run_config(path: Path, *, out: Path | None = None) -> RunConfig:
    """Read a YAML run config; ``out`` overrides ``predict.out``."""
    if not path.is_file():
        raise InputNotFoundError(f"config {path} does not exist; see pipelines/demo.yaml")
    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("predict"), dict):
        raise ConfigError(f"config {path} needs a `predict:` section; see pipelines/demo.yaml")
    pred = dict(data["predict"])
    base = path.resolve().parent
    out_str = (
        str(Path(out).resolve())
        if out is not None
        else _resolve(str(pred.get("out", ".")), base, "")
    )
    pred["out"] = out_str
    for key in _PATH_KEYS:
        if isinstance(pred.get(key), str):
            pred[key] = _resolve(pred[key], base, out_str)
    if isinstance(pred.get("climate_vars"), dict):
        pred["climate_vars"] = {
            k: _resolve(str(v), base, out_str) for k, v in pred["climate_vars"].items()
        }
    data["predict"] = pred
    return validate(RunConfig, data, source=str(path))


C = TypeVar("C", bound=_Config)


def validate(model: type[C], data: Mapping[str, object], *, source: str) -> C:
    """Validate ``data`` as ``model``; the first problem becomes a one-line ConfigError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        hint = " (unknown key)" if first["type"] == "extra_forbidden" else ""
        raise ConfigError(
            f"{source}: `{where}`{hint}: {first['msg']}; "
            "see pipelines/demo.yaml for the accepted keys"
        ) from None


__all__ = ["DemoConfig", "PredictConfig", "RunConfig", "load_run_config", "scene_stem", "validate"]
