"""Writing a chip dataset (``lulcmap prepare``), in the format of :mod:`lulcmap.chipdata.schema`.

Chips are appended along ``chip`` ``CHUNK_CHIPS`` at a time, in order of scene, then chip row,
then column.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

from lulcmap.chipdata.schema import (
    BANDS,
    BLOCK_ID_BASE,
    BOUNDS,
    DATASET_VERSION,
    VERSION_ATTR,
    variable,
)
from lulcmap.errors import ConfigError
from lulcmap.legend import Legend

log = logging.getLogger(__name__)

CHUNK_CHIPS = 256
"""Chips per Zarr chunk (and per append): 256 RGB chips of 224 px are 38.5 MB."""


@dataclass(frozen=True)
class ChipBatch:
    """Per-chip arrays of a few chips (first axis: chip), as :func:`chip_dataset` stores them.

    The writer holds these arrays (not copies) until it writes them: give it fresh arrays.
    """

    image: np.ndarray  # (n, 3, s, s) uint8
    ancillary: np.ndarray  # (n, v)
    n2_area: np.ndarray  # (n, n2)
    unmapped: np.ndarray  # (n,)
    valid: np.ndarray  # (n,)
    bounds: np.ndarray  # (n, 4) left, bottom, right, top
    row_off: np.ndarray  # (n,)
    col_off: np.ndarray  # (n,)
    scene_index: int
    features: np.ndarray | None = None  # (n, f): the encoder's features, if asked for

    def __len__(self) -> int:
        return len(self.image)


def block_indices(
    bounds: np.ndarray, block_size: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(block, block_row, block_col)`` of footprints ``(n, 4)``; ``block_size`` in CRS units."""
    cx = (bounds[:, 0] + bounds[:, 2]) / 2
    cy = (bounds[:, 1] + bounds[:, 3]) / 2
    col = np.floor(cx / block_size[0]).astype(np.int64)
    row = np.floor(cy / block_size[1]).astype(np.int64)
    limit = BLOCK_ID_BASE // 2
    if len(row) and (np.abs(row).max() >= limit or np.abs(col).max() >= limit):
        raise ConfigError(
            f"blocks of {block_size[0]:g} x {block_size[1]:g} CRS units give block indexes beyond "
            f"+-{limit} in this CRS; use larger blocks (--block-size)"
        )
    return (row * BLOCK_ID_BASE + col).astype(np.int32), row.astype(np.int32), col.astype(np.int32)


def chip_dataset(
    batch: ChipBatch, *, legend: Legend, variables: list[str], block_size: tuple[float, float]
) -> xr.Dataset:
    """The dataset of one batch of chips, each variable on its schema dims and in its dtype."""
    mapped = batch.n2_area.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        n2 = np.where(mapped > 0, batch.n2_area / mapped, np.nan)
    block, row, col = block_indices(batch.bounds, block_size)
    columns: dict[str, np.ndarray] = {
        "image": batch.image,
        "ancillary": batch.ancillary,
        "n2": n2,
        "n1": legend.aggregate(n2, axis=1),
        "n2_area": batch.n2_area,
        "unmapped_fraction": batch.unmapped,
        "valid_fraction": batch.valid,
        **{name: batch.bounds[:, i] for i, name in enumerate(BOUNDS)},
        "row_off": batch.row_off,
        "col_off": batch.col_off,
        "scene_index": np.full(len(batch), batch.scene_index),
        "block": block,
        "block_row": row,
        "block_col": col,
    }
    if batch.features is not None:
        columns["features"] = batch.features
    data_vars = {name: variable(name, values) for name, values in columns.items()}
    coords = {
        "band": np.array(BANDS),
        "class_n1": np.array(legend.names("N1")),
        "class_n2": np.array(legend.names("N2")),
        "variable": np.array(variables, dtype=str),
    }
    return xr.Dataset(data_vars, coords=coords)


class DatasetWriter:
    """Appends chips to a new Zarr store ``CHUNK_CHIPS`` at a time; memory: one chunk of chips."""

    def __init__(
        self,
        path: Path,
        *,
        attrs: dict[str, Any],
        legend: Legend,
        variables: list[str],
        block_size: tuple[float, float],
    ) -> None:
        # JSON-serialisable or fail; the format version is the schema's, whatever ``attrs`` says
        self.path = path
        self.attrs = {VERSION_ATTR: DATASET_VERSION, **json.loads(json.dumps(attrs))}
        self.attrs[VERSION_ATTR] = DATASET_VERSION
        self.legend, self.variables, self.block_size = legend, variables, block_size
        self._pending: list[xr.Dataset] = []
        self.n_written = 0
        self.blocks: set[int] = set()
        self.n2_sum = np.zeros(len(legend.n2))
        """Sum over chips of ``n2``: the class balance is ``n2_sum / n_chips``."""

    def add(self, batch: ChipBatch) -> None:
        if len(batch):
            ds = chip_dataset(
                batch, legend=self.legend, variables=self.variables, block_size=self.block_size
            )
            self._pending.append(ds)
            self.blocks.update(ds["block"].values.tolist())
            self.n2_sum += ds["n2"].values.sum(axis=0, dtype=np.float64)
        while sum(d.sizes["chip"] for d in self._pending) >= CHUNK_CHIPS:
            self._flush(CHUNK_CHIPS)

    def _flush(self, n: int) -> None:
        ds = xr.concat(self._pending, dim="chip") if len(self._pending) > 1 else self._pending[0]
        head, tail = ds.isel(chip=slice(0, n)), ds.isel(chip=slice(n, None))
        self._pending = [tail] if tail.sizes["chip"] else []
        if self.n_written == 0:
            head.attrs = self.attrs
            encoding = {
                name: {"_FillValue": None, "chunks": (CHUNK_CHIPS, *head[name].shape[1:])}
                for name in head.data_vars
            }
            head.to_zarr(self.path, mode="w-", zarr_format=2, consolidated=False, encoding=encoding)
        else:
            static = [c for c in head.coords if "chip" not in head[c].dims]
            head.drop_vars(static).to_zarr(
                self.path, append_dim="chip", zarr_format=2, consolidated=False
            )
        self.n_written += head.sizes["chip"]

    def close(self, summary: dict[str, Any]) -> int:
        """Write what is pending, add ``summary`` to the attributes, consolidate; chips written."""
        if self._pending:
            self._flush(sum(d.sizes["chip"] for d in self._pending))
        if self.n_written:
            group = zarr.open_group(str(self.path), mode="r+", zarr_format=2)
            # appends rewrite the group's attributes: set them all once, at the end
            group.attrs.put({**self.attrs, **json.loads(json.dumps(summary))})
            zarr.consolidate_metadata(str(self.path))
        log.debug("wrote %s (%d chips)", self.path, self.n_written)
        return self.n_written


__all__ = [
    "CHUNK_CHIPS",
    "ChipBatch",
    "DatasetWriter",
    "block_indices",
    "chip_dataset",
]
