"""The chip dataset ``lulcmap prepare`` writes and ``lulcmap train``/``evaluate`` read (Zarr).

Format version 1, readable with ``xarray.open_zarr`` (Zarr format 2, consolidated metadata).

Dimensions: ``chip``; ``band`` (3: red, green, blue); ``y``, ``x`` (``chip_size``);
``class_n1``, ``class_n2``; ``variable`` (ancillary variables).

=====================  ==========================  =========  ===================================
variable               dims                        dtype      meaning
=====================  ==========================  =========  ===================================
``image``              chip, band, y, x            uint8      RGB chip exactly as ``predict``
                                                              feeds it (card radiometry, 0 = no
                                                              data, mirrored if the scene is
                                                              smaller than a chip)
``ancillary``          chip, variable              float32    footprint means; NaN where missing
``n2``                 chip, class_n2              float32    N2 fractions of the *mapped* area:
                                                              ``n2_area / (1 - unmapped)``
``n1``                 chip, class_n1              float32    legend sum of ``n2``
``n2_area``            chip, class_n2              float32    N2 fractions of the footprint
``unmapped_fraction``  chip                        float32    footprint share that is unmapped,
                                                              no data or off the reference;
                                                              ``n2_area.sum() + unmapped == 1``
``valid_fraction``     chip                        float32    valid scene pixels in the chip
``left`` ... ``top``   chip                        float64    footprint in the scenes' CRS
``row_off, col_off``   chip                        int32      chip window in its scene
``scene_index``        chip                        int16      index into ``attrs["scenes"]``
``block``              chip                        int32      ``block_row * 65536 + block_col``
``block_row``          chip                        int32      ``floor(y_centre / block_height)``
``block_col``          chip                        int32      ``floor(x_centre / block_width)``
=====================  ==========================  =========  ===================================

Coordinates: ``band``, ``class_n1``, ``class_n2``, ``variable`` (names). Blocks are the cells
``[col * w, (col + 1) * w) x [row * h, (row + 1) * h)`` of a grid anchored at the CRS origin
(``w, h = attrs["block_size_m"]`` in metres), so block ids are stable across datasets in one CRS;
a chip belongs to the block of its centre. Chips are written in order of scene, then chip row,
then column, ``CHUNK_CHIPS`` at a time (appended along ``chip``).
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

from lulcmap.errors import ConfigError
from lulcmap.legend import Legend

log = logging.getLogger(__name__)

DATASET_VERSION = 1
CHUNK_CHIPS = 256
"""Chips per Zarr chunk (and per append): 256 RGB chips of 224 px are 38.5 MB."""
BANDS = ("red", "green", "blue")
BLOCK_ID_BASE = 65536
"""``block = block_row * BLOCK_ID_BASE + block_col``; unique while both fit in int16."""


@dataclass(frozen=True)
class ChipBatch:
    """Per-chip arrays of a few chips (first axis: chip), as :func:`chip_dataset` stores them."""

    image: np.ndarray  # (n, 3, s, s) uint8
    ancillary: np.ndarray  # (n, v)
    n2_area: np.ndarray  # (n, n2)
    unmapped: np.ndarray  # (n,)
    valid: np.ndarray  # (n,)
    bounds: np.ndarray  # (n, 4) left, bottom, right, top
    row_off: np.ndarray  # (n,)
    col_off: np.ndarray  # (n,)
    scene_index: int

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
    """The dataset of one batch of chips, in the format above."""
    mapped = batch.n2_area.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        n2 = np.where(mapped > 0, batch.n2_area / mapped, np.nan)
    block, row, col = block_indices(batch.bounds, block_size)
    chip = ("chip",)
    data_vars: dict[str, tuple[tuple[str, ...], np.ndarray]] = {
        "image": (("chip", "band", "y", "x"), batch.image.astype(np.uint8, copy=False)),
        "ancillary": (("chip", "variable"), batch.ancillary.astype(np.float32)),
        "n2": (("chip", "class_n2"), n2.astype(np.float32)),
        "n1": (("chip", "class_n1"), legend.aggregate(n2, axis=1).astype(np.float32)),
        "n2_area": (("chip", "class_n2"), batch.n2_area.astype(np.float32)),
        "unmapped_fraction": (chip, batch.unmapped.astype(np.float32)),
        "valid_fraction": (chip, batch.valid.astype(np.float32)),
        **{
            name: (chip, batch.bounds[:, i].astype(np.float64))
            for i, name in enumerate(("left", "bottom", "right", "top"))
        },
        "row_off": (chip, batch.row_off.astype(np.int32)),
        "col_off": (chip, batch.col_off.astype(np.int32)),
        "scene_index": (chip, np.full(len(batch), batch.scene_index, dtype=np.int16)),
        "block": (chip, block),
        "block_row": (chip, row),
        "block_col": (chip, col),
    }
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
        self.path, self.attrs = path, json.loads(json.dumps(attrs))  # JSON-serialisable or fail
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
    "BANDS",
    "BLOCK_ID_BASE",
    "CHUNK_CHIPS",
    "DATASET_VERSION",
    "ChipBatch",
    "DatasetWriter",
    "block_indices",
    "chip_dataset",
]
