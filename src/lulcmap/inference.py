"""The streaming engine: chip stream -> batches -> model runtime -> abundances.

A background thread reads the scene one chip row ("strip") at a time (:mod:`lulcmap.stream`:
each scene row is decoded once, whatever the stride), cuts the strip's accepted chips straight
into batch arrays (one copy per chip) and hands full batches over a bounded queue
(:func:`lulcmap.stream.read_ahead`). The model runs them through the one batch runner,
:func:`lulcmap.model.runtime.run_batches`: concurrent single-threaded calls on CPU, pinned
memory and one batch in flight on CUDA, bfloat16 autocast when asked for.

Memory is bounded by ``prefetch`` batches plus those in flight, whatever the scene size; only
the output grid (a few values per cell) is held whole.

Chips whose valid fraction is under the threshold, or whose ancillary values are missing, are
not predicted. Invalid pixels inside an accepted chip are fed as 0.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from lulcmap.chips import ChipPlan
from lulcmap.model.runtime import Batch, RunOptions, run_batches
from lulcmap.process import tune_malloc  # re-exported: its old home
from lulcmap.stream import ChipRow, StripSource, chip_rows, read_ahead

log = logging.getLogger(__name__)


class AbundanceModel(Protocol):
    """Maps uint8 chips ``(N,3,S,S)`` + ancillary ``(N,A)`` to fractions ``(N,C)``."""

    def __call__(self, images: torch.Tensor, ancillary: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class EngineOptions:
    """How the engine runs.

    Attributes:
        batch_size: chips per model call.
        min_valid_fraction: chips with fewer valid pixels become nodata cells.
        prefetch: batches read ahead of the model.
        device: ``cpu`` or ``cuda`` (``cuda:N``).
        workers: concurrent model calls on CPU (None: one per core, at most
            :data:`~lulcmap.model.runtime.MAX_CPU_WORKERS`, sharing the cores' torch threads);
            CUDA uses one.
        bf16: run the model under bfloat16 autocast (CUDA or CPU); off: float32.
    """

    batch_size: int = 64
    min_valid_fraction: float = 0.5
    prefetch: int = 3
    device: str = "cpu"
    workers: int | None = None
    bf16: bool = False

    @classmethod
    def for_run(
        cls, run: RunOptions, *, batch_size: int, min_valid_fraction: float
    ) -> EngineOptions:
        """The engine's options for a model run as ``run`` says (see
        :func:`lulcmap.model.runtime.run_options`)."""
        return cls(
            batch_size, min_valid_fraction, device=run.device, workers=run.workers, bf16=run.bf16
        )

    @property
    def run(self) -> RunOptions:
        return RunOptions(device=self.device, workers=self.workers, bf16=self.bf16)


@dataclass(frozen=True)
class InferenceResult:
    fractions: np.ndarray  # (C, rows, cols) float32, NaN where not predicted
    valid_fraction: np.ndarray  # (rows, cols) float32
    n_predicted: int
    n_low_valid: int
    n_no_ancillary: int


@dataclass
class _RowsDone:
    cells: int  # cells of the chip row just read (for progress)


@dataclass
class _Cutter:
    """Cuts accepted chips of each strip into batch arrays; records valid fractions.

    A batch's inputs are ``images (n, 3, S, S)`` uint8 and ``ancillary (n, A)`` float32; its
    key is the output ``(rows, cols)`` of its chips."""

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

    def add_row(self, strip: ChipRow) -> Iterator[Batch]:
        cols, n_low = accepted_cells(strip, self.valid_fraction, self.min_valid, self.has_ancillary)
        self.n_low += n_low
        for c in cols.tolist():
            self._images[self._n] = strip.chip(c)
            self._where.append((strip.row, c))
            self._n += 1
            if self._n == self.batch_size:
                yield self.flush()

    def flush(self) -> Batch:
        rows, cols = np.array(self._where, np.int64).reshape(-1, 2).T
        anc = self.ancillary[rows, cols].astype(np.float32)
        batch = Batch((self._images[: self._n], anc), key=(rows, cols))
        self._images, self._n, self._where = self._new_images(), 0, []
        return batch

    def finish(self) -> Iterator[Batch]:
        """The last, partly filled batch, if any."""
        if self._n:
            yield self.flush()


class RowCutter(Protocol):
    """Cuts each chip row of a stream into model batches (the chip cutter, the pixel lattice)."""

    plan: ChipPlan

    def add_row(self, strip: ChipRow) -> Iterator[Batch]: ...

    def finish(self) -> Iterator[Batch]: ...


def accepted_cells(
    strip: ChipRow, valid_fraction: np.ndarray, min_valid: float, ok: np.ndarray
) -> tuple[np.ndarray, int]:
    """Records the strip's valid fractions in ``valid_fraction``; returns the columns of its
    cells to predict (valid enough and ``ok``) and how many were below ``min_valid``."""
    vf = strip.valid_fractions().astype(np.float32)
    valid_fraction[strip.row] = vf
    low = vf < min_valid
    return np.flatnonzero(~low & ok[strip.row]), int(low.sum())


def _produce(cutter: RowCutter, source: StripSource) -> Iterator[Batch | _RowsDone]:
    """The reader thread's work: batches, and a marker as each chip row has been read."""
    cols = cutter.plan.shape[1]
    for strip in chip_rows(source, cutter.plan):
        yield from cutter.add_row(strip)
        yield _RowsDone(cols)
    yield from cutter.finish()


def _batches(
    items: Iterable[Batch | _RowsDone], on_row: Callable[[int], None] | None
) -> Iterator[Batch]:
    """The batches of ``items``; ``on_row(cells)`` as each chip row is read."""
    for item in items:
        if isinstance(item, _RowsDone):
            if on_row is not None:
                on_row(item.cells)
        else:
            yield item


def stream_cells(
    source: StripSource,
    cutter: RowCutter,
    model: Callable[..., object],
    fractions: np.ndarray,
    *,
    options: EngineOptions,
    on_row: Callable[[int], None] | None = None,
) -> None:
    """Reads ``source`` a chip row at a time in a thread, cuts each row with ``cutter``, runs
    the batches through ``model`` and stores each batch's values at its cells of ``fractions``
    ``(classes, rows, cols)``. The chip engine and the pixel engine both run this way."""

    def store(batch: Batch, values: np.ndarray) -> None:
        rows, cols = batch.key
        fractions[:, rows, cols] = values.T

    with closing(read_ahead(_produce(cutter, source), options.prefetch)) as items:
        run_batches(
            model,  # type: ignore[arg-type]
            _batches(items, on_row),
            store,
            n_outputs=fractions.shape[0],
            options=options.run,
        )


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

    stream_cells(source, cutter, model, fractions, options=options, on_row=on_row)
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
    "RowCutter",
    "accepted_cells",
    "run_inference",
    "stream_cells",
    "tune_malloc",
]
