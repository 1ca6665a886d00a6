"""``evaluate``: a model over a chip dataset's selected chips, against their reference fractions.

run_evaluate =
    require_matplotlib  fail before any work if the plots cannot be drawn
    card, ds            resolve the model card, open the chip dataset
    selection           the evaluated chips and the baseline's chips (selection.py)
    check               chip size, classes and ancillary variables fit the model
    model               load the weights (hash-checked); a pixel-encoder model's head alone, on
                        the features the dataset stores (``prepare --backbone presto``)
    result              run the model in batches; metrics per level, model and baseline
    write               report.md, metrics.json, scatter_<level>.png, all or nothing
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from lulcmap.chipdata import reader as dsio
from lulcmap.chipdata.schema import FEATURES_ATTR
from lulcmap.errors import ConfigError, InputDataError, ModelCardError
from lulcmap.evaluation.metrics import baseline_prediction, level_metrics
from lulcmap.evaluation.result import EvaluationResult
from lulcmap.evaluation.selection import select_chips
from lulcmap.io.writers import check_outputs_free
from lulcmap.legend import LEVELS, Legend, derived_levels
from lulcmap.model.card import ModelCard
from lulcmap.model.pixel import FeatureHead, feature_size, load_head
from lulcmap.model.registry import load_chip_model, resolve_card
from lulcmap.model.runtime import Batch, CardedModel, resolve_device, run_options, run_rows
from lulcmap.resources import short_path

log = logging.getLogger(__name__)

Chips = np.ndarray | Sequence[int] | None
"""A boolean mask over the dataset's chips, chip indices, or None for every chip."""


def _levels(output_level: str, levels: Sequence[str] | None) -> tuple[str, ...]:
    available = derived_levels(output_level)
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
    out = legend.levels_from(values, level, axis=1)
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
    model: CardedModel | FeatureHead,
    chips: np.ndarray,
    *,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """The model's fractions ``(len(chips), n_classes)`` for chip indices ``chips``, in batches
    through the model runtime, one call at a time (on ``device``, default: the model's)."""
    card = model.card
    dev = torch.device(device if device is not None else getattr(model, "device", "cpu"))
    step = max(1, int(batch_size))

    def batches() -> Iterator[Batch]:
        for start in range(0, len(chips), step):
            rows = chips[start : start + step]
            key = np.arange(start, start + len(rows))
            if card.kind == "pixel_encoder":  # the head on the stored encoder features
                yield Batch((dsio.features(ds, rows),), key=key)
                continue
            images = dsio.images(ds, rows)
            anc = dsio.ancillary(ds, card.ancillary_names, rows)
            yield Batch((images, anc), key=key)

    return run_rows(
        model,
        batches(),
        n_rows=len(chips),
        n_outputs=card.n_classes,
        options=run_options(model, str(dev), workers=1),
        on_progress=on_progress,
    )


def check_features(ds: xr.Dataset, card: ModelCard) -> None:
    """A pixel-encoder card against the features ``ds`` stores: same encoder (sha256), lattice
    and feature kind, or a one-line error saying how to make matching ones."""
    name = ds.encoding.get("source", "the chip dataset")
    enc, head = card.encoder, card.head
    if enc is None or head is None:
        return
    if head.kind != "mlp":
        raise ModelCardError(
            f"model {card.id} is zero-shot (head.kind {head.kind}): it has no head to run on "
            "stored features; map a scene with `lulcmap predict` instead"
        )
    info = ds.attrs.get(FEATURES_ATTR)
    if "features" not in ds.variables or not isinstance(info, dict):
        raise ModelCardError(
            f"{name} holds no encoder features, which pixel-encoder model {card.id} needs; "
            f"prepare it with `lulcmap prepare --backbone presto --features {enc.features}`"
        )
    got = {
        "encoder sha256": info.get("encoder_sha256"),
        "pixels_per_cell": info.get("pixels_per_cell"),
        "features": info.get("features"),
        "feature size": int(ds.sizes.get("feature", 0)),
    }
    want = {
        "encoder sha256": enc.weights.sha256,
        "pixels_per_cell": enc.pixels_per_cell,
        "features": enc.features,
        "feature size": feature_size(enc.features),
    }
    bad = [k for k in want if got[k] != want[k]]
    if bad:
        raise ModelCardError(
            f"{name}'s features differ from model {card.id}'s in "
            + ", ".join(f"{k} ({got[k]} vs {want[k]})" for k in bad)
            + f"; prepare it with --backbone presto --pixels-per-cell {enc.pixels_per_cell} "
            f"--features {enc.features}"
        )


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
    model: CardedModel | FeatureHead,
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
    check_features(dataset, card)
    n = int(dataset.sizes["chip"])
    idx, excluded = _with_reference(dataset, card.output_level, _indices(chips, n))
    idx, no_ancillary = _with_ancillary(dataset, card.ancillary_names, idx)
    if card.kind == "pixel_encoder":  # no features: no valid lattice pixel or DEM value
        ok = np.isfinite(dsio.features(dataset, idx)).all(axis=1)
        idx, no_ancillary = idx[ok], no_ancillary + int(np.sum(~ok))
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
    check_outputs_free([Path(out) / n for n in output_names(card.map_levels)], overwrite)
    ds = dsio.open_chip_datasets(dataset)
    dsio.check_fits_model(ds, card, card.map_levels)
    check_features(ds, card)
    selection = select_chips(ds, card, split=split, blocks=blocks, train_blocks=train_blocks)
    dev = resolve_device(device)
    net: CardedModel | FeatureHead
    if isinstance(model, CardedModel):
        net = model
    elif card.kind == "pixel_encoder":
        net = FeatureHead(card, load_head(card).to(dev), torch.device(dev))
    else:
        net = load_chip_model(card, device=dev, command="`lulcmap evaluate`")
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
    "check_features",
    "evaluate_arrays",
    "evaluate_model",
    "output_names",
    "predict_chips",
    "run_evaluate",
]
