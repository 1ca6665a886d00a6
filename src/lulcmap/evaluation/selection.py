"""Which chips are evaluated, and which chips the training-mean baseline averages.

Evaluated chips:

* ``split="test"`` (the default): the held-out blocks the model card records,
  ``training.split.test_blocks``. When the card also records ``training.split.block_bounds``
  (``{block id: [left, bottom, right, top]}`` in the dataset's CRS, or a list aligned with
  ``test_blocks``), every chip of those blocks must have its centre inside them: block ids only
  mean something on the dataset the model was split on, and this catches another dataset.
* ``split="all"``: every chip.
* ``blocks=[3, 7, 12]``: the chips of these blocks.

Baseline chips (the training mean is their mean reference), the first that applies:

1. ``train_blocks`` given: the chips of these blocks;
2. the card's ``training.split.train_blocks``, if this dataset has chips in them;
3. the chips that are not evaluated;
4. the evaluated chips themselves (``split="all"`` with nothing else known): an *in-sample*
   mean, the best constant predictor of these chips, so the baseline is flattered, never the
   model; the report says so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr
from pyproj import CRS
from pyproj.exceptions import CRSError

from lulcmap.errors import ConfigError, InputDataError
from lulcmap.model.card import ModelCard

log = logging.getLogger(__name__)

SPLITS = ("test", "all")


@dataclass(frozen=True, eq=False)
class Selection:
    evaluated: np.ndarray
    """Boolean mask over the dataset's chips: the chips evaluated."""
    baseline: np.ndarray
    """Boolean mask: the chips whose mean reference is the baseline's prediction."""
    split: str
    """``test``, ``all`` or ``blocks``."""
    blocks: tuple[int, ...] | None
    """The evaluated blocks (None: every chip)."""
    baseline_blocks: tuple[int, ...]
    baseline_source: str
    """``train_blocks``, ``card``, ``complement`` or ``in_sample``."""

    @property
    def in_sample_baseline(self) -> bool:
        return self.baseline_source == "in_sample"

    def describe(self) -> dict[str, object]:
        return {
            "split": self.split,
            "blocks": list(self.blocks) if self.blocks is not None else None,
            "n_evaluated": int(self.evaluated.sum()),
            "baseline_source": self.baseline_source,
            "baseline_blocks": list(self.baseline_blocks),
            "n_baseline": int(self.baseline.sum()),
        }


def parse_blocks(text: str | None, option: str = "--blocks") -> tuple[int, ...] | None:
    """``"3,7,12"`` -> ``(3, 7, 12)``; None or empty -> None."""
    if text is None or not text.strip():
        return None
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(
            f"{option} must be comma-separated block ids such as 3,7,12, got {text!r}"
        ) from None


def _card_split(card: ModelCard | None) -> Mapping[str, object] | None:
    split = card.training.get("split") if card is not None else None
    return split if isinstance(split, Mapping) else None


def _ids(value: object, what: str) -> tuple[int, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise InputDataError(f"{what} must be a list of block ids, got {value!r}")
    return tuple(int(v) for v in value)


def _block_list(ids: np.ndarray, limit: int = 20) -> str:
    shown = ", ".join(str(b) for b in ids[:limit])
    return shown + (f", … ({len(ids)} in all)" if len(ids) > limit else "")


def _bounds_by_block(split: Mapping[str, object], test_blocks: tuple[int, ...]) -> dict[int, list]:
    raw = split.get("block_bounds")
    if raw is None:
        return {}
    if isinstance(raw, Mapping):
        return {int(k): list(v) for k, v in raw.items()}
    if isinstance(raw, Sequence) and len(raw) == len(test_blocks):
        return {b: list(v) for b, v in zip(test_blocks, raw, strict=True)}
    raise InputDataError(
        "the card's training.split.block_bounds must map block ids to [left, bottom, right, "
        f"top], or list one such box per test block; got {raw!r}"
    )


def _same_crs(a: object, b: object) -> bool:
    try:
        return bool(CRS.from_user_input(a) == CRS.from_user_input(b))
    except CRSError:
        return str(a) == str(b)


def _recheck(
    ds: xr.Dataset, card: ModelCard, split: Mapping[str, object], blocks: tuple[int, ...]
) -> None:
    """Chips of the card's test blocks must lie inside the bounds the card records for them."""
    crs = split.get("crs")
    if crs is not None and ds.attrs.get("crs") is not None and not _same_crs(crs, ds.attrs["crs"]):
        raise InputDataError(
            f"model {card.id} was split on blocks in CRS {crs} but the dataset is in "
            f"{ds.attrs['crs']}; evaluate on the dataset the model was trained on, or use "
            "--split all or --blocks"
        )
    bounds = _bounds_by_block(split, blocks)
    if not bounds:
        log.info("card %s records no block_bounds; test blocks are not re-checked", card.id)
        return
    block = ds["block"].values
    cx = (ds["left"].values + ds["right"].values) / 2
    cy = (ds["bottom"].values + ds["top"].values) / 2
    for b in blocks:
        if b not in bounds:
            continue
        left, bottom, right, top = (float(v) for v in bounds[b])
        tol = 1e-6 * max(right - left, top - bottom, 1.0)
        mine = block == b
        inside = (cx >= left - tol) & (cx <= right + tol) & (cy >= bottom - tol) & (cy <= top + tol)
        outside = int(np.sum(mine & ~inside))
        if outside:
            raise InputDataError(
                f"{outside} chips of block {b} lie outside the bounds model {card.id}'s card "
                f"records for it ({left:g}, {bottom:g}, {right:g}, {top:g}): this dataset's "
                "blocks are not the ones the model was tested on; evaluate on its training "
                "dataset, or use --split all or --blocks"
            )


def _test_blocks(ds: xr.Dataset, card: ModelCard | None) -> tuple[int, ...]:
    split = _card_split(card)
    if card is None or split is None or "test_blocks" not in split:
        who = f"model {card.id}'s card" if card is not None else "no model card"
        raise ConfigError(
            f"{who} records no held-out blocks (training.split.test_blocks); "
            "use --split all, or --blocks 3,7,12 to name the blocks to evaluate"
        )
    blocks = _ids(split["test_blocks"], "the card's training.split.test_blocks")
    present = np.unique(ds["block"].values)
    absent = [b for b in blocks if b not in present]
    if len(absent) == len(blocks):
        raise InputDataError(
            f"none of model {card.id}'s test blocks ({', '.join(map(str, blocks))}) are in the "
            f"dataset (its blocks: {_block_list(present)}); evaluate on the dataset the model "
            "was trained on, or use --split all or --blocks"
        )
    if absent:
        log.warning("test blocks %s of model %s are not in the dataset", absent, card.id)
    _recheck(ds, card, split, blocks)
    return blocks


def _baseline(
    block: np.ndarray,
    evaluated: np.ndarray,
    card: ModelCard | None,
    train_blocks: Sequence[int] | None,
) -> tuple[np.ndarray, str]:
    if train_blocks is not None:
        mask = np.isin(block, list(train_blocks))
        if not mask.any():
            raise ConfigError(
                f"--train-blocks {','.join(map(str, train_blocks))} have no chips in the "
                f"dataset (its blocks: {_block_list(np.unique(block))})"
            )
        return mask, "train_blocks"
    split = _card_split(card)
    if split is not None and "train_blocks" in split:
        mask = np.isin(block, list(_ids(split["train_blocks"], "training.split.train_blocks")))
        if mask.any():
            return mask, "card"
        log.warning("the card's training blocks are not in this dataset; baseline from others")
    if (~evaluated).any():
        return ~evaluated, "complement"
    return evaluated.copy(), "in_sample"


def select_chips(
    ds: xr.Dataset,
    card: ModelCard | None = None,
    *,
    split: str | None = None,
    blocks: Sequence[int] | None = None,
    train_blocks: Sequence[int] | None = None,
) -> Selection:
    """The evaluated and the baseline chips of ``ds`` (see the module docstring)."""
    block = np.asarray(ds["block"].values, dtype=np.int64)
    if blocks is not None:
        if split not in (None, "blocks"):
            raise ConfigError(f"give either --split {split} or --blocks, not both")
        named = tuple(int(b) for b in blocks)
        present = set(block.tolist())
        unknown = [b for b in named if b not in present]
        if unknown:
            raise ConfigError(
                f"blocks {', '.join(map(str, unknown))} are not in the dataset "
                f"(its blocks: {_block_list(np.unique(block))})"
            )
        chosen: tuple[int, ...] | None = named
        kind = "blocks"
    elif split in (None, "test"):
        chosen, kind = _test_blocks(ds, card), "test"
    elif split == "all":
        chosen, kind = None, "all"
    else:
        raise ConfigError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    evaluated = np.ones(block.shape, bool) if chosen is None else np.isin(block, list(chosen))
    if not evaluated.any():
        raise InputDataError("no chips selected for evaluation; check --split and --blocks")
    baseline, source = _baseline(block, evaluated, card, train_blocks)
    return Selection(
        evaluated=evaluated,
        baseline=baseline,
        split=kind,
        blocks=chosen,
        baseline_blocks=tuple(int(b) for b in np.unique(block[baseline])),
        baseline_source=source,
    )


__all__ = ["SPLITS", "Selection", "parse_blocks", "select_chips"]
