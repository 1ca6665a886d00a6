"""Opening a chip dataset (made by ``lulcmap prepare``) and checking it fits a model.

The format is :mod:`lulcmap.chipdata.schema`: the reader refuses a store of another format version
or one that lacks a :data:`~lulcmap.chipdata.schema.REQUIRED_VARS` variable or holds it on other
dims. The accessors return numpy arrays with the chip axis first, whatever the stored dim order.

Several datasets (regions or dates prepared separately, in one CRS, with the same chips, legend,
radiometry and ancillary variables) open as one with :func:`open_chip_datasets`: their chips are
concatenated, ``dataset`` (chip) says which one each came from, and a spatial block keeps its id
across them (blocks are anchored at the CRS origin), so a block split stays spatial.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from lulcmap.chipdata.schema import DATASET_VERSION, REQUIRED_VARS, VARIABLES, VERSION_ATTR
from lulcmap.errors import InputDataError, InputNotFoundError, MissingVariableError, ModelCardError
from lulcmap.legend import Legend
from lulcmap.model.card import ModelCard

log = logging.getLogger(__name__)

MAKE_ONE = "make one with `lulcmap prepare`"


def open_chip_dataset(path: str | os.PathLike[str]) -> xr.Dataset:
    """Open a chip dataset lazily, after checking it is one this lulcmap can read."""
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"chip dataset {path} does not exist; {MAKE_ONE}")
    try:
        ds = xr.open_zarr(path)
    except Exception as exc:  # zarr/xarray raise many kinds for a path that is not a store
        raise InputDataError(
            f"{path} is not a Zarr chip dataset ({exc.__class__.__name__}); {MAKE_ONE}"
        ) from None
    version = ds.attrs.get(VERSION_ATTR)
    if version is None:
        raise InputDataError(
            f"{path} is a Zarr store but not a lulcmap chip dataset (no "
            f"`{VERSION_ATTR}` attribute); {MAKE_ONE}"
        )
    if int(version) != DATASET_VERSION:
        raise InputDataError(
            f"chip dataset {path} has format version {version} but this lulcmap reads version "
            f"{DATASET_VERSION}; prepare it again with this lulcmap, or upgrade lulcmap"
        )
    missing = [v for v in REQUIRED_VARS if v not in ds.variables]
    if missing:
        raise InputDataError(
            f"chip dataset {path} lacks {', '.join(missing)}; it is incomplete or was not made "
            f"by `lulcmap prepare`; prepare it again"
        )
    for name in REQUIRED_VARS:
        want, got = VARIABLES[name].dims, tuple(str(d) for d in ds[name].dims)
        if sorted(got) != sorted(want):
            raise InputDataError(
                f"chip dataset {path} holds {name} on dims ({', '.join(got)}) but the format has "
                f"({', '.join(want)}); it was not made by `lulcmap prepare`; prepare it again"
            )
    ds.encoding["source"] = str(path)
    return ds


MUST_MATCH = (
    "legend", "chip_size", "pixel_size_m", "block_size_m", "crs", "radiometry",
)  # fmt: skip
"""Attributes that must agree between datasets opened together."""


PathOrPaths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def dataset_paths(paths: PathOrPaths) -> list[Path]:
    """One path or several, as a list."""
    return [Path(paths)] if isinstance(paths, str | os.PathLike) else [Path(p) for p in paths]


def open_chip_datasets(paths: PathOrPaths) -> xr.Dataset:
    """Open one or more chip datasets as one (see the module docstring), lazily."""
    paths = dataset_paths(paths)
    if not paths:
        raise InputNotFoundError(f"no chip dataset given; {MAKE_ONE}")
    parts = [open_chip_dataset(p) for p in paths]
    if len(parts) == 1:
        return parts[0]
    first, name0 = parts[0], parts[0].encoding["source"]
    scenes: list[object] = []
    for i, ds in enumerate(parts):
        name = ds.encoding["source"]
        for key in MUST_MATCH:
            if _plain(ds.attrs.get(key)) != _plain(first.attrs.get(key)):
                raise InputDataError(
                    f"chip datasets {name0} and {name} differ in {key} "
                    f"({_plain(first.attrs.get(key))!r} vs {_plain(ds.attrs.get(key))!r}); "
                    "prepare them with the same options to use them together"
                )
        for coord in ("class_n1", "class_n2", "variable", "band"):
            a, b = _names(first, coord), _names(ds, coord)
            if a != b:
                raise InputDataError(
                    f"chip datasets {name0} and {name} have different {coord} ({a} vs {b}); "
                    "prepare them with the same legend, DEM and climate variables"
                )
        extra: dict[str, object] = {"dataset": ("chip", np.full(ds.sizes["chip"], i, np.int16))}
        if "scene_index" in ds:  # an index into the combined ``scenes`` list
            extra["scene_index"] = ds["scene_index"] + np.int16(len(scenes))
        scenes.extend(ds.attrs.get("scenes", []))
        parts[i] = ds.assign(extra)
    combined = xr.concat(
        parts, dim="chip", data_vars="minimal", coords="minimal", compat="override",
        join="exact", combine_attrs="drop",
    )  # fmt: skip
    combined.attrs = {
        **first.attrs,
        "scenes": scenes,
        "datasets": [str(ds.encoding["source"]) for ds in parts],
        **{  # what each dataset was made from
            key: [ds.attrs.get(key) for ds in parts]
            for key in ("reference", "reference_info", "ancillary_sources")
        },
        "n_chips": int(combined.sizes["chip"]),
    }
    combined.encoding["source"] = ", ".join(str(ds.encoding["source"]) for ds in parts)
    return combined


def _plain(value: object) -> object:
    if isinstance(value, np.ndarray | tuple):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def _names(ds: xr.Dataset, coord: str) -> list[str]:
    return [str(v) for v in ds[coord].values] if coord in ds.coords else []


def dataset_classes(ds: xr.Dataset, level: str) -> list[str]:
    return [str(c) for c in ds[f"class_{level.lower()}"].values]


def check_fits_model(ds: xr.Dataset, card: ModelCard, levels: tuple[str, ...]) -> None:
    """Chip size, classes and ancillary variables of ``ds`` against what ``card`` needs."""
    name = ds.encoding.get("source", "the chip dataset")
    size = (int(ds.sizes["y"]), int(ds.sizes["x"]))
    want = card.input.chip_size
    if size != (want, want) or int(ds.sizes["band"]) != 3:
        raise ModelCardError(
            f"{name} holds {ds.sizes['band']}-band {size[0]}x{size[1]} px chips but model "
            f"{card.id} takes 3-band {want}x{want} px chips; prepare the dataset with "
            f"chip size {want}"
        )
    pixel = ds.attrs.get("pixel_size_m")
    if pixel is not None and abs(float(pixel) - card.input.pixel_size_m) > 0.05 * float(pixel):
        log.warning(
            "dataset pixels are %g m but model %s was trained at %g m",
            float(pixel),
            card.id,
            card.input.pixel_size_m,
        )
    check_classes(ds, card.get_legend(), levels, what=f"model {card.id}'s legend")
    have = [str(v) for v in ds["variable"].values] if "variable" in ds.coords else []
    missing = [v for v in card.ancillary_names if v not in have]
    if missing:
        raise MissingVariableError(
            f"{name} lacks ancillary variables {', '.join(missing)} that model {card.id} needs "
            f"(it has: {', '.join(have) or 'none'}); prepare it with the DEM and climate grids "
            "that provide them"
        )


def check_classes(ds: xr.Dataset, legend: Legend, levels: tuple[str, ...], *, what: str) -> None:
    for level in levels:
        got, expected = dataset_classes(ds, level), legend.names(level)
        if got != expected:
            raise InputDataError(
                f"the dataset's {level} classes are {got} but {what} ({legend.id}) has "
                f"{expected}; evaluate with a model of the dataset's legend"
            )


def reference(ds: xr.Dataset, level: str, chips: np.ndarray) -> np.ndarray:
    """Reference fractions ``(len(chips), n_classes)`` at ``level`` (float64)."""
    var = ds[level.lower()].transpose("chip", f"class_{level.lower()}")
    return np.asarray(var.isel(chip=chips).values, dtype=np.float64)


def ancillary(ds: xr.Dataset, names: list[str], chips: np.ndarray) -> np.ndarray:
    """Ancillary values ``(len(chips), len(names))`` in ``names`` order, float32."""
    if not names:
        return np.zeros((len(chips), 0), np.float32)
    var = ds["ancillary"].transpose("chip", "variable").sel(variable=names)
    return np.asarray(var.isel(chip=chips).values, dtype=np.float32)


def images(ds: xr.Dataset, chips: np.ndarray) -> np.ndarray:
    """uint8 chips ``(len(chips), 3, S, S)``."""
    var = ds["image"].transpose("chip", "band", "y", "x")
    return np.ascontiguousarray(var.isel(chip=chips).values, dtype=np.uint8)


def features(ds: xr.Dataset, chips: np.ndarray) -> np.ndarray:
    """The stored encoder features ``(len(chips), F)`` (float32); a dataset without them is an
    error naming how to make one."""
    if "features" not in ds.variables:
        raise MissingVariableError(
            f"{ds.encoding.get('source', 'the chip dataset')} holds no encoder features; "
            "prepare it with `lulcmap prepare --backbone presto`"
        )
    var = ds["features"].transpose("chip", "feature")
    return np.asarray(var.isel(chip=chips).values, dtype=np.float32)


def describe(ds: xr.Dataset) -> dict[str, object]:
    """What the report says about a dataset (JSON-ready)."""
    keys = ("legend", "chip_size", "pixel_size_m", "block_size_m", "crs", "lulcmap_version")
    info: dict[str, object] = {"path": str(ds.encoding.get("source", ""))}
    for key in keys:
        value = ds.attrs.get(key)
        if isinstance(value, dict):  # a legend written out in full
            value = value.get("id", value.get("name"))
        if isinstance(value, np.generic):
            value = value.item()
        elif isinstance(value, np.ndarray):
            value = value.tolist()
        info[key] = value if isinstance(value, int | float | str | list | None) else str(value)
    info["n_chips"] = int(ds.sizes["chip"])
    info["n_blocks"] = int(np.unique(ds["block"].values).size)
    return info


__all__ = [
    "MAKE_ONE",
    "MUST_MATCH",
    "PathOrPaths",
    "ancillary",
    "check_classes",
    "check_fits_model",
    "dataset_classes",
    "dataset_paths",
    "describe",
    "features",
    "images",
    "open_chip_dataset",
    "open_chip_datasets",
    "reference",
]
