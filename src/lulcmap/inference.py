"""The streaming engine: scene strips -> chips -> batches -> device -> abundances.

A background thread reads the scene one chip row ("strip") at a time through a rolling buffer
(each scene row is decoded once, whatever the stride), cuts the strip into chips and hands them
over a bounded queue. The main thread batches chips, moves them to the device (pinned memory and
non-blocking copies on CUDA) and keeps one batch in flight while the next is assembled. Memory is
bounded by ``prefetch`` strips of chips, whatever the scene size; only the output grid (a few
values per cell) is held whole.

A scene smaller than one chip along an axis is mirrored at its edges (``numpy.pad`` with mode
``reflect``) to fill the chip, so the model sees a full chip of the same texture; the valid
fraction counts only real scene pixels. Invalid pixels inside an accepted chip are fed as 0.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from lulcmap.chips import ChipPlan
from lulcmap.grid import Grid

log = logging.getLogger(__name__)


class AbundanceModel(Protocol):
    """Maps uint8 chips ``(N,3,S,S)`` + ancillary ``(N,A)`` to N2 fractions ``(N,C)``."""

    def __call__(self, images: torch.Tensor, ancillary: torch.Tensor) -> torch.Tensor: ...


class StripSource(Protocol):
    """A scene read one band of rows at a time (see :class:`lulcmap.io.scene.Scene`)."""

    @property
    def grid(self) -> Grid: ...

    def read_strip(self, row_off: int, height: int) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class EngineOptions:
    batch_size: int = 64
    min_valid_fraction: float = 0.5
    prefetch: int = 3
    device: str = "cpu"


@dataclass(frozen=True)
class InferenceResult:
    fractions: np.ndarray  # (C, rows, cols) float32, NaN where not predicted
    valid_fraction: np.ndarray  # (rows, cols) float32
    n_predicted: int
    n_low_valid: int
    n_no_ancillary: int


@dataclass(frozen=True)
class _ChipRow:
    row: int
    chips: np.ndarray  # (cols, 3, S, S) uint8
    valid_fraction: np.ndarray  # (cols,) float32


class _RollingStrips:
    """Reads strips with non-decreasing offsets, decoding only rows not already buffered."""

    def __init__(self, source: StripSource) -> None:
        self.source = source
        self.off = 0
        self.rgb = np.zeros((3, 0, source.grid.width), np.uint8)
        self.valid = np.zeros((0, source.grid.width), bool)

    def get(self, row_off: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        end, buf_end = row_off + height, self.off + self.rgb.shape[1]
        keep = max(0, buf_end - row_off) if row_off >= self.off else 0
        keep = min(keep, height)
        start = row_off + keep
        if start < end:
            rgb, valid = self.source.read_strip(start, end - start)
            old = slice(self.rgb.shape[1] - keep, None)
            self.rgb = np.concatenate([self.rgb[:, old], rgb], axis=1)
            self.valid = np.concatenate([self.valid[old], valid], axis=0)
        else:
            lo = row_off - self.off
            self.rgb, self.valid = self.rgb[:, lo : lo + height], self.valid[lo : lo + height]
        self.off = row_off
        return self.rgb, self.valid


def _pad_chip(chips: np.ndarray, size: int) -> np.ndarray:
    """Mirror chips ``(N,3,h,w)`` at their edges up to ``size x size``."""
    h, w = chips.shape[-2:]
    if h == size and w == size:
        return chips
    ph, pw = size - h, size - w
    pad = ((0, 0), (0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
    return np.pad(chips, pad, mode="reflect" if min(h, w) > 1 else "edge")


def _cut_row(plan: ChipPlan, row: int, rgb: np.ndarray, valid: np.ndarray) -> _ChipRow:
    _, w = plan.chip_shape
    cols = plan.col_offsets
    chips = np.stack([rgb[:, :, c : c + w] for c in cols])
    csum = np.concatenate([[0], np.cumsum(valid.sum(axis=0, dtype=np.int64))])
    vf = ((csum[cols + w] - csum[cols]) / (valid.shape[0] * w)).astype(np.float32)
    return _ChipRow(row, _pad_chip(chips, plan.chip_size), vf)


def _produce(
    plan: ChipPlan, source: StripSource, out: queue.Queue[object], stop: threading.Event
) -> None:
    try:
        strips = _RollingStrips(source)
        h = plan.chip_shape[0]
        for row, off in enumerate(plan.row_offsets.tolist()):
            if stop.is_set():
                return
            rgb, valid = strips.get(int(off), h)
            out.put(_cut_row(plan, row, rgb, valid))
        out.put(None)
    except BaseException as exc:  # handed to the consumer, re-raised there
        out.put(exc)


def _chip_rows(plan: ChipPlan, source: StripSource, prefetch: int) -> Iterator[_ChipRow]:
    q: queue.Queue[object] = queue.Queue(maxsize=max(1, prefetch))
    stop = threading.Event()
    t = threading.Thread(
        target=_produce, args=(plan, source, q, stop), daemon=True, name="lulcmap-reader"
    )
    t.start()
    try:
        while (item := q.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, _ChipRow)
            yield item
    finally:
        stop.set()
        while t.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(timeout=0.05)


class _Batcher:
    """Collects accepted chips into batches and keeps one batch in flight on the device."""

    def __init__(
        self, model: AbundanceModel, device: torch.device, batch_size: int, out: np.ndarray
    ) -> None:
        self.model, self.device, self.batch_size, self.out = model, device, batch_size, out
        self.images: list[np.ndarray] = []
        self.anc: list[np.ndarray] = []
        self.where: list[tuple[int, int]] = []
        self.in_flight: tuple[torch.Tensor, list[tuple[int, int]]] | None = None
        self.pin = device.type == "cuda"

    def add(self, image: np.ndarray, anc: np.ndarray, row: int, col: int) -> None:
        self.images.append(image)
        self.anc.append(anc)
        self.where.append((row, col))
        if len(self.images) >= self.batch_size:
            self.launch()

    def launch(self) -> None:
        if not self.images:
            return
        imgs = torch.from_numpy(np.stack(self.images))
        anc = torch.from_numpy(np.stack(self.anc).astype(np.float32))
        if self.pin:
            imgs, anc = imgs.pin_memory(), anc.pin_memory()
        imgs = imgs.to(self.device, non_blocking=True)
        anc = anc.to(self.device, non_blocking=True)
        result = self.model(imgs, anc).float()
        if self.pin:
            result = result.to("cpu", non_blocking=True)
        self.collect()
        self.in_flight = (result, self.where)
        self.images, self.anc, self.where = [], [], []

    def collect(self) -> None:
        if self.in_flight is None:
            return
        result, where = self.in_flight
        if self.pin:
            torch.cuda.current_stream(self.device).synchronize()
        values = result.cpu().numpy()
        rows, cols = np.array(where).T
        self.out[:, rows, cols] = values.T
        self.in_flight = None

    def finish(self) -> None:
        self.launch()
        self.collect()


def run_inference(
    source: StripSource,
    plan: ChipPlan,
    ancillary: np.ndarray,
    model: AbundanceModel,
    *,
    n_classes: int,
    options: EngineOptions = EngineOptions(),
    on_row: Callable[[int], None] | None = None,
) -> InferenceResult:
    """Stream the scene through ``model``; ``ancillary`` is ``(rows, cols, A)`` per cell.

    Cells whose chip's valid fraction is under ``options.min_valid_fraction``, or whose ancillary
    values are missing (NaN), are not predicted: their fractions are NaN.
    """
    rows, cols = plan.shape
    device = torch.device(options.device)
    fractions = np.full((n_classes, rows, cols), np.nan, np.float32)
    valid_fraction = np.zeros((rows, cols), np.float32)
    anc_ok = (
        np.all(np.isfinite(ancillary), axis=-1)
        if ancillary.shape[-1]
        else np.ones(plan.shape, bool)
    )
    batcher = _Batcher(model, device, options.batch_size, fractions)
    n_low = 0
    for chip_row in _chip_rows(plan, source, options.prefetch):
        r = chip_row.row
        valid_fraction[r] = chip_row.valid_fraction
        for c in range(cols):
            if chip_row.valid_fraction[c] < options.min_valid_fraction:
                n_low += 1
            elif anc_ok[r, c]:
                batcher.add(chip_row.chips[c], ancillary[r, c], r, c)
        if on_row is not None:
            on_row(cols)
    batcher.finish()
    n_no_anc = int(np.sum(~anc_ok & (valid_fraction >= options.min_valid_fraction)))
    n_pred = int(np.isfinite(fractions[0]).sum())
    log.info(
        "predicted %d of %d cells (%d below the valid threshold, %d without ancillary)",
        n_pred,
        rows * cols,
        n_low,
        n_no_anc,
    )
    return InferenceResult(fractions, valid_fraction, n_pred, n_low, n_no_anc)


__all__ = ["AbundanceModel", "EngineOptions", "InferenceResult", "StripSource", "run_inference"]
