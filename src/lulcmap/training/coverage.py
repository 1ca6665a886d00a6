"""Exact coverage of a polygon over the pixels of a grid: the weight of every pixel it touches.

Everything here works in *pixel space*: column ``x`` and row ``y`` of a north-up grid, where
pixel ``(r, c)`` is the unit square ``[c, c + 1] x [r, r + 1]``. The weight of a pixel is the
area of its intersection with the polygon, in pixel units (0..1):

* an axis-aligned rectangle (footprint and reference in one CRS, or a CRS change that is a
  shift or scaling) gives separable weights, the product of the 1-D overlaps of its sides
  with every column and row (:func:`rectangle_coverage`);
* any other simple polygon (a footprint reprojected into the reference CRS, its edges densified)
  is split into *boundary* pixels, those its edges pass through, found exactly by cutting every
  edge at the grid lines it crosses, whose weight is the area of their intersection with the
  polygon (shapely), and all other pixels, which lie wholly inside or wholly outside the
  polygon and get 1 or 0 from a test of their centre (:func:`polygon_coverage`).

Both are exact up to floating point (about 1e-12 of a pixel); the only approximation left is
the densification of reprojected edges, whose error the caller bounds
(:func:`footprint_rings`).
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from pyproj import Transformer
from rasterio.crs import CRS

EDGE_POINTS = 64
"""Points per footprint edge when a footprint is reprojected into the reference CRS."""

Coverage = tuple[int, int, np.ndarray]
"""``(row0, col0, weights)``: weights ``(h, w)`` of pixels ``row0.., col0..`` in pixel units."""


def _overlaps(lo: float, hi: float) -> tuple[int, np.ndarray]:
    """First pixel index and 1-D overlap of ``[lo, hi]`` with each pixel ``[k, k + 1]``."""
    k0, k1 = math.floor(lo), max(math.ceil(hi), math.floor(lo) + 1)
    k = np.arange(k0, k1, dtype=np.float64)
    return k0, np.clip(np.minimum(hi, k + 1) - np.maximum(lo, k), 0.0, 1.0)


def rectangle_coverage(x0: float, y0: float, x1: float, y1: float) -> Coverage:
    """Exact weights of the axis-aligned rectangle ``[x0, x1] x [y0, y1]`` (pixel space)."""
    col0, wx = _overlaps(min(x0, x1), max(x0, x1))
    row0, wy = _overlaps(min(y0, y1), max(y0, y1))
    return row0, col0, np.outer(wy, wx)


def is_rectangle(ring: np.ndarray, *, tol: float = 1e-9) -> bool:
    """Whether the closed ``ring`` ``(n, 2)`` runs along its bounding box only (a rectangle)."""
    x, y = ring[:, 0], ring[:, 1]
    on_left_right = np.minimum(np.abs(x - x.min()), np.abs(x - x.max())) <= tol
    on_bottom_top = np.minimum(np.abs(y - y.min()), np.abs(y - y.max())) <= tol
    vertical = (np.abs(np.diff(x)) <= tol) & on_left_right[1:] & on_left_right[:-1]
    horizontal = (np.abs(np.diff(y)) <= tol) & on_bottom_top[1:] & on_bottom_top[:-1]
    return bool(np.all(vertical | horizontal))


def boundary_pixels(ring: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the pixels whose interior the closed ``ring`` ``(n, 2)`` passes through.

    Every edge is cut at the parameters where it crosses an integer ``x`` or ``y``; between two
    consecutive cuts it stays in one pixel, the pixel of the piece's midpoint. (A piece running
    along a grid line lands in one of its two neighbours; both are then wholly inside or
    outside, so classifying either by its centre is still exact.)
    """
    p, q = ring[:-1], ring[1:]
    seg, t = [np.arange(len(p)), np.arange(len(p))], [np.zeros(len(p)), np.ones(len(p))]
    for axis in (0, 1):
        a, b = p[:, axis], q[:, axis]
        lo, hi = np.floor(np.minimum(a, b)) + 1, np.ceil(np.maximum(a, b)) - 1
        count = np.maximum(hi - lo + 1, 0).astype(np.int64)
        ids = np.repeat(np.arange(len(p)), count)
        start = np.repeat(np.cumsum(count) - count, count)
        k = np.repeat(lo, count) + (np.arange(count.sum()) - start)
        seg.append(ids)
        t.append((k - a[ids]) / (b[ids] - a[ids]))
    ids, ts = np.concatenate(seg), np.concatenate(t)
    order = np.lexsort((ts, ids))
    ids, ts = ids[order], ts[order]
    same = ids[1:] == ids[:-1]
    mid = (ts[1:] + ts[:-1])[same] / 2
    i = ids[1:][same]
    xy = p[i] + mid[:, None] * (q[i] - p[i])
    pix = np.unique(np.floor(xy).astype(np.int64), axis=0)
    return pix[:, 1], pix[:, 0]


def polygon_coverage(ring: np.ndarray) -> Coverage:
    """Exact weights of the simple polygon with closed exterior ``ring`` ``(n, 2)`` (pixel space).

    Rectangles take the separable path; otherwise boundary pixels get the area of their
    intersection with the polygon, the others 1 or 0 by their centre.
    """
    ring = np.asarray(ring, dtype=np.float64)
    if is_rectangle(ring):
        return rectangle_coverage(
            ring[:, 0].min(), ring[:, 1].min(), ring[:, 0].max(), ring[:, 1].max()
        )
    col0, row0 = math.floor(ring[:, 0].min()), math.floor(ring[:, 1].min())
    local = ring - (col0, row0)  # small coordinates keep the intersection areas exact
    h = max(math.ceil(local[:, 1].max()), 1)
    w = max(math.ceil(local[:, 0].max()), 1)
    polygon = shapely.Polygon(local)
    shapely.prepare(polygon)
    rows, cols = boundary_pixels(local)
    keep = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    rows, cols = rows[keep], cols[keep]
    edge = np.zeros((h, w), bool)
    edge[rows, cols] = True
    rr, cc = np.nonzero(~edge)
    weights = np.zeros((h, w))
    weights[rr, cc] = shapely.contains_xy(polygon, cc + 0.5, rr + 0.5)
    boxes = shapely.box(cols, rows, cols + 1, rows + 1)
    weights[rows, cols] = shapely.area(shapely.intersection(boxes, polygon))
    return row0, col0, weights


# -- footprints in the reference's pixel space ---------------------------------------------------
def _ring_points(footprints: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Closed rings ``(k, 4n + 1)`` of x and y along each footprint's edges, anticlockwise."""
    left, bottom, right, top = (footprints[:, i : i + 1] for i in range(4))
    t = np.arange(n) / n
    x = np.concatenate(
        [left + (right - left) * t, right + 0 * t, right - (right - left) * t, left + 0 * t, left],
        axis=1,
    )
    y = np.concatenate(
        [
            bottom + 0 * t,
            bottom + (top - bottom) * t,
            top + 0 * t,
            top - (top - bottom) * t,
            bottom,
        ],
        axis=1,
    )
    return x, y


def footprint_rings(
    footprints: np.ndarray, crs: CRS, dst_crs: CRS, dst_transform: object, *, n: int = EDGE_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """Footprints ``(k, 4)`` in ``crs`` as closed rings ``(k, m, 2)`` in the pixel space of a grid
    (``dst_crs``, ``dst_transform``), and a bound per footprint on the error of its fractions.

    The bound is ``2 * perimeter * deviation / area``, with ``deviation`` the largest distance
    (pixels) between a densified edge's midpoint and the true image of that midpoint: the true
    footprint and the polygon differ by at most ``perimeter * deviation`` in area, which moves
    any fraction by at most twice that over the area. Zero when the CRSs are equal.
    """
    inv = ~dst_transform  # type: ignore[operator]
    same = CRS.from_user_input(crs) == CRS.from_user_input(dst_crs)
    x, y = _ring_points(footprints, 1 if same else n)
    if same:
        cols, rows = inv * (x, y)
        return np.stack([cols, rows], axis=-1), np.zeros(len(footprints))
    to_dst = Transformer.from_crs(crs, dst_crs, always_xy=True)
    cols, rows = inv * to_dst.transform(x, y)
    mid_c, mid_r = inv * to_dst.transform((x[:, 1:] + x[:, :-1]) / 2, (y[:, 1:] + y[:, :-1]) / 2)
    chord_c, chord_r = (cols[:, 1:] + cols[:, :-1]) / 2, (rows[:, 1:] + rows[:, :-1]) / 2
    deviation = np.hypot(mid_c - chord_c, mid_r - chord_r).max(axis=1)
    perimeter = np.hypot(np.diff(cols), np.diff(rows)).sum(axis=1)
    area = 0.5 * np.abs(np.sum(cols[:, :-1] * rows[:, 1:] - cols[:, 1:] * rows[:, :-1], axis=1))
    return np.stack([cols, rows], axis=-1), 2 * perimeter * deviation / np.maximum(area, 1e-300)


def row_areas(transform: object, crs: CRS, row0: int, rows: int) -> np.ndarray:
    """Relative pixel area of each row: 1 in projected CRSs, ``cos`` latitude (exact on the
    sphere: ``(sin lat1 - sin lat0) / (lat1 - lat0)``) in geographic ones."""
    if not crs.is_geographic:
        return np.ones(rows)
    t = transform
    edges = np.radians(t.f + (row0 + np.arange(rows + 1)) * t.e)  # type: ignore[attr-defined]
    return np.abs(np.diff(np.sin(edges)) / np.diff(edges))


__all__ = [
    "EDGE_POINTS",
    "Coverage",
    "boundary_pixels",
    "footprint_rings",
    "is_rectangle",
    "polygon_coverage",
    "rectangle_coverage",
    "row_areas",
]
