"""What a trained model's card records: input statistics, the training, the held-out metrics."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from lulcmap.chipdata import reader as dsio
from lulcmap.evaluation.result import EvaluationResult
from lulcmap.model.card import AncillaryVar, Architecture, InputSpec, ModelCard, Radiometry, Weights
from lulcmap.training.loop import ChipArrays, FitResult
from lulcmap.training.options import TrainOptions
from lulcmap.training.split import BlockSplit, split_record
from lulcmap.version import __version__

log = logging.getLogger(__name__)

UNITS = {
    "elevation": "m",
    "slope": "degree",
    "temp_ave": "degC",
    "temp_max": "degC",
    "temp_min": "degC",
}
"""Units of the ancillary variables whose units do not depend on the source."""
WEIGHTS = "weights.safetensors"


def image_stats(images: np.ndarray, chunk: int = 64) -> tuple[list[float], list[float]]:
    """Per-band mean and std of uint8 chips scaled to [0, 1] (float64 sums, chunk by chunk)."""
    s, sq, n = np.zeros(3), np.zeros(3), 0
    for i in range(0, len(images), chunk):
        x = images[i : i + chunk].astype(np.float64) / 255.0
        s += x.sum(axis=(0, 2, 3))
        sq += np.square(x).sum(axis=(0, 2, 3))
        n += x.shape[0] * x.shape[2] * x.shape[3]
    mean = s / n
    std = np.sqrt(np.maximum(sq / n - mean**2, 0.0))
    return [round(float(v), 6) for v in mean], [round(float(max(v, 1e-3)), 6) for v in std]


def _sig(x: float) -> float:
    return float(f"{x:.6g}")


def ancillary_vars(
    names: list[str], values: np.ndarray, units: dict[str, str]
) -> tuple[AncillaryVar, ...]:
    out = []
    for i, name in enumerate(names):
        mean, std = float(values[:, i].mean()), float(values[:, i].std())
        if not std > 1e-6 * max(1.0, abs(mean)):
            log.warning("ancillary %s is constant over the training chips; std set to 1", name)
            std = 1.0
        unit = units.get(name, UNITS.get(name, ""))
        out.append(AncillaryVar(name=name, units=unit, mean=_sig(mean), std=_sig(std)))
    return tuple(out)


SCENE_KEYS = ("path", "rgb_bands", "scale", "offset", "pixel_size_m", "resampled")
"""What the card repeats of each scene record of the dataset (how its chips were read)."""


def dataset_record(ds: xr.Dataset) -> dict[str, Any]:
    """The dataset's path and the attributes that say how it was made."""
    info = dsio.describe(ds)
    a = ds.attrs
    crosswalk = a.get("crosswalk")
    scenes = [s for s in a.get("scenes", []) if isinstance(s, dict)]
    info.update(
        stride=a.get("stride"),
        crosswalk=crosswalk.get("id") if isinstance(crosswalk, dict) else crosswalk,
        reference=a.get("reference"),
        scenes=[{k: s.get(k) for k in SCENE_KEYS if k in s} for s in scenes],
        variables=[str(v) for v in ds["variable"].values] if "variable" in ds.coords else [],
        ancillary_sources=a.get("ancillary_sources"),
    )
    if a.get("datasets"):  # several datasets opened together
        info["datasets"] = list(a["datasets"])
    return info


def data_summary(ds: xr.Dataset) -> str:
    """One line for ``lulcmap models``: scenes + reference -> chips."""
    a = ds.attrs
    scenes = [s for s in a.get("scenes", []) if isinstance(s, dict)]
    names = list(dict.fromkeys(Path(str(s.get("path", ""))).name for s in scenes))
    crosswalk = a.get("crosswalk")
    cw = crosswalk.get("id") if isinstance(crosswalk, dict) else crosswalk
    refs = a.get("reference")
    refs = refs if isinstance(refs, list | tuple) else [refs] if refs else []
    ref_names = ", ".join(dict.fromkeys(Path(str(r)).name for r in refs if r))
    ref = f" + {ref_names} (crosswalk {cw})" if ref_names else ""
    size, pixel = int(ds.sizes["y"]), float(a.get("pixel_size_m", 10.0))
    source = ", ".join(names) or str(ds.encoding.get("source", "a chip dataset"))
    return f"{source}{ref}: {int(ds.sizes['chip'])} chips of {size} px at {pixel:g} m"


def device_text(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def initial_card(
    ds: xr.Dataset, options: TrainOptions, train: ChipArrays, names: list[str]
) -> ModelCard:
    """The card before training: input, statistics, architecture (weights not yet known)."""
    mean, std = image_stats(train.images)
    pixel = float(ds.attrs.get("pixel_size_m", 10.0))
    radiometry = Radiometry.model_validate(ds.attrs.get("radiometry", {}))
    description = options.description or (
        f"LulcNet trained by `lulcmap train` on {ds.encoding.get('source', 'a chip dataset')} "
        f"({ds.sizes['y']} px chips at {pixel:g} m; ancillary: {', '.join(names) or 'none'})"
    )
    return ModelCard(
        id=options.id or "model",
        version=options.version,
        description=description,
        legend=str(ds.attrs.get("legend", "sipna")),
        levels=("N1", "N2"),
        architecture=Architecture(widths=options.widths, anc_hidden=options.anc_hidden),
        input=InputSpec(
            chip_size=int(ds.sizes["y"]),
            pixel_size_m=pixel,
            radiometry=radiometry,
            image_mean=tuple(mean),
            image_std=tuple(std),
        ),
        ancillary=ancillary_vars(names, train.ancillary, options.ancillary_units),
        weights=Weights(file=WEIGHTS, sha256="0" * 64),
        licence=options.licence,
    )


def training_record(
    ds: xr.Dataset,
    options: TrainOptions,
    split: BlockSplit,
    counts: dict[str, int],
    train: ChipArrays,
    fitted: FitResult,
    device: torch.device,
) -> dict[str, Any]:
    best = fitted.history[fitted.best_epoch - 1]
    classes = dsio.dataset_classes(ds, "N2")
    loss = options.presence_weight, options.presence_threshold
    return {
        "trainer": "lulcmap train",
        "data": options.data or data_summary(ds),
        "dataset": dataset_record(ds),
        "counts": {
            **counts,
            "train": len(split.train),
            "val": len(split.val),
            "test": len(split.test),
            "dropped_overlap_train": split.dropped_overlap["train"],
            "dropped_overlap_val": split.dropped_overlap["val"],
        },
        "class_balance_percent": {
            c: round(float(v) * 100, 3)
            for c, v in zip(classes, train.targets.mean(axis=0), strict=True)
        },
        "split": split_record(ds, split),
        "loss": f"MSE(N2 abundances) + {loss[0]:g} x BCE(presence: N2 fraction > {loss[1]:g})",
        "optimizer": (
            f"Adam lr {options.lr:g}, weight decay {options.weight_decay:g}, cosine decay per "
            f"step to 0, batch {options.batch_size}"
        ),
        "augmentation": "a random flip/rot90 (one of 8) per chip and step",
        "checkpoint": "lowest validation loss" if split.val_blocks else "last epoch",
        "epochs": options.epochs,
        "best_epoch": fitted.best_epoch,
        "best_val_loss": best.val_loss,
        "seed": options.seed,
        "wall_seconds": round(fitted.seconds, 1),
        "device": device_text(device),
        "torch": torch.__version__,
        "lulcmap": __version__,
        "options": options.model_dump(mode="json"),
        "log": "training_log.json",
    }


def metrics_record(evaluation: EvaluationResult, split: BlockSplit) -> dict[str, Any]:
    counts = evaluation.info.get("counts", {})
    levels: dict[str, Any] = {
        lv: {
            "model": evaluation.model[lv].to_dict(),
            "baseline": evaluation.baseline[lv].to_dict() if evaluation.baseline else None,
        }
        for lv in evaluation.levels
    }
    return {
        "held_out": (
            f"test blocks {', '.join(map(str, split.test_blocks))}: {counts.get('evaluated')} "
            "chips (chips above max_unmapped left out)"
        ),
        "baseline": "training mean: the mean reference of the training blocks' chips, as "
        "`lulcmap evaluate --split test` computes it",
        **levels,
    }


__all__ = [
    "UNITS",
    "WEIGHTS",
    "ancillary_vars",
    "data_summary",
    "dataset_record",
    "device_text",
    "image_stats",
    "initial_card",
    "metrics_record",
    "training_record",
]
