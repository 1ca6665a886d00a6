"""The one chip stream: a scene read one chip row ("strip") at a time and cut into chips.

``predict`` (:mod:`lulcmap.inference`) and ``prepare`` (:mod:`lulcmap.training.prepare`) read
their chips here, so both see the very same pixels:

rows   = :func:`chip_rows`   the strip under each row of a :class:`~lulcmap.chips.ChipPlan`,
                             through a rolling buffer: each scene row is decoded once, whatever
                             the stride
chips  = :meth:`ChipRow.chip` / :meth:`ChipRow.chips`  a row's chips, mirrored to full size
valid  = :meth:`ChipRow.valid_fractions`  the valid fraction of every chip of the row
ahead  = :func:`read_ahead`  any such stream run in a background thread, a bounded queue ahead

A scene smaller than one chip along an axis is mirrored at its edges (``numpy.pad`` with mode
``reflect``) to fill the chip, so the model sees a full chip of the same texture; the valid
fraction counts only real scene pixels.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from lulcmap.chips import ChipPlan
from lulcmap.grid import Grid

T = TypeVar("T")


class StripSource(Protocol):
    """A scene read one band of rows at a time (see :class:`lulcmap.io.scene.Scene`)."""

    @property
    def grid(self) -> Grid: ...

    def read_strip(self, row_off: int, height: int) -> tuple[np.ndarray, np.ndarray]: ...


def pad_chips(chips: np.ndarray, size: int) -> np.ndarray:
    """Mirror chips ``(N,3,h,w)`` at their edges up to ``size x size``."""
    h, w = chips.shape[-2:]
    if h == size and w == size:
        return chips
    ph, pw = size - h, size - w
    pad = ((0, 0), (0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
    return np.pad(chips, pad, mode="reflect" if min(h, w) > 1 else "edge")


@dataclass(frozen=True)
class ChipRow:
    """The strip under output row ``row`` of ``plan``: ``rgb (3, h, W)`` and ``valid (h, W)``,
    ``h`` being the plan's chip height, ``W`` the scene's width."""

    plan: ChipPlan
    row: int
    rgb: np.ndarray
    valid: np.ndarray

    @property
    def row_off(self) -> int:
        """First scene row of the strip."""
        return int(self.plan.row_offsets[self.row])

    def valid_fractions(self, cols: np.ndarray | None = None) -> np.ndarray:
        """Valid fraction (float64) of the chip of every output column, or of columns ``cols``."""
        w = self.plan.chip_shape[1]
        offs = self.plan.col_offsets if cols is None else self.plan.col_offsets[cols]
        csum = np.concatenate([[0], np.cumsum(self.valid.sum(axis=0, dtype=np.int64))])
        return (csum[offs + w] - csum[offs]) / (self.valid.shape[0] * w)

    def chip(self, col: int) -> np.ndarray:
        """The chip ``(3, S, S)`` of output column ``col``: a view of the strip, or a mirrored
        copy where the scene is smaller than a chip."""
        c0, w = int(self.plan.col_offsets[col]), self.plan.chip_shape[1]
        chip = self.rgb[:, :, c0 : c0 + w]
        if chip.shape[-2:] != (self.plan.chip_size,) * 2:
            chip = pad_chips(chip[None], self.plan.chip_size)[0]
        return chip

    def chips(self, cols: np.ndarray) -> np.ndarray:
        """The chips ``(n, 3, S, S)`` of output columns ``cols``, in a new array."""
        h, w = self.plan.chip_shape
        offs = self.plan.col_offsets[np.asarray(cols, np.int64)].tolist()
        cut = [self.rgb[:, :, c : c + w] for c in offs]
        return pad_chips(
            np.stack(cut) if cut else np.empty((0, 3, h, w), self.rgb.dtype), self.plan.chip_size
        )


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


def chip_rows(source: StripSource, plan: ChipPlan, *, distinct: bool = False) -> Iterator[ChipRow]:
    """The strip of every output row of ``plan``, in order; each scene row is decoded once.

    ``distinct``: only the first output row of each distinct strip (rows clamped at the scene's
    edges read the same pixels as their neighbour). This is all ``predict`` reads:
    ``benchmarks/bench_tile.py`` times it alone as "read-only".
    """
    strips = _RollingStrips(source)
    h, previous = plan.chip_shape[0], None
    for row, off in enumerate(plan.row_offsets.tolist()):
        if distinct and off == previous:
            continue
        rgb, valid = strips.get(int(off), h)
        previous = off
        yield ChipRow(plan, row, rgb, valid)


@dataclass(frozen=True)
class _Raised:
    exc: BaseException


_END = object()


def read_ahead(
    items: Iterable[T], depth: int, *, name: str = "lulcmap-reader"
) -> Generator[T, None, None]:
    """``items``, produced in a background thread at most ``depth`` ahead of the consumer.

    An exception in the producer is raised in the consumer; closing the generator (or leaving
    the loop) stops the producer at its next item.
    """
    q: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put(item)
            q.put(_END)
        except BaseException as exc:  # handed to the consumer, re-raised there
            q.put(_Raised(exc))

    thread = threading.Thread(target=produce, daemon=True, name=name)
    thread.start()
    try:
        while (item := q.get()) is not _END:
            if isinstance(item, _Raised):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


__all__ = ["ChipRow", "StripSource", "chip_rows", "pad_chips", "read_ahead"]
