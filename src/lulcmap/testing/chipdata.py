"""Test kit for chip datasets: a synthetic one in memory and a model that looks its answers up.

:func:`make_chip_dataset` builds, in memory, a dataset in the format ``lulcmap prepare`` writes
(see :mod:`lulcmap.chipdata.schema`) from given N2 fractions, with the chip's index encoded in
its image (band 0, pixels ``(0, 0)`` and ``(0, 1)``: high and low byte). :class:`LookupModel`
decodes it and returns the fractions it was given for that chip, so its output is known exactly:
the reference itself (a perfect model), or the reference plus a known shift.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from lulcmap.chipdata.schema import (
    BANDS,
    BLOCK_ID_BASE,
    DATASET_VERSION,
    VERSION_ATTR,
    variable,
)
from lulcmap.legend import Legend, load_legend
from lulcmap.model.card import AncillaryVar, InputSpec, ModelCard, Weights
from lulcmap.synthetic.constants import ANCILLARY_NAMES
from lulcmap.version import __version__

BLOCK_SIZE_M = (18_000.0, 15_000.0)
"""Block width and height, as in the paper."""
CRS = "EPSG:32612"


def block_bounds(block: int) -> tuple[float, float, float, float]:
    """``(left, bottom, right, top)`` of a block: cell ``(block_row, block_col)`` of the grid.

    Blocks are numbered as ``prepare`` numbers them (``block_row * BLOCK_ID_BASE + block_col``, the
    block grid anchored at the CRS origin), so blocks 0, 1, 2… lie side by side along the x axis.
    """
    row, col = divmod(int(block), BLOCK_ID_BASE)
    w, h = BLOCK_SIZE_M
    return col * w, row * h, (col + 1) * w, (row + 1) * h


def encode_index(images: np.ndarray) -> np.ndarray:
    """Write each chip's index into band 0, pixels (0, 0) and (0, 1) of ``(N, 3, S, S)`` uint8."""
    idx = np.arange(len(images))
    images[:, 0, 0, 0] = idx // 256
    images[:, 0, 0, 1] = idx % 256
    return images


def decode_index(images: torch.Tensor) -> torch.Tensor:
    """The chip indices :func:`encode_index` wrote."""
    return images[:, 0, 0, 0].long() * 256 + images[:, 0, 0, 1].long()


def random_fractions(
    n: int, *, alpha: float = 0.5, seed: int = 0, n_classes: int = 10, dtype: type = np.float64
) -> np.ndarray:
    """``n`` random class-fraction rows ``(n, n_classes)`` summing to 1: Dirichlet(``alpha``)
    (small ``alpha``: a few dominant classes per chip, as in real reference maps)."""
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(n_classes, alpha), size=n).astype(dtype)


def make_chip_dataset(
    n2: np.ndarray,
    *,
    blocks: Sequence[int] | np.ndarray | None = None,
    chip_size: int = 16,
    pixel_size_m: float = 10.0,
    ancillary: Sequence[str] = ANCILLARY_NAMES,
    legend: str | Legend = "sipna",
    unmapped_fraction: np.ndarray | None = None,
    seed: int = 0,
) -> xr.Dataset:
    """A chip dataset holding ``n2`` ``(n_chips, n_n2)`` reference fractions (N1 = their sums).

    ``blocks`` gives each chip's block id (default: all in block 0); chips lie inside their block
    (:func:`block_bounds`), side by side. Images are random but for the encoded chip index;
    ancillary values are random and named ``ancillary``.
    """
    lg = legend if isinstance(legend, Legend) else load_legend(legend)
    ref = np.asarray(n2, dtype=np.float32)
    n = len(ref)
    if n > 65536:
        raise ValueError("at most 65536 chips: the index is encoded in two bytes")
    rng = np.random.default_rng(seed)
    block = np.zeros(n, np.int32) if blocks is None else np.asarray(blocks, np.int32)
    images = encode_index(rng.integers(1, 256, (n, 3, chip_size, chip_size), dtype=np.uint8))
    size = chip_size * pixel_size_m
    per_row = int(BLOCK_SIZE_M[0] // size)
    seen: dict[int, int] = {}
    rank = np.empty(n, np.int64)
    for i, b in enumerate(block.tolist()):
        rank[i] = seen[b] = seen.get(b, -1) + 1
    bounds = np.array([block_bounds(b) for b in block], dtype=np.float64).reshape(n, 4)
    left = bounds[:, 0] + (rank % per_row) * size
    top = bounds[:, 3] - (rank // per_row) * size
    unmapped = np.zeros(n) if unmapped_fraction is None else np.asarray(unmapped_fraction)
    columns = {  # the schema's variables but those only prepare knows (scenes, offsets)
        "image": images,
        "ancillary": rng.normal(100, 30, (n, len(ancillary))),
        "n2": ref,
        "n1": lg.aggregate(ref, axis=1),
        "unmapped_fraction": unmapped,
        "valid_fraction": np.ones(n),
        "left": left,
        "bottom": top - size,
        "right": left + size,
        "top": top,
        "block": block,
        "block_row": block // BLOCK_ID_BASE,
        "block_col": block % BLOCK_ID_BASE,
    }
    return xr.Dataset(
        {name: variable(name, values) for name, values in columns.items()},
        coords={
            "band": list(BANDS),
            "variable": list(ancillary),
            "class_n1": lg.names("N1"),
            "class_n2": lg.names("N2"),
        },
        attrs={
            "legend": lg.id,
            "chip_size": chip_size,
            "pixel_size_m": pixel_size_m,
            "block_size_m": list(BLOCK_SIZE_M),
            "crs": CRS,
            "lulcmap_version": __version__,
            VERSION_ATTR: DATASET_VERSION,
        },
    )


def write_chip_dataset(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Store ``ds`` as ``prepare`` does (Zarr format 2, consolidated metadata), replacing
    ``path``; return its path."""
    ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True)
    return Path(path)


def lookup_card(
    *,
    chip_size: int = 16,
    ancillary: Sequence[str] = ANCILLARY_NAMES,
    levels: Sequence[str] = ("N1", "N2"),
    training: dict[str, object] | None = None,
) -> ModelCard:
    """A card for :class:`LookupModel` (its weights file is never read)."""
    return ModelCard(
        id="lookup",
        version="0",
        description="lulcmap.testing.LookupModel",
        levels=tuple(levels),
        input=InputSpec(chip_size=chip_size),
        ancillary=tuple(AncillaryVar(name=a) for a in ancillary),
        weights=Weights(file="-", sha256="0" * 64),
        training=dict(training or {}),
    )


class LookupModel:
    """Returns ``fractions[i]`` for the chip whose image encodes index ``i``.

    Build it with the dataset's own reference (a perfect model) or a shifted copy. The ancillary
    tensors it was fed are kept in :attr:`seen_ancillary`.
    """

    def __init__(self, fractions: np.ndarray, card: ModelCard | None = None) -> None:
        self.fractions = torch.as_tensor(np.asarray(fractions, np.float32))
        self.card = card if card is not None else lookup_card()
        self.device = torch.device("cpu")
        self.seen_ancillary: list[torch.Tensor] = []

    def __call__(self, images: torch.Tensor, ancillary: torch.Tensor) -> torch.Tensor:
        self.seen_ancillary.append(ancillary.cpu())
        return self.fractions[decode_index(images.cpu())]


__all__ = [
    "BLOCK_SIZE_M",
    "CRS",
    "LookupModel",
    "block_bounds",
    "decode_index",
    "encode_index",
    "lookup_card",
    "make_chip_dataset",
    "random_fractions",
    "write_chip_dataset",
]
