"""Whether a path is a lulcmap product, so ``--overwrite`` replaces only what lulcmap wrote.

A product is recognised by the mark lulcmap leaves in it: a COG's ``lulcmap_version`` tag (or the
synthetic world's tag), a Zarr store's ``lulcmap_version`` or chip-dataset version attribute, a
JSON record with ``lulcmap_version``, a model card, a chip table CSV
(the original workflow's format, ``filename`` first). Outputs that carry no mark of their own (the
GeoParquet table, CSVs, plots, reports, safetensors) count as ours when an output of the same set
is marked. A folder is ours when it is a marked Zarr store or directly holds a marked file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import yaml

from lulcmap.chipdata.schema import VERSION_ATTR

MARKS = ("lulcmap_version", VERSION_ATTR, "LULCMAP_SYNTHETIC_WORLD")
"""Attribute, tag or key names whose presence says lulcmap wrote a file."""
ZARR_METADATA = (".zattrs", ".zmetadata", "zarr.json")
UNMARKED = (".parquet", ".csv", ".png", ".md", ".safetensors", ".json")
"""Kinds of output that may carry no mark; ours only beside a marked output of the same set."""
_MAX_TEXT = 50 << 20
_MAX_ENTRIES = 1000


def _marked_raster(path: Path) -> bool:
    import rasterio

    try:
        with rasterio.open(path) as ds:
            return any(mark in ds.tags() for mark in MARKS)
    except Exception:  # not a raster: not ours
        return False


def _marked_text(path: Path) -> bool:
    if path.stat().st_size > _MAX_TEXT:
        return False
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, ValueError):
        return False
    if not isinstance(data, dict):
        return False
    if any(mark in data for mark in MARKS):
        return True
    return {"id", "version", "levels", "weights"} <= set(data)  # a model card


def _marked_zarr(path: Path) -> bool:
    for name in ZARR_METADATA:
        meta = path / name
        if meta.is_file() and meta.stat().st_size <= _MAX_TEXT:
            try:
                text = json.dumps(json.loads(meta.read_text("utf-8")))
            except (ValueError, UnicodeDecodeError):
                continue
            if any(f'"{mark}"' in text for mark in MARKS):
                return True
    return False


def is_marked(path: Path) -> bool:
    """Whether ``path`` carries lulcmap's mark itself (see the module docstring)."""
    if path.is_symlink():
        return False
    if path.is_dir():
        if _marked_zarr(path):
            return True
        entries = sorted(path.iterdir())[:_MAX_ENTRIES]
        return any(e.is_file() and not e.is_symlink() and _marked_file(e) for e in entries)
    return path.is_file() and _marked_file(path)


def _marked_file(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        return _marked_raster(path)
    if suffix in (".json", ".yaml", ".yml"):
        return _marked_text(path)
    if suffix == ".csv":  # the original workflow's tables: a `filename` column first
        with path.open("rb") as f:
            return f.readline(4096).startswith(b"filename,")
    return False


def describe(path: Path) -> str:
    """What is at ``path``, in a few words, for an error message."""
    if path.is_symlink():
        return f"a link to {path.readlink()}"
    if path.is_dir():
        names = sorted(p.name for p in path.iterdir())
        shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
        return f"a folder of {len(names)} entries ({shown})" if names else "an empty folder"
    return f"a file of {path.stat().st_size} bytes"


def foreign(found: Iterable[Path]) -> list[Path]:
    """The paths among ``found`` (one output set) that lulcmap did not write."""
    found = list(found)
    marked = {p for p in found if is_marked(p)}
    return [
        p
        for p in found
        if p not in marked
        and not (marked and p.is_file() and not p.is_symlink() and p.suffix.lower() in UNMARKED)
    ]


__all__ = ["MARKS", "describe", "foreign", "is_marked"]
