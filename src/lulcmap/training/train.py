"""``train``: a chip dataset -> a trained, carded, evaluated model.

train_model =
    dataset     open the chip dataset(s) (made by ``lulcmap prepare``) with any held-out ones,
                check the legend
    usable      chips with a reference, at most ``max_unmapped`` unmapped, the ancillary values
    split       test / validation / training blocks (:mod:`lulcmap.training.split`); those of
                held-out datasets when given
    arrays      training and validation chips in memory; image and ancillary statistics
    fit         seeded multi-task training, best checkpoint (:mod:`lulcmap.training.loop`)
    card        weights hash, training record, the split ``lulcmap evaluate --split test`` reads
    evaluate    held-out metrics of the model and of the training-mean baseline, into the card

run_train = refuse existing outputs first, then train_model, then write the model folder
(:mod:`lulcmap.training.outputs`), all or nothing.

Memory: the training and validation chips are held in memory (``3 x S x S`` bytes each: 150 kB
at 224 px, so 10 000 chips take 1.5 GB); held-out chips are read in batches.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr
from safetensors.torch import save as safetensors_bytes
from torch import nn

from lulcmap.chipdata import reader as dsio
from lulcmap.errors import ConfigError
from lulcmap.evaluation.result import EvaluationResult
from lulcmap.evaluation.runner import evaluate_model
from lulcmap.evaluation.selection import select_chips
from lulcmap.legend import load_legend
from lulcmap.model.card import ModelCard, Weights
from lulcmap.model.network import LulcNet
from lulcmap.model.registry import TorchModel, build_network
from lulcmap.model.runtime import resolve_device
from lulcmap.training.loop import ChipArrays, EpochRecord, FitSpec, LossSpec, fit, init_from_prior
from lulcmap.training.options import TrainOptions
from lulcmap.training.record import (
    WEIGHTS,
    device_text,
    initial_card,
    metrics_record,
    training_record,
)
from lulcmap.training.split import BlockSplit, split_chips, split_record

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class TrainResult:
    """A trained model: its complete card, network, serialised weights, log and evaluation."""

    card: ModelCard
    net: nn.Module
    """The network (``--backbone presto``: the head)."""
    weights: bytes
    """The safetensors file's bytes (their sha256 is in the card)."""
    history: list[EpochRecord]
    best_epoch: int
    """1-based epoch whose weights were kept."""
    split: BlockSplit
    evaluation: EvaluationResult


# -- the data -----------------------------------------------------------------------------------
Datasets = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | xr.Dataset
"""One chip dataset (a path or an opened one) or several paths, opened together."""


def open_training_data(
    dataset: Datasets, opt: TrainOptions
) -> tuple[xr.Dataset, dict[str, list[int]]]:
    """The datasets to train on plus ``opt``'s test and validation datasets, opened as one, and
    the indexes (into ``ds.attrs["datasets"]``) of those held out, by role."""
    if isinstance(dataset, xr.Dataset):
        if opt.test_datasets or opt.val_datasets:
            raise ConfigError("test_datasets and val_datasets need dataset paths, not a Dataset")
        return dataset, {}
    paths = dsio.dataset_paths(dataset)
    roles: dict[str, list[int]] = {}
    for role, held in (("test", opt.test_datasets), ("val", opt.val_datasets)):
        for path in held:
            if path in paths:
                raise ConfigError(
                    f"{path} is given both to train on and as a {role} dataset; name it once"
                )
            roles.setdefault(role, []).append(len(paths))
            paths.append(path)
    return dsio.open_chip_datasets(paths), roles


def held_blocks(
    ds: xr.Dataset, usable: np.ndarray, roles: dict[str, list[int]], opt: TrainOptions
) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
    """The named test and validation blocks: ``opt``'s, or those of the held-out datasets."""
    named = {"test": opt.test_blocks, "val": opt.val_blocks}
    for role, indexes in roles.items():
        if named[role] is not None:
            raise ConfigError(f"give --{role}-blocks or --{role}-dataset, not both")
        mine = usable & np.isin(np.asarray(ds["dataset"].values), indexes)
        if not mine.any():
            raise ConfigError(
                f"the {role} dataset(s) hold no usable chip (with a reference, at most "
                f"{opt.max_unmapped:g} unmapped and the ancillary values); check them with "
                "`lulcmap prepare`'s summary"
            )
        named[role] = tuple(int(b) for b in np.unique(np.asarray(ds["block"].values)[mine]))
    return named["test"], named["val"]


def ancillary_names(ds: xr.Dataset, choice: str | Sequence[str]) -> list[str]:
    """The ancillary variables to train with: ``all`` of the dataset's, ``none``, or those named."""
    have = [str(v) for v in ds["variable"].values] if "variable" in ds.coords else []
    if choice == "all":
        return have
    if choice == "none":
        return []
    names = [str(n) for n in choice]
    missing = [n for n in names if n not in have]
    if missing or len(set(names)) != len(names):
        what = f"lacks {', '.join(missing)}" if missing else "was given a variable twice"
        raise ConfigError(
            f"--ancillary {','.join(names)}: the dataset {what}; it has "
            f"{', '.join(have) or 'no ancillary variables'}; choose among them, all or none"
        )
    return names


def usable_chips(
    ds: xr.Dataset, names: list[str], max_unmapped: float
) -> tuple[np.ndarray, dict[str, int]]:
    """Mask of chips to train and test on, and how many were left out and why."""
    n2 = np.asarray(ds["n2"].transpose("chip", "class_n2").values, np.float64)
    ref = np.isfinite(n2).all(axis=1) & (n2.sum(axis=1) > 0)
    unmapped = np.asarray(ds["unmapped_fraction"].values) if "unmapped_fraction" in ds else None
    low = ref & (unmapped <= max_unmapped) if unmapped is not None else ref
    anc = np.isfinite(dsio.ancillary(ds, names, np.arange(ds.sizes["chip"]))).all(axis=1)
    usable = low & anc
    return usable, {
        "chips": int(ds.sizes["chip"]),
        "excluded_no_reference": int((~ref).sum()),
        "excluded_unmapped": int((ref & ~low).sum()),
        "excluded_no_ancillary": int((low & ~anc).sum()),
    }


def load_chips(ds: xr.Dataset, chips: np.ndarray, names: list[str]) -> ChipArrays:
    return ChipArrays(
        images=dsio.images(ds, chips),
        ancillary=dsio.ancillary(ds, names, chips),
        targets=dsio.reference(ds, "N2", chips).astype(np.float32),
    )


# -- training -----------------------------------------------------------------------------------
@contextmanager
def reproducible(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch (restored afterwards) and use deterministic algorithms (warn-only on CUDA,
    where some have no deterministic kernel)."""
    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[] if device.type != "cuda" else None):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(prev, warn_only=prev_warn)


def baseline_mask(ds: xr.Dataset, card: ModelCard, split: BlockSplit) -> np.ndarray:
    """The chips ``lulcmap evaluate --split test`` will average for the baseline; selecting them
    before training checks that it will accept the split recorded in the card."""
    recorded = card.model_copy(update={"training": {"split": split_record(ds, split)}})
    return select_chips(ds, recorded, split="test").baseline


def train_model(
    dataset: Datasets,
    *,
    options: TrainOptions | None = None,
    on_step: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """Train a :class:`LulcNet` on a chip dataset's training blocks (see the module docstring)."""
    opt = options or TrainOptions()
    ds, roles = open_training_data(dataset, opt)
    legend = load_legend(str(ds.attrs.get("legend", "sipna")))
    dsio.check_classes(ds, legend, ("N1", "N2"), what="its legend")
    names = ancillary_names(ds, opt.ancillary)
    usable, counts = usable_chips(ds, names, opt.max_unmapped)
    test_blocks, val_blocks = held_blocks(ds, usable, roles, opt)
    split = split_chips(
        ds,
        usable,
        test_fraction=opt.test_fraction,
        val_fraction=opt.val_fraction,
        test_blocks=test_blocks,
        val_blocks=val_blocks,
        seed=opt.seed,
    )
    device = torch.device(resolve_device(opt.device))
    train, val = load_chips(ds, split.train, names), load_chips(ds, split.val, names)
    card = initial_card(ds, opt, train, names)
    baseline = baseline_mask(ds, card, split)
    log.info(
        "%d training chips (%d blocks), %d validation (%d), %d test (%d); %s",
        *(len(split.train), len(split.train_blocks), len(split.val), len(split.val_blocks)),
        *(len(split.test), len(split.test_blocks), device_text(device)),
    )
    loss = LossSpec(opt.presence_weight, opt.presence_threshold)
    spec = FitSpec(opt.epochs, opt.batch_size, opt.lr, opt.weight_decay, loss)
    with reproducible(opt.seed, device):
        net = build_network(card)
        init_from_prior(net, train.targets, loss)
        rng = np.random.default_rng(opt.seed)
        fitted = fit(
            net, train, val if len(val) else None, spec, rng=rng, device=device,
            on_step=on_step, on_epoch=on_epoch,
        )  # fmt: skip
    weights = safetensors_bytes({k: v.contiguous() for k, v in net.cpu().state_dict().items()})
    record = training_record(ds, opt, split, counts, train, fitted, device)
    card = card.model_copy(
        update={
            "weights": Weights(file=WEIGHTS, sha256=hashlib.sha256(weights).hexdigest()),
            "training": record,
        }
    )
    evaluation = held_out(ds, card, net, split, baseline, device)
    card = card.model_copy(update={"metrics": metrics_record(evaluation, split)})
    return TrainResult(card, net, weights, fitted.history, fitted.best_epoch, split, evaluation)


def held_out(
    ds: xr.Dataset,
    card: ModelCard,
    net: LulcNet,
    split: BlockSplit,
    baseline: np.ndarray,
    device: torch.device,
) -> EvaluationResult:
    """Metrics on the test blocks' usable chips, with the baseline ``lulcmap evaluate`` uses."""
    model = TorchModel(card, net.to(device).eval(), device)
    t0 = time.perf_counter()
    result = evaluate_model(ds, model, chips=split.test, baseline_chips=baseline)
    net.cpu()
    log.info("held-out evaluation of %d chips in %.1f s", len(split.test), time.perf_counter() - t0)
    return result


__all__ = [
    "TrainOptions",
    "TrainResult",
    "ancillary_names",
    "baseline_mask",
    "held_blocks",
    "load_chips",
    "open_training_data",
    "reproducible",
    "train_model",
    "usable_chips",
]
