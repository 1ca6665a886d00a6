"""Exact means of rasters over areas: over footprint rectangles with edges anywhere (summed-area
tables, :func:`footprint_means`) and over blocks of whole pixels (:func:`block_means`)."""

from __future__ import annotations

import math

import numpy as np

from lulcmap.grid import Grid


def footprint_means(data: np.ndarray, grid: Grid, footprints: np.ndarray) -> np.ndarray:
    """Exact mean of ``data`` (pixels constant, NaN = no data) over each footprint.

    ``footprints`` has shape ``(..., 4)``: bounds ``(left, bottom, right, top)`` in ``grid``'s
    CRS, edges anywhere (fractional pixels). The integral of a piecewise-constant raster over
    ``[0, r] x [0, c]`` is the bilinear interpolation of its summed-area table, so each mean
    is ``sum(value) / sum(valid area)`` from two tables. NaN where a footprint has no data.
    """
    r0, c0, r1, c1 = _pixel_rects(grid, footprints)
    valid = ~np.isnan(data)
    if valid.all():  # the valid area is the rectangle's: one table instead of two
        offset = float(np.mean(data))  # keeps the sums small
        total = _rect_sums(_summed_area(data - offset), r0, c0, r1, c1)
        count = (r1 - r0) * (c1 - c0)
    else:
        offset = float(np.mean(data[valid])) if valid.any() else 0.0
        total = _rect_sums(_summed_area(np.where(valid, data - offset, 0.0)), r0, c0, r1, c1)
        count = _rect_sums(_summed_area(valid.astype(np.float64)), r0, c0, r1, c1)
    ok = count > 1e-6
    return np.where(ok, offset + total / np.where(ok, count, 1.0), np.nan)


def block_means(a: np.ndarray, sy: int, sx: int) -> np.ndarray:
    """Mean of the non-NaN pixels of each ``sy`` x ``sx`` block, float64 (the last blocks may be
    partial); NaN where a block has none."""
    h, w = a.shape
    rows, cols = math.ceil(h / sy), math.ceil(w / sx)
    if (h, w) != (rows * sy, cols * sx):
        padded = np.full((rows * sy, cols * sx), np.nan, a.dtype)
        padded[:h, :w] = a
        a = padded
    nan = np.isnan(a)
    if not nan.any():
        return _block_sums(a, sy, sx) / (sy * sx)
    count = _block_sums(~nan, sy, sx)
    total = _block_sums(np.where(nan, 0, a), sy, sx)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _block_sums(a: np.ndarray, sy: int, sx: int) -> np.ndarray:
    """Sums (float64) over ``sy`` x ``sx`` blocks of ``a``, whose shape is a multiple of them:
    ``sy + sx`` strided additions, faster than summing a 4-d reshape."""
    rows = a[0::sy].astype(np.float64)
    for i in range(1, sy):
        rows += a[i::sy]
    out = rows[:, 0::sx].copy()
    for j in range(1, sx):
        out += rows[:, j::sx]
    return out


def _pixel_rects(grid: Grid, footprints: np.ndarray) -> tuple[np.ndarray, ...]:
    """Fractional pixel rectangles ``(r0, c0, r1, c1)`` of bounds, clipped to the grid."""
    inv = ~grid.transform
    ca, ra = inv @ (footprints[..., 0], footprints[..., 3])
    cb, rb = inv @ (footprints[..., 2], footprints[..., 1])
    h, w = grid.shape
    return (
        np.clip(np.minimum(ra, rb), 0, h), np.clip(np.minimum(ca, cb), 0, w),
        np.clip(np.maximum(ra, rb), 0, h), np.clip(np.maximum(ca, cb), 0, w),
    )  # fmt: skip


def _summed_area(a: np.ndarray) -> np.ndarray:
    """Summed-area table with a zero first row and column: ``S[i, j] = a[:i, :j].sum()``."""
    table = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
    np.cumsum(np.cumsum(a, axis=0), axis=1, out=table[1:, 1:])
    return table


def _integral(table: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Integral over ``[0, r] x [0, c]``: bilinear interpolation of the summed-area table."""
    i = np.clip(np.floor(r).astype(np.intp), 0, table.shape[0] - 2)
    j = np.clip(np.floor(c).astype(np.intp), 0, table.shape[1] - 2)
    fr, fc = r - i, c - j
    top = table[i, j] * (1 - fc) + table[i, j + 1] * fc
    bottom = table[i + 1, j] * (1 - fc) + table[i + 1, j + 1] * fc
    return top * (1 - fr) + bottom * fr


def _rect_sums(table: np.ndarray, r0: np.ndarray, c0: np.ndarray, r1: np.ndarray,
               c1: np.ndarray) -> np.ndarray:  # fmt: skip
    """Integral of the tabled raster over each rectangle ``[r0, r1] x [c0, c1]``."""
    return (
        _integral(table, r1, c1) - _integral(table, r0, c1)
        - _integral(table, r1, c0) + _integral(table, r0, c0)
    )  # fmt: skip


__all__ = ["block_means", "footprint_means"]
