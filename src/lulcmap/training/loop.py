"""The training loop: multi-task loss, Adam with per-step cosine decay, best checkpoint.

loss       = MSE(abundances, N2 fractions) + presence_weight x BCE(presence logits, N2 > threshold)
one epoch  = the training chips in a seeded random order, in batches, each chip flipped/rotated
             at random (:mod:`lulcmap.training.augment`); the learning rate decays along a cosine
             from ``lr`` to 0 over all steps
validation = the same loss on the validation chips, unaugmented, in eval mode; the weights of
             the epoch with the lowest validation loss are kept (the last epoch's without any)

Every random draw comes from the ``numpy`` generator passed in, and the network's initial weights
from the torch seed set by the caller, so one seed gives one result on one machine and device.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from lulcmap.training.augment import random_dihedral

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ChipArrays:
    """Chips in memory: uint8 images ``(n, 3, S, S)``, ancillary ``(n, A)``, N2 ``(n, C)``."""

    images: np.ndarray
    ancillary: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class LossSpec:
    presence_weight: float = 0.1
    presence_threshold: float = 0.01

    def __call__(
        self, abundance: torch.Tensor, presence: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(total loss, abundance MSE)``, both means over the batch."""
        mse = torch.mean((abundance - target) ** 2)
        bce = nn.functional.binary_cross_entropy_with_logits(
            presence, (target > self.presence_threshold).to(presence.dtype)
        )
        return mse + self.presence_weight * bce, mse


@dataclass(frozen=True)
class FitSpec:
    epochs: int = 30
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.0
    loss: LossSpec = LossSpec()


@dataclass(frozen=True)
class EpochRecord:
    """One line of the training log. Losses are means over chips; MAE in percent points."""

    epoch: int
    lr: float
    train_loss: float
    train_mse: float
    val_loss: float | None
    val_mse: float | None
    val_mae_percent: float | None
    seconds: float

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class FitResult:
    history: list[EpochRecord]
    best_epoch: int
    """1-based epoch whose weights were kept."""
    seconds: float


@torch.no_grad()
def init_from_prior(net: nn.Module, targets: np.ndarray, loss: LossSpec) -> None:
    """Start the heads at the training mean: abundance bias = log of each class's mean fraction
    (floored at 1e-4, so classes absent from training start near 0), presence bias = logit of
    each class's presence rate. The untrained network then predicts about the training-mean
    baseline (its fine map of logits starts small), and training starts from there."""
    prior = np.clip(targets.mean(axis=0), 1e-4, None)
    log_prior = np.log(prior / prior.sum())
    rate = np.clip((targets > loss.presence_threshold).mean(axis=0), 1e-3, 1 - 1e-3)
    starts = {"bias_head": log_prior - log_prior.mean(), "presence_head": np.log(rate / (1 - rate))}
    for head, values in starts.items():
        layer = getattr(net, head, None)
        if isinstance(layer, nn.Linear) and layer.bias is not None:
            layer.bias.copy_(torch.as_tensor(values, dtype=layer.bias.dtype))


def _batches(n: int, size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Shuffled index batches; a last batch of one chip is skipped (batch norm needs two)."""
    order = rng.permutation(n)
    for start in range(0, n, size):
        idx = np.sort(order[start : start + size])
        if len(idx) > 1 or n == 1:
            yield idx


def steps_per_epoch(n: int, batch_size: int) -> int:
    full, rest = divmod(n, batch_size)
    return full + (1 if rest > 1 or n == 1 else 0)


def _tensors(
    data: ChipArrays, idx: np.ndarray, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (
        torch.from_numpy(data.images[idx]).to(device),
        torch.from_numpy(data.ancillary[idx]).to(device),
        torch.from_numpy(data.targets[idx]).to(device),
    )


@torch.no_grad()
def evaluate_loss(
    net: nn.Module, data: ChipArrays, loss: LossSpec, *, device: torch.device, batch_size: int = 64
) -> tuple[float, float, float]:
    """``(loss, MSE, MAE in percent points)`` of ``net`` on ``data``, in eval mode."""
    net.eval()
    totals = np.zeros(3)
    for start in range(0, len(data), batch_size):
        idx = np.arange(start, min(start + batch_size, len(data)))
        images, anc, target = _tensors(data, idx, device)
        abundance, presence = net(images, anc)
        total, mse = loss(abundance, presence, target)
        mae = torch.mean(torch.abs(abundance - target)) * 100
        totals += np.array([float(total), float(mse), float(mae)]) * len(idx)
    mean_loss, mean_mse, mean_mae = (totals / max(len(data), 1)).tolist()
    return mean_loss, mean_mse, mean_mae


def fit(
    net: nn.Module,
    train: ChipArrays,
    val: ChipArrays | None,
    spec: FitSpec,
    *,
    rng: np.random.Generator,
    device: torch.device,
    on_step: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> FitResult:
    """Train ``net`` in place; it ends with the best checkpoint's weights, in eval mode."""
    net.to(device)
    per_epoch = steps_per_epoch(len(train), spec.batch_size)
    total_steps = spec.epochs * per_epoch
    opt = torch.optim.Adam(net.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(total_steps, 1))
    history: list[EpochRecord] = []
    best = (math.inf, 0, copy.deepcopy(net.state_dict()))
    start, step = time.perf_counter(), 0
    for epoch in range(1, spec.epochs + 1):
        net.train()
        sums = np.zeros(2)
        seen = 0
        for idx in _batches(len(train), spec.batch_size, rng):
            images, anc, target = _tensors(train, idx, device)
            abundance, presence = net(random_dihedral(images, rng), anc)
            total, mse = spec.loss(abundance, presence, target)
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            sched.step()
            sums += np.array([float(total.detach()), float(mse.detach())]) * len(idx)
            seen += len(idx)
            step += 1
            if on_step is not None:
                on_step(step, total_steps)
        v = (
            evaluate_loss(net, val, spec.loss, device=device)
            if val is not None and len(val)
            else None
        )
        record = EpochRecord(
            epoch=epoch,
            lr=float(sched.get_last_lr()[0]),
            train_loss=float(sums[0] / max(seen, 1)),
            train_mse=float(sums[1] / max(seen, 1)),
            val_loss=v[0] if v else None,
            val_mse=v[1] if v else None,
            val_mae_percent=v[2] if v else None,
            seconds=round(time.perf_counter() - start, 2),
        )
        history.append(record)
        score = record.val_loss if record.val_loss is not None else -epoch  # no val: the last
        if score < best[0]:
            best = (score, epoch, copy.deepcopy(net.state_dict()))
        log.info(
            "epoch %d/%d  loss %.5f  val %s  lr %.2e  %.0f s",
            epoch,
            spec.epochs,
            record.train_loss,
            "-" if record.val_loss is None else f"{record.val_loss:.5f}",
            record.lr,
            record.seconds,
        )
        if on_epoch is not None:
            on_epoch(record)
    net.load_state_dict(best[2])
    net.eval()
    return FitResult(history, best[1], time.perf_counter() - start)


__all__ = [
    "ChipArrays",
    "EpochRecord",
    "FitResult",
    "FitSpec",
    "LossSpec",
    "evaluate_loss",
    "fit",
    "init_from_prior",
    "steps_per_epoch",
]
