"""``train --backbone presto``: an MLP head on the frozen Presto features a dataset stores.

train_head =
    dataset     open the chip dataset(s) (``lulcmap prepare --backbone presto``): features and
                how they were made (``attrs["features"]``)
    usable      as the chip CNN's (reference, unmapped share, the ``--ancillary`` values, so one
                seed gives the CNN's split), and finite features
    split       the CNN's seeded spatial block split (:mod:`lulcmap.training.split`)
    fit         the head (:func:`lulcmap.model.pixel.build_head`): Linear + ReLU per hidden
                width, softmax; MSE on the N2 fractions, Adam with per-step cosine decay, seeded
                batches; the epoch with the lowest validation MSE is kept (the CNN's rule).
                Inputs are standardised with the training chips' statistics, folded into the
                first layer afterwards, so the head takes raw features as ``predict`` feeds them
    card        a ``kind: pixel_encoder`` card: the encoder by file name and sha256, the lattice,
                bands, terrain and climate as the features were made, the head, its weights
    evaluate    held-out metrics on the test blocks, model and training-mean baseline, measured
                as ``lulcmap evaluate`` measures them (the head on the stored features)

Seconds on a CPU: the features are a few hundred bytes per chip.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import xarray as xr
from safetensors.torch import save as safetensors_bytes
from torch import nn

from lulcmap.chipdata import reader as dsio
from lulcmap.chipdata.schema import FEATURES_ATTR
from lulcmap.errors import InputDataError
from lulcmap.evaluation.runner import evaluate_model
from lulcmap.legend import load_legend
from lulcmap.model.card import InputSpec, ModelCard, Radiometry, Weights
from lulcmap.model.card_encoder import EncoderSpec, EncoderWeights, HeadSpec
from lulcmap.model.pixel import FeatureHead, build_head
from lulcmap.model.runtime import resolve_device
from lulcmap.training.loop import ChipArrays, EpochRecord, FitResult, steps_per_epoch
from lulcmap.training.options import TrainOptions
from lulcmap.training.record import WEIGHTS, metrics_record, training_record
from lulcmap.training.split import split_chips
from lulcmap.training.train import (
    Datasets,
    TrainResult,
    ancillary_names,
    baseline_mask,
    held_blocks,
    open_training_data,
    reproducible,
    usable_chips,
)

log = logging.getLogger(__name__)


def feature_info(ds: xr.Dataset) -> dict[str, Any]:
    """How the dataset's features were made; a dataset without them is a one-line error."""
    info = ds.attrs.get(FEATURES_ATTR)
    if "features" not in ds.variables or not isinstance(info, dict):
        raise InputDataError(
            f"{ds.encoding.get('source', 'the chip dataset')} holds no encoder features, which "
            "`train --backbone presto` fits its head on; prepare it with `lulcmap prepare "
            "--backbone presto` (and --bands, --date where the scene does not name them)"
        )
    return info


def encoder_spec(info: dict[str, Any]) -> EncoderSpec:
    """The card's ``encoder`` block: the features' encoder, lattice, bands, terrain, climate."""
    scenes = info.get("scenes") or [{}]
    bands = [sorted(dict(s.get("bands", {}))) for s in scenes]
    if any(b != bands[0] for b in bands):
        raise InputDataError(
            f"the dataset's scenes fed Presto different bands ({bands}); prepare scenes with "
            "the same bands to train one head on them"
        )
    return EncoderSpec(
        weights=EncoderWeights(file=info["encoder_file"], sha256=info["encoder_sha256"]),
        pixels_per_cell=int(info["pixels_per_cell"]),
        bands=tuple(bands[0]),
        features=info["features"],
        climate="masked",
        terrain=info.get("terrain", "masked"),
    )


def _mse(head: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """``(MSE, MAE in percent points)`` of the head on ``x``, in eval mode."""
    head.eval()
    with torch.no_grad():
        p = torch.softmax(head(x), dim=-1)
        return float(torch.mean((p - y) ** 2)), float(torch.mean(torch.abs(p - y)) * 100)


def fit_head(
    head: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray] | None,
    opt: TrainOptions,
    *,
    rng: np.random.Generator,
    on_step: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> FitResult:
    """Train ``head`` in place on standardised features; it ends with the best epoch's weights."""
    x, y = (torch.from_numpy(a) for a in train)
    vx, vy = (torch.from_numpy(a) for a in val) if val is not None else (None, None)
    n, total = len(x), opt.epochs * steps_per_epoch(len(x), opt.batch_size)
    adam = torch.optim.Adam(head.parameters(), lr=opt.lr, weight_decay=opt.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(adam, T_max=max(total, 1))
    history: list[EpochRecord] = []
    best: tuple[float, int, dict[str, torch.Tensor]] = (math.inf, 0, {})
    start, step = time.perf_counter(), 0
    for epoch in range(1, opt.epochs + 1):
        head.train()
        order, sums = rng.permutation(n), 0.0
        for s in range(0, n, opt.batch_size):
            idx = torch.from_numpy(np.sort(order[s : s + opt.batch_size]))
            loss = torch.mean((torch.softmax(head(x[idx]), dim=-1) - y[idx]) ** 2)
            adam.zero_grad(set_to_none=True)
            loss.backward()
            adam.step()
            sched.step()
            sums, step = sums + float(loss.detach()) * len(idx), step + 1
            if on_step is not None:
                on_step(step, total)
        v = _mse(head, vx, vy) if vx is not None and vy is not None and len(vx) else None
        record = EpochRecord(
            epoch=epoch, lr=float(sched.get_last_lr()[0]), train_loss=sums / n,
            train_mse=sums / n, val_loss=v[0] if v else None, val_mse=v[0] if v else None,
            val_mae_percent=v[1] if v else None, seconds=round(time.perf_counter() - start, 2),
        )  # fmt: skip
        history.append(record)
        score = record.val_loss if record.val_loss is not None else -epoch
        if score < best[0]:
            best = (score, epoch, copy.deepcopy(head.state_dict()))
        if on_epoch is not None:
            on_epoch(record)
    head.load_state_dict(best[2])
    head.eval()
    return FitResult(history, best[1], time.perf_counter() - start)


@torch.no_grad()
def fold_standardisation(head: nn.Module, mean: np.ndarray, std: np.ndarray) -> None:
    """Make a head trained on ``(x - mean) / std`` take raw ``x``: fold into its first Linear."""
    first = next(m for m in head.modules() if isinstance(m, nn.Linear))
    m, s = torch.from_numpy(mean).float(), torch.from_numpy(std).float()
    w = first.weight / s
    first.bias.sub_(w @ m)
    first.weight.copy_(w)


def _card(ds: xr.Dataset, opt: TrainOptions, enc: EncoderSpec) -> ModelCard:
    pixel = float(ds.attrs.get("pixel_size_m", 10.0))
    description = opt.description or (
        f"Presto (frozen) + an MLP head trained by `lulcmap train --backbone presto` on "
        f"{ds.encoding.get('source', 'a chip dataset')} ({ds.sizes['y']} px chips at {pixel:g} m, "
        f"{enc.pixels_per_cell} pixels per chip, bands {', '.join(enc.bands)})"
    )
    return ModelCard(
        id=opt.id or "model",
        version=opt.version,
        kind="pixel_encoder",
        description=description,
        legend=str(ds.attrs.get("legend", "sipna")),
        levels=("N1", "N2"),
        input=InputSpec(
            chip_size=int(ds.sizes["y"]),
            pixel_size_m=pixel,
            radiometry=Radiometry.model_validate(ds.attrs.get("radiometry", {})),
        ),
        encoder=enc,
        head=HeadSpec(kind="mlp", hidden=opt.head_hidden),
        weights=Weights(file=WEIGHTS, sha256="0" * 64),
        licence=opt.licence,
    )


def train_head(
    dataset: Datasets,
    *,
    options: TrainOptions | None = None,
    on_step: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """Fit a pixel-encoder model's head on stored features (see the module docstring)."""
    opt = options or TrainOptions(backbone="presto")
    ds, roles = open_training_data(dataset, opt)
    legend = load_legend(str(ds.attrs.get("legend", "sipna")))
    dsio.check_classes(ds, legend, ("N1", "N2"), what="its legend")
    enc = encoder_spec(feature_info(ds))
    names = ancillary_names(ds, opt.ancillary)
    usable, counts = usable_chips(ds, names, opt.max_unmapped)
    feats = dsio.features(ds, np.arange(ds.sizes["chip"]))
    finite = np.isfinite(feats).all(axis=1)
    counts["excluded_no_features"] = int((usable & ~finite).sum())
    usable &= finite
    test_blocks, val_blocks = held_blocks(ds, usable, roles, opt)
    split = split_chips(
        ds, usable, test_fraction=opt.test_fraction, val_fraction=opt.val_fraction,
        test_blocks=test_blocks, val_blocks=val_blocks, seed=opt.seed,
    )  # fmt: skip
    targets = dsio.reference(ds, "N2", np.arange(ds.sizes["chip"])).astype(np.float32)
    mean = feats[split.train].mean(axis=0)
    std = np.maximum(feats[split.train].std(axis=0), 1e-6)

    def scaled(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return ((feats[idx] - mean) / std).astype(np.float32), targets[idx]

    card = _card(ds, opt, enc)
    baseline = baseline_mask(ds, card, split)
    log.info(
        "head on %d features: %d training chips, %d validation, %d test",
        feats.shape[1], len(split.train), len(split.val), len(split.test),
    )  # fmt: skip
    device = torch.device("cpu")  # a few thousand weights: the GPU would only add transfers
    with reproducible(opt.seed, device):
        head = build_head(feats.shape[1], opt.head_hidden, card.n_classes)
        fitted = fit_head(
            head, scaled(split.train), scaled(split.val) if len(split.val) else None, opt,
            rng=np.random.default_rng(opt.seed), on_step=on_step, on_epoch=on_epoch,
        )  # fmt: skip
    fold_standardisation(head, mean, std)
    weights = safetensors_bytes({k: v.contiguous() for k, v in head.state_dict().items()})
    arrays = ChipArrays(feats[split.train], np.zeros((len(split.train), 0)), targets[split.train])
    record = training_record(ds, opt, split, counts, arrays, fitted, device)
    record.update(
        trainer="lulcmap train --backbone presto",
        features=feature_info(ds),
        loss="MSE(N2 abundances): softmax of the head on the chip's features",
        augmentation="none (features of the frozen encoder)",
        standardisation="training chips' feature mean and std, folded into the first layer",
    )
    card = card.model_copy(
        update={
            "weights": Weights(file=WEIGHTS, sha256=hashlib.sha256(weights).hexdigest()),
            "training": record,
        }
    )
    if resolve_device(opt.device) != "cpu":
        log.info("the head trains on the CPU whatever --device says")
    evaluation = evaluate_model(
        ds, FeatureHead(card, head, device), chips=split.test, baseline_chips=baseline
    )
    card = card.model_copy(update={"metrics": metrics_record(evaluation, split)})
    return TrainResult(card, head, weights, fitted.history, fitted.best_epoch, split, evaluation)


__all__ = ["encoder_spec", "feature_info", "fit_head", "fold_standardisation", "train_head"]
