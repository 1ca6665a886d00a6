"""``evaluate``: a model over a chip dataset's selected chips, against their reference fractions.

run_evaluate =
    require_matplotlib  fail before any work if the plots cannot be drawn
    card, ds            resolve the model card, open the chip dataset
    selection           the evaluated chips and the baseline's chips (selection.py)
    check               chip size, classes and ancillary variables fit the model
    model               load the weights (hash-checked)
    result              run the model in batches; metrics per level, model and baseline
    write               report.md, metrics.json, scatter_<level>.png, all or nothing
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from lulcmap import __version__
from lulcmap.errors import ConfigError, InputDataError, ModelCardError, OutputExistsError
from lulcmap.evaluation import dataset as dsio
from lulcmap.evaluation.metrics import LevelMetrics, baseline_prediction, level_metrics
from lulcmap.evaluation.selection import select_chips
from lulcmap.legend import LEVELS, Legend
from lulcmap.model.card import ModelCard
from lulcmap.model.registry import load_model, resolve_card
from lulcmap.pipeline import CardedModel, resolve_device
from lulcmap.resources import short_path

log = logging.getLogger(__name__)

Chips = np.ndarray | Sequence[int] | None
"""A boolean mask over the dataset's chips, chip indices, or None for every chip."""


@dataclass(frozen=True, eq=False)
class EvaluationResult:
    """Metrics per level for the model and the training-mean baseline, and the values behind them.

    ``reference`` and ``prediction`` are fractions ``(n_chips, n_classes)`` per level, for plots.
    """

    model: dict[str, LevelMetrics]
    baseline: dict[str, LevelMetrics] | None
    reference: dict[str, np.ndarray]
    prediction: dict[str, np.ndarray]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def levels(self) -> tuple[str, ...]:
        return tuple(self.model)

    def to_dict(self) -> dict[str, Any]:
        """What ``metrics.json`` holds (NaN written as null)."""
        levels = {
            lv: {
                "model": self.model[lv].to_dict(),
                "baseline": self.baseline[lv].to_dict() if self.baseline else None,
            }
            for lv in self.levels
        }
        return {"lulcmap_version": __version__, **self.info, "levels": levels}


def _levels(output_level: str, levels: Sequence[str] | None) -> tuple[str, ...]:
    available = LEVELS if output_level == "N2" else ("N1",)
    if levels is None:
        return available
    wanted = tuple(levels)
    bad = [lv for lv in wanted if lv not in available]
    if bad:
        raise ConfigError(
            f"levels {bad} cannot be evaluated for an {output_level} output; "
            f"choose among {list(available)}"
        )
    return tuple(lv for lv in LEVELS if lv in wanted)


def _by_level(values: np.ndarray, level: str, levels: tuple[str, ...], legend: Legend) -> dict:
    out = {level: values}
    if level == "N2" and "N1" in levels:
        out["N1"] = legend.aggregate(values, axis=1)
    return {lv: out[lv] for lv in levels}


def evaluate_arrays(
    reference: np.ndarray,
    prediction: np.ndarray,
    legend: Legend,
    level: str,
    *,
    baseline_reference: np.ndarray | None = None,
    levels: Sequence[str] | None = None,
    info: dict[str, Any] | None = None,
) -> EvaluationResult:
    """Metrics of predicted against reference fractions ``(n_chips, n_classes)`` at ``level``.

    N2 values also give N1 (their legend sums). ``baseline_reference`` (the reference fractions of
    the training chips at ``level``) adds the training-mean baseline on the same chips.
    """
    lv = _levels(level, levels)
    n = len(np.asarray(reference))
    ref = _by_level(np.asarray(reference, np.float64), level, lv, legend)
    pred = _by_level(np.asarray(prediction, np.float64), level, lv, legend)
    model = {k: level_metrics(ref[k], pred[k], legend.names(k), level=k) for k in lv}
    baseline = None
    if baseline_reference is not None:
        base = _by_level(baseline_prediction(baseline_reference, n), level, lv, legend)
        baseline = {k: level_metrics(ref[k], base[k], legend.names(k), level=k) for k in lv}
    return EvaluationResult(model, baseline, ref, pred, dict(info or {}))


def _indices(chips: Chips, n: int) -> np.ndarray:
    if chips is None:
        return np.arange(n)
    arr = np.asarray(chips)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise InputDataError(f"a chip mask must have one entry per chip ({n}), got {arr.shape}")
        return np.flatnonzero(arr)
    idx = np.unique(arr.astype(np.int64))
    if idx.size and (idx[0] < 0 or idx[-1] >= n):
        raise InputDataError(f"chip indices must lie in 0..{n - 1}")
    return idx


def _with_reference(ds: xr.Dataset, level: str, idx: np.ndarray) -> tuple[np.ndarray, int]:
    """The chips of ``idx`` that have a reference (finite, not all zero), and how many did not."""
    ref = dsio.reference(ds, level, idx)
    ok = np.isfinite(ref).all(axis=1) & (ref.sum(axis=1) > 0)
    return idx[ok], int(np.sum(~ok))


def _with_ancillary(ds: xr.Dataset, names: list[str], idx: np.ndarray) -> tuple[np.ndarray, int]:
    """The chips of ``idx`` whose ancillary values ``names`` are all finite, and how many not."""
    ok = np.isfinite(dsio.ancillary(ds, names, idx)).all(axis=1)
    return idx[ok], int(np.sum(~ok))


def predict_chips(
    ds: xr.Dataset,
    model: CardedModel,
    chips: np.ndarray,
    *,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """The model's fractions ``(len(chips), n_classes)`` for chip indices ``chips``, in batches."""
    card = model.card
    n_classes = len(card.get_legend().classes(card.output_level))
    dev = torch.device(device if device is not None else getattr(model, "device", "cpu"))
    out = np.empty((len(chips), n_classes), np.float64)
    step = max(1, int(batch_size))
    for start in range(0, len(chips), step):
        rows = chips[start : start + step]
        images = torch.from_numpy(dsio.images(ds, rows)).to(dev)
        anc = torch.from_numpy(dsio.ancillary(ds, card.ancillary_names, rows)).to(dev)
        with torch.inference_mode():
            values = model(images, anc).float().cpu().numpy()
        if values.shape != (len(rows), n_classes):
            raise ModelCardError(
                f"model {card.id} returned abundances of shape {values.shape} for {len(rows)} "
                f"chips but its card's legend and levels give {n_classes} classes; check "
                "`legend` and `levels` in the card"
            )
        out[start : start + len(rows)] = values
        if on_progress is not None:
            on_progress(start + len(rows), len(chips))
    return out


def _model_info(card: ModelCard) -> dict[str, Any]:
    return {
        "id": card.id,
        "version": card.version,
        "card": short_path(card.path) if card.path else None,
        "weights_sha256": card.weights.sha256,
        "output_level": card.output_level,
        "ancillary": card.ancillary_names,
    }


def evaluate_model(
    dataset: xr.Dataset,
    model: CardedModel,
    *,
    chips: Chips = None,
    baseline_chips: Chips = None,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    levels: Sequence[str] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> EvaluationResult:
    """Run ``model`` over the chips of ``dataset`` and score it against their reference.

    ``chips`` selects the evaluated chips (a mask or indices; None: all), ``baseline_chips`` the
    chips whose mean reference is the training-mean baseline (None: no baseline). Chips without
    a reference (non-finite or all-zero fractions, e.g. wholly unmapped) or missing (NaN) an
    ancillary value the model needs are left out and counted. Images and the ancillary variables
    the card names, in its order, are fed as ``predict`` feeds them; ``device`` is where the
    tensors go (default: the model's).
    """
    card = model.card
    lv = _levels(card.output_level, levels)
    dsio.check_fits_model(dataset, card, lv)
    n = int(dataset.sizes["chip"])
    idx, excluded = _with_reference(dataset, card.output_level, _indices(chips, n))
    idx, no_ancillary = _with_ancillary(dataset, card.ancillary_names, idx)
    if idx.size == 0:
        raise InputDataError(
            f"none of the {excluded + no_ancillary} selected chips has both a reference and "
            f"the ancillary values the model needs ({excluded} wholly unmapped, {no_ancillary} "
            "with missing ancillary values); select other chips"
        )
    if excluded or no_ancillary:
        log.warning(
            "%d selected chips have no reference and %d lack ancillary values; left out",
            excluded,
            no_ancillary,
        )
    prediction = predict_chips(
        dataset, model, idx, batch_size=batch_size, device=device, on_progress=on_progress
    )
    base_ref = None
    if baseline_chips is not None:
        base_idx, _ = _with_reference(dataset, card.output_level, _indices(baseline_chips, n))
        base_ref = dsio.reference(dataset, card.output_level, base_idx) if base_idx.size else None
    unmapped = (
        float(dataset["unmapped_fraction"].isel(chip=idx).mean())
        if "unmapped_fraction" in dataset
        else math.nan
    )
    info = {
        "dataset": dsio.describe(dataset),
        "model": _model_info(card),
        "counts": {
            "evaluated": int(idx.size),
            "excluded_no_reference": excluded,
            "excluded_no_ancillary": no_ancillary,
            "baseline_chips": len(base_ref) if base_ref is not None else 0,
            "mean_unmapped_fraction": unmapped if math.isfinite(unmapped) else None,
        },
    }
    return evaluate_arrays(
        dsio.reference(dataset, card.output_level, idx),
        prediction,
        card.get_legend(),
        card.output_level,
        baseline_reference=base_ref,
        levels=lv,
        info=info,
    )


def output_names(levels: Sequence[str]) -> list[str]:
    """Files an evaluation writes into its output folder."""
    return ["report.md", "metrics.json", *(f"scatter_{lv}.png" for lv in levels)]


def run_evaluate(
    dataset: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    model: str | Path | ModelCard | CardedModel,
    out: str | os.PathLike[str],
    split: str | None = None,
    blocks: Sequence[int] | None = None,
    train_blocks: Sequence[int] | None = None,
    batch_size: int = 64,
    device: str = "auto",
    overwrite: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[EvaluationResult, dict[str, Path]]:
    """The ``evaluate`` command: every check first, then the model, the metrics and the report."""
    from lulcmap.evaluation.report import require_matplotlib, write_report

    require_matplotlib()
    card = model.card if isinstance(model, CardedModel) else resolve_card(model)
    names = output_names(card.map_levels)
    existing = [n for n in names if (Path(out) / n).exists()]
    if existing and not overwrite:
        raise OutputExistsError(
            f"{out} already holds {', '.join(existing)}; pass --overwrite to replace them "
            "or choose another --out"
        )
    ds = dsio.open_chip_datasets(dataset)
    dsio.check_fits_model(ds, card, card.map_levels)
    selection = select_chips(ds, card, split=split, blocks=blocks, train_blocks=train_blocks)
    net = (
        model if isinstance(model, CardedModel) else load_model(card, device=resolve_device(device))
    )
    result = evaluate_model(
        ds,
        net,
        chips=selection.evaluated,
        baseline_chips=selection.baseline,
        batch_size=batch_size,
        on_progress=on_progress,
    )
    result.info["selection"] = selection.describe()
    paths = write_report(result, out, overwrite=overwrite)
    return result, paths


__all__ = [
    "EvaluationResult",
    "evaluate_arrays",
    "evaluate_model",
    "output_names",
    "predict_chips",
    "run_evaluate",
]
