"""The spatial block split of a chip dataset: test, validation and training blocks.

Chips belong to the block of their centre (see :mod:`lulcmap.chipdata.schema`). Among the blocks
that hold usable chips, ``test_fraction`` of them (at least one, drawn with the seed) are held out
for testing, or the blocks named; ``val_fraction`` of the rest (at least one, when asked for), or
the blocks named, select the best checkpoint; the others are trained on.

Chips prepared with a stride under the chip size overlap, and a chip near a block's edge reaches
into the next block. So that no pixel is both trained on and tested on, a validation chip whose
footprint overlaps (with positive area) any chip of a test block is dropped, and a training chip
that overlaps any chip of a test block or a validation chip is dropped; both counts are kept.
With a stride equal to the chip size, chips only share edges and nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
import xarray as xr
from rasterio.crs import CRS
from rasterio.errors import CRSError

from lulcmap.chipdata.schema import BLOCK_ID_BASE
from lulcmap.errors import ConfigError, InputDataError


@dataclass(frozen=True, eq=False)
class BlockSplit:
    """Blocks of each part, and the chips (indices into the dataset) trained and validated on."""

    test_blocks: tuple[int, ...]
    val_blocks: tuple[int, ...]
    train_blocks: tuple[int, ...]
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    """Usable chips of the test blocks (what the held-out metrics are computed on)."""
    dropped_overlap: dict[str, int]
    """Training and validation chips left out because they overlap held-out chips."""


def footprints(ds: xr.Dataset, chips: np.ndarray | None = None) -> np.ndarray:
    """``(n, 4)`` chip footprints ``left, bottom, right, top`` (all chips, or ``chips``)."""
    cols = [np.asarray(ds[k].values, np.float64) for k in ("left", "bottom", "right", "top")]
    fp = np.stack(cols, axis=1)
    return fp if chips is None else fp[chips]


def overlapping(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Mask over ``boxes`` ``(n, 4)``: those overlapping any of ``others`` with positive area."""
    hit = np.zeros(len(boxes), bool)
    if not len(boxes) or not len(others):
        return hit
    tree = shapely.STRtree(shapely.box(*others.T))
    i, j = tree.query(shapely.box(*boxes.T), predicate="intersects")
    a, b = boxes[i], others[j]
    tol = 1e-9 * float(np.max(boxes[:, 2] - boxes[:, 0]))
    w = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    h = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    hit[np.unique(i[(w > tol) & (h > tol)])] = True
    return hit


def _too_few(ds: xr.Dataset, n_chips: int, n_blocks: int, why: str) -> InputDataError:
    w, h = (float(v) for v in ds.attrs.get("block_size_m", (18000.0, 15000.0)))
    return InputDataError(
        f"the chip dataset has {n_chips} usable chips in {n_blocks} spatial blocks of "
        f"{w:g} x {h:g} m: too few for a split by blocks ({why}); prepare it again with a smaller "
        f"--block-size (e.g. --block-size {w / 2:g}x{h / 2:g}), or name the held-out blocks with "
        "--test-blocks"
    )


def choose_blocks(
    blocks: Sequence[int],
    *,
    test_fraction: float,
    val_fraction: float,
    test_blocks: Sequence[int] | None,
    seed: int,
    val_blocks: Sequence[int] | None = None,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """``(test, val, train)`` blocks of ``blocks``; raises ValueError(why) when a part is empty."""
    pool = sorted(int(b) for b in blocks)
    rng = np.random.default_rng(seed)
    if test_blocks is not None:
        test = sorted({int(b) for b in test_blocks})
    else:
        n_test = max(1, round(test_fraction * len(pool)))
        if n_test >= len(pool):
            raise ValueError(f"{n_test} test block(s) would leave no block to train on")
        test = sorted(int(b) for b in rng.choice(pool, n_test, replace=False))
    rest = [b for b in pool if b not in test]
    if val_blocks is not None:
        val = sorted({int(b) for b in val_blocks} - set(test))
        n_val = len(val)
    else:
        n_val = max(1, round(val_fraction * len(rest))) if val_fraction > 0 else 0
    if len(rest) - n_val < 1:
        what = f"{len(rest)} block(s) left after the test blocks, {n_val} needed for validation"
        raise ValueError(f"{what} and at least one for training")
    if val_blocks is None:
        val = sorted(int(b) for b in rng.choice(rest, n_val, replace=False)) if n_val else []
    train = [b for b in rest if b not in val]
    return tuple(test), tuple(val), tuple(train)


def split_chips(
    ds: xr.Dataset,
    usable: np.ndarray,
    *,
    test_fraction: float = 0.2,
    val_fraction: float = 0.2,
    test_blocks: Sequence[int] | None = None,
    seed: int = 0,
    val_blocks: Sequence[int] | None = None,
) -> BlockSplit:
    """Split the ``usable`` chips (a mask over ``ds``'s chips) by blocks (module docstring)."""
    block = np.asarray(ds["block"].values, np.int64)
    pool = np.unique(block[usable])
    for option, named in (("--test-blocks", test_blocks), ("--val-blocks", val_blocks)):
        unknown = sorted({int(b) for b in named or ()} - set(pool.tolist()))
        if unknown:
            shown = ", ".join(map(str, pool[:30].tolist())) + (" …" if len(pool) > 30 else "")
            raise ConfigError(
                f"{option} {', '.join(map(str, unknown))} hold no usable chip of the "
                f"dataset; its blocks with usable chips are {shown}"
            )
    try:
        test_b, val_b, train_b = choose_blocks(
            pool.tolist(),
            test_fraction=test_fraction,
            val_fraction=val_fraction,
            test_blocks=test_blocks,
            seed=seed,
            val_blocks=val_blocks,
        )
    except ValueError as exc:
        raise _too_few(ds, int(usable.sum()), len(pool), str(exc)) from None
    fp = footprints(ds)
    in_test = np.isin(block, test_b)
    val = usable & np.isin(block, val_b)
    drop_val = val & overlapping(fp, fp[in_test])
    val &= ~drop_val
    train = usable & np.isin(block, train_b)
    drop_train = train & overlapping(fp, fp[in_test | val])
    train &= ~drop_train
    if not train.any() or (val_b and not val.any()):
        raise _too_few(
            ds,
            int(usable.sum()),
            len(pool),
            "every training or validation chip overlaps a held-out chip; use a stride equal "
            "to the chip size or larger blocks",
        )
    return BlockSplit(
        test_blocks=test_b,
        val_blocks=val_b,
        train_blocks=train_b,
        train=np.flatnonzero(train),
        val=np.flatnonzero(val),
        test=np.flatnonzero(usable & in_test),
        dropped_overlap={"train": int(drop_train.sum()), "val": int(drop_val.sum())},
    )


def _row_col(ds: xr.Dataset, block: int) -> tuple[int, int]:
    if "block_row" in ds and "block_col" in ds:
        mine = np.flatnonzero(np.asarray(ds["block"].values) == block)
        if mine.size:
            return int(ds["block_row"].values[mine[0]]), int(ds["block_col"].values[mine[0]])
    col = (block + BLOCK_ID_BASE // 2) % BLOCK_ID_BASE - BLOCK_ID_BASE // 2
    return (block - col) // BLOCK_ID_BASE, col


def block_bounds(ds: xr.Dataset, blocks: Sequence[int]) -> dict[int, list[float]]:
    """``{block: [left, bottom, right, top]}`` in the dataset's CRS units."""
    w, h = (float(v) for v in ds.attrs.get("block_size_m", (18000.0, 15000.0)))
    try:
        unit = float(CRS.from_user_input(ds.attrs["crs"]).linear_units_factor[1])
    except (KeyError, CRSError):
        unit = 1.0
    w, h = w / unit, h / unit
    out = {}
    for b in blocks:
        row, col = _row_col(ds, int(b))
        out[int(b)] = [col * w, row * h, (col + 1) * w, (row + 1) * h]
    return out


def split_record(ds: xr.Dataset, split: BlockSplit) -> dict[str, object]:
    """The card's ``training.split``: what ``lulcmap evaluate --split test`` reads."""
    blocks = sorted({*split.test_blocks, *split.val_blocks, *split.train_blocks})
    return {
        "test_blocks": list(split.test_blocks),
        "val_blocks": list(split.val_blocks),
        "train_blocks": list(split.train_blocks),
        "block_bounds": block_bounds(ds, blocks),
        "crs": ds.attrs.get("crs"),
        "block_size_m": [float(v) for v in ds.attrs.get("block_size_m", (18000.0, 15000.0))],
        "block_id": f"block_row * {BLOCK_ID_BASE} + block_col, by chip centre",
    }


__all__ = [
    "BlockSplit",
    "block_bounds",
    "choose_blocks",
    "footprints",
    "overlapping",
    "split_chips",
    "split_record",
]
