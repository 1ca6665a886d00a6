"""The streaming engine: scene strips -> chips -> batches -> device -> abundances.

A background thread reads the scene one chip row ("strip") at a time through a rolling buffer
(each scene row is decoded once, whatever the stride), cuts the strip's accepted chips straight
into batch arrays (one copy per chip) and hands full batches over a bounded queue.

* On CPU, ``workers`` threads run the model concurrently, each on its own batch, with torch's
  intra-op threads divided between them (2 cores: 2 workers x 1 thread). Reading, decoding and
  the model then share the cores without OpenMP's barrier stalls: a 2-thread forward pass waits
  for its slowest thread, which stalls whenever the reader holds a core; single-threaded passes
  in parallel do not (measured in ``benchmarks/RESULTS.md``).
* On CUDA, the main thread moves each batch to the device (pinned memory, non-blocking copies)
  and keeps one batch in flight while the next is assembled.
* ``bf16=True`` runs the model under bfloat16 autocast, on CUDA and on CPU (where it pays on CPUs
  with AVX512-BF16 or AMX; fractions then differ from fp32 by ~1e-3, so it is opt-in).

Memory is bounded by ``prefetch`` batches plus those in flight, whatever the scene size; only
the output grid (a few values per cell) is held whole.

A scene smaller than one chip along an axis is mirrored at its edges (``numpy.pad`` with mode
``reflect``) to fill the chip, so the model sees a full chip of the same texture; the valid
fraction counts only real scene pixels. Invalid pixels inside an accepted chip are fed as 0.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, closing, nullcontext
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from lulcmap.chips import ChipPlan
from lulcmap.grid import Grid
from lulcmap.process import available_cores, tune_malloc  # tune_malloc re-exported: its old home

log = logging.getLogger(__name__)

MAX_CPU_WORKERS = 4
"""Most concurrent model calls on CPU; the cores are divided between them."""


class AbundanceModel(Protocol):
    """Maps uint8 chips ``(N,3,S,S)`` + ancillary ``(N,A)`` to fractions ``(N,C)``."""

    def __call__(self, images: torch.Tensor, ancillary: torch.Tensor) -> torch.Tensor: ...


class StripSource(Protocol):
    """A scene read one band of rows at a time (see :class:`lulcmap.io.scene.Scene`)."""

    @property
    def grid(self) -> Grid: ...

    def read_strip(self, row_off: int, height: int) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class EngineOptions:
    """How the engine runs.

    Attributes:
        batch_size: chips per model call.
        min_valid_fraction: chips with fewer valid pixels become nodata cells.
        prefetch: batches read ahead of the model.
        device: ``cpu`` or ``cuda`` (``cuda:N``).
        workers: concurrent model calls on CPU (None: one per core, at most
            :data:`MAX_CPU_WORKERS`, sharing the cores' torch threads); CUDA uses one.
        bf16: run the model under bfloat16 autocast (CUDA or CPU); off: float32.
    """

    batch_size: int = 64
    min_valid_fraction: float = 0.5
    prefetch: int = 3
    device: str = "cpu"
    workers: int | None = None
    bf16: bool = False


@dataclass(frozen=True)
class InferenceResult:
    fractions: np.ndarray  # (C, rows, cols) float32, NaN where not predicted
    valid_fraction: np.ndarray  # (rows, cols) float32
    n_predicted: int
    n_low_valid: int
    n_no_ancillary: int


@dataclass
class _Batch:
    images: np.ndarray  # (n, 3, S, S) uint8
    ancillary: np.ndarray  # (n, A) float32
    rows: np.ndarray  # (n,) output rows
    cols: np.ndarray  # (n,) output columns


@dataclass
class _RowsDone:
    cells: int  # cells of the chip row just read (for progress)


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
            if keep:  # overlapping strips (stride < chip): append the new rows
                old = slice(self.rgb.shape[1] - keep, None)
                rgb = np.concatenate([self.rgb[:, old], rgb], axis=1)
                valid = np.concatenate([self.valid[old], valid], axis=0)
            self.rgb, self.valid = rgb, valid
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


def _row_valid_fraction(plan: ChipPlan, valid: np.ndarray) -> np.ndarray:
    """Valid fraction of every chip of a strip ``valid (h, W)``, shape ``(cols,)``."""
    w, cols = plan.chip_shape[1], plan.col_offsets
    csum = np.concatenate([[0], np.cumsum(valid.sum(axis=0, dtype=np.int64))])
    return ((csum[cols + w] - csum[cols]) / (valid.shape[0] * w)).astype(np.float32)


@dataclass
class _Cutter:
    """Cuts accepted chips of each strip into batch arrays; records valid fractions."""

    plan: ChipPlan
    ancillary: np.ndarray  # (rows, cols, A)
    has_ancillary: np.ndarray  # (rows, cols) bool: no value missing
    batch_size: int
    min_valid: float
    valid_fraction: np.ndarray  # (rows, cols) float32, filled row by row
    n_low: int = field(default=0, init=False)  # chips below min_valid
    _n: int = field(default=0, init=False)  # chips in the batch being filled
    _images: np.ndarray = field(init=False)
    _where: list[tuple[int, int]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._images = self._new_images()

    def _new_images(self) -> np.ndarray:
        s = self.plan.chip_size
        return np.empty((self.batch_size, 3, s, s), np.uint8)

    def add_row(self, row: int, rgb: np.ndarray, valid: np.ndarray) -> Iterator[_Batch]:
        vf = _row_valid_fraction(self.plan, valid)
        self.valid_fraction[row] = vf
        low = vf < self.min_valid
        self.n_low += int(low.sum())
        w = self.plan.chip_shape[1]
        for c in np.flatnonzero(~low & self.has_ancillary[row]).tolist():
            c0 = int(self.plan.col_offsets[c])
            chip = rgb[:, :, c0 : c0 + w]
            if chip.shape[-2:] != (self.plan.chip_size,) * 2:
                chip = _pad_chip(chip[None], self.plan.chip_size)[0]
            self._images[self._n] = chip
            self._where.append((row, c))
            self._n += 1
            if self._n == self.batch_size:
                yield self.flush()

    def flush(self) -> _Batch:
        rows, cols = np.array(self._where, np.int64).reshape(-1, 2).T
        anc = self.ancillary[rows, cols].astype(np.float32)
        batch = _Batch(self._images[: self._n], anc, rows, cols)
        self._images, self._n, self._where = self._new_images(), 0, []
        return batch

    @property
    def pending(self) -> int:
        return self._n


def iter_strips(
    source: StripSource, plan: ChipPlan
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(output row, rgb (3, h, W), valid (h, W))`` per chip row; each scene row decoded once.

    This is all the engine reads: ``benchmarks/bench_tile.py`` times it alone as "read-only".
    """
    strips = _RollingStrips(source)
    h = plan.chip_shape[0]
    for row, off in enumerate(plan.row_offsets.tolist()):
        rgb, valid = strips.get(int(off), h)
        yield row, rgb, valid


def _produce(
    cutter: _Cutter, source: StripSource, out: queue.Queue[object], stop: threading.Event
) -> None:
    try:
        cols = cutter.plan.shape[1]
        for row, rgb, valid in iter_strips(source, cutter.plan):
            if stop.is_set():
                return
            for batch in cutter.add_row(row, rgb, valid):
                out.put(batch)
            out.put(_RowsDone(cols))
        if cutter.pending:
            out.put(cutter.flush())
        out.put(None)
    except BaseException as exc:  # handed to the consumer, re-raised there
        out.put(exc)


def _read_batches(
    cutter: _Cutter, source: StripSource, prefetch: int, on_row: Callable[[int], None] | None
) -> Generator[_Batch, None, None]:
    """Batches from a reader thread; ``on_row(cells)`` as each chip row is read."""
    q: queue.Queue[object] = queue.Queue(maxsize=max(1, prefetch))
    stop = threading.Event()
    t = threading.Thread(
        target=_produce, args=(cutter, source, q, stop), daemon=True, name="lulcmap-reader"
    )
    t.start()
    try:
        while (item := q.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, _RowsDone):
                if on_row is not None:
                    on_row(item.cells)
            elif isinstance(item, _Batch):
                yield item
    finally:
        stop.set()
        while t.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(timeout=0.05)


def _store(out: np.ndarray, batch: _Batch, result: torch.Tensor) -> None:
    out[:, batch.rows, batch.cols] = result.float().cpu().numpy().T


def cpu_workers(workers: int | None = None) -> tuple[int, int]:
    """``(concurrent model calls, torch threads each)`` for the cores this process may use."""
    cores = available_cores()
    n = max(1, min(cores, MAX_CPU_WORKERS) if workers is None else workers)
    return n, max(1, cores // n)


def _autocast(device_type: str, bf16: bool) -> AbstractContextManager[object]:
    """bfloat16 autocast when asked for; autocast state is per thread, so enter it in the
    thread that calls the model."""
    return torch.autocast(device_type, dtype=torch.bfloat16) if bf16 else nullcontext()


def _run_cpu(
    batches: Iterator[_Batch],
    model: AbundanceModel,
    out: np.ndarray,
    workers: int | None,
    bf16: bool,
) -> None:
    """``workers`` threads call the model concurrently; torch's thread count is set for the run
    (new threads take it when they start) and given back after."""
    n, threads = cpu_workers(workers)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)

    def forward(batch: _Batch) -> None:
        with _autocast("cpu", bf16):
            result = model(torch.from_numpy(batch.images), torch.from_numpy(batch.ancillary))
        _store(out, batch, result)

    try:
        with ThreadPoolExecutor(n, thread_name_prefix="lulcmap-model") as pool:
            pending: deque[Future[None]] = deque()
            try:
                for batch in batches:
                    pending.append(pool.submit(forward, batch))
                    while len(pending) > n:  # bounded: one waiting batch per worker
                        pending.popleft().result()
                while pending:
                    pending.popleft().result()
            finally:
                for f in pending:
                    f.cancel()
    finally:
        torch.set_num_threads(previous)


def _run_cuda(
    batches: Iterator[_Batch],
    model: AbundanceModel,
    out: np.ndarray,
    device: torch.device,
    bf16: bool,
) -> None:
    """Pinned memory, non-blocking copies, one batch in flight while the next is launched.

    Batch ``k``'s results are read back once the event recorded after its device-to-host copy
    has passed, i.e. while the device already works on batch ``k + 1``.
    """
    in_flight: tuple[_Batch, torch.Tensor, torch.cuda.Event] | None = None
    for batch in batches:
        imgs = torch.from_numpy(batch.images).pin_memory().to(device, non_blocking=True)
        anc = torch.from_numpy(batch.ancillary).pin_memory().to(device, non_blocking=True)
        with _autocast("cuda", bf16):
            result = model(imgs, anc)
        host = torch.empty(result.shape, dtype=torch.float32, pin_memory=True)
        host.copy_(result.float(), non_blocking=True)
        done = torch.cuda.Event()
        done.record(torch.cuda.current_stream(device))
        if in_flight is not None:
            _store_when_done(out, *in_flight)
        in_flight = (batch, host, done)
    if in_flight is not None:
        _store_when_done(out, *in_flight)


def _store_when_done(
    out: np.ndarray, batch: _Batch, host: torch.Tensor, done: torch.cuda.Event
) -> None:
    done.synchronize()
    _store(out, batch, host)


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
    values are missing (NaN), are not predicted: their fractions are NaN. ``on_row(cells)`` is
    called as each row of cells has been read.
    """
    rows, cols = plan.shape
    device = torch.device(options.device)
    fractions = np.full((n_classes, rows, cols), np.nan, np.float32)
    valid_fraction = np.zeros((rows, cols), np.float32)
    if ancillary.ndim != 3 or ancillary.shape[:2] != plan.shape:
        raise ValueError(
            f"ancillary must be (rows, cols, variables) on the {plan.shape} output grid, "
            f"got shape {ancillary.shape}"
        )
    anc_ok = (
        np.all(np.isfinite(ancillary), axis=-1)
        if ancillary.shape[-1]
        else np.ones(plan.shape, bool)
    )
    cutter = _Cutter(
        plan, ancillary, anc_ok, options.batch_size, options.min_valid_fraction, valid_fraction
    )
    with closing(_read_batches(cutter, source, options.prefetch, on_row)) as batches:
        if device.type == "cuda":
            _run_cuda(batches, model, fractions, device, options.bf16)
        else:
            _run_cpu(batches, model, fractions, options.workers, options.bf16)
    n_no_anc = int(np.sum(~anc_ok & (valid_fraction >= options.min_valid_fraction)))
    n_pred = int(np.isfinite(fractions[0]).sum())
    log.info(
        "predicted %d of %d cells (%d below the valid threshold, %d without ancillary)",
        n_pred,
        rows * cols,
        cutter.n_low,
        n_no_anc,
    )
    return InferenceResult(fractions, valid_fraction, n_pred, cutter.n_low, n_no_anc)


__all__ = [
    "AbundanceModel",
    "EngineOptions",
    "InferenceResult",
    "StripSource",
    "cpu_workers",
    "iter_strips",
    "run_inference",
    "tune_malloc",
]
