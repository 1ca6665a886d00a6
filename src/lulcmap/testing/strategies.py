"""Hypothesis strategies for lulcmap's values: grids, chip plans, class fractions, windows.

Needs ``hypothesis`` (the ``test`` extra), so :mod:`lulcmap.testing` does not import this module::

    from hypothesis import given
    from lulcmap.testing.strategies import chip_plans

    @given(chip_plans())
    def test_windows_in_bounds(plan): ...
"""

from __future__ import annotations

import math

import numpy as np
from affine import Affine
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from rasterio.crs import CRS

from lulcmap.chips import ChipPlan
from lulcmap.grid import Grid
from lulcmap.legend import load_legend

PROJECTED_CRS = ("EPSG:32629", "EPSG:32630", "EPSG:32631", "EPSG:3035", "EPSG:32612")
"""Metre CRSs the tests draw from: UTM zones over Spain and Utah, and LAEA Europe."""


@st.composite
def grids(
    draw: st.DrawFn,
    *,
    min_side: int = 1,
    max_side: int = 1500,
    pixel_sizes: st.SearchStrategy[float] | None = None,
    crs: st.SearchStrategy[str] | None = None,
    origins: st.SearchStrategy[tuple[float, float]] | None = None,
) -> Grid:
    """North-up :class:`Grid` s of ``min_side``..``max_side`` rows and columns.

    Defaults: 10 m pixels at ``(300000, 4200000)`` in UTM 30N, as
    :func:`lulcmap.testing.make_grid`; pass strategies to vary the pixel size, CRS or origin.
    """
    shape = (draw(st.integers(min_side, max_side)), draw(st.integers(min_side, max_side)))
    res = draw(pixel_sizes) if pixel_sizes is not None else 10.0
    x0, y0 = draw(origins) if origins is not None else (300_000.0, 4_200_000.0)
    code = draw(crs) if crs is not None else "EPSG:32630"
    return Grid(CRS.from_user_input(code), Affine(res, 0, x0, 0, -res, y0), shape)


def any_grids(*, min_side: int = 1, max_side: int = 1500) -> st.SearchStrategy[Grid]:
    """Grids with any of :data:`PROJECTED_CRS`, 1-1000 m pixels and origins on a 10 m lattice."""
    return grids(
        min_side=min_side,
        max_side=max_side,
        pixel_sizes=st.sampled_from([1.0, 2.5, 10.0, 20.0, 30.0, 60.0, 100.0, 1000.0]),
        crs=st.sampled_from(PROJECTED_CRS),
        origins=st.tuples(
            st.integers(-50_000, 90_000).map(lambda i: i * 10.0),
            st.integers(0, 900_000).map(lambda i: i * 10.0),
        ),
    )


@st.composite
def chip_plans(
    draw: st.DrawFn,
    scenes: st.SearchStrategy[Grid] | None = None,
    *,
    chip_sizes: st.SearchStrategy[int] | None = None,
    stride_fractions: st.SearchStrategy[float] | None = None,
) -> ChipPlan:
    """:class:`ChipPlan` s: a grid, a chip size (default 8-300 px) and a stride of
    ``ceil(chip_size * f)`` px, ``f`` in ``[0.01, 1]`` (every stride a plan accepts)."""
    scene = draw(scenes if scenes is not None else grids())
    size = draw(chip_sizes if chip_sizes is not None else st.integers(8, 300))
    frac = draw(stride_fractions if stride_fractions is not None else st.floats(0.01, 1.0))
    return ChipPlan(scene, chip_size=size, stride=max(1, math.ceil(size * frac)))


@st.composite
def fractions(
    draw: st.DrawFn, n_classes: int = 10, *, n: int | None = None, dtype: type = np.float64
) -> np.ndarray:
    """Class fractions: a vector ``(n_classes,)`` (or ``(n, n_classes)`` rows) of non-negative
    values summing to 1 (to rounding), often with zeros and single-class (pure) rows."""
    rows = 1 if n is None else n
    weights = draw(
        hnp.arrays(
            np.float64,
            (rows, n_classes),
            elements=st.one_of(st.just(0.0), st.floats(1e-3, 1.0), st.just(1.0)),
        )
    )
    empty = weights.sum(axis=1) == 0
    weights[empty, draw(st.integers(0, n_classes - 1))] = 1.0  # an all-zero row becomes pure
    out = (weights / weights.sum(axis=1, keepdims=True)).astype(dtype)
    return out[0] if n is None else out


def class_indexes(legend: str = "sipna", level: str = "N2") -> st.SearchStrategy[int]:
    """Index of a class of ``legend`` at ``level`` (0-based, legend order)."""
    return st.integers(0, len(load_legend(legend).classes(level)) - 1)


@st.composite
def windows(draw: st.DrawFn, shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """A fractional pixel window ``(row0, col0, row1, col1)`` inside a ``shape`` grid, with
    ``row0 <= row1`` and ``col0 <= col1`` (possibly empty)."""
    h, w = shape
    r0, r1 = sorted(draw(st.floats(0, h)) for _ in range(2))
    c0, c1 = sorted(draw(st.floats(0, w)) for _ in range(2))
    return r0, c0, r1, c1


__all__ = [
    "PROJECTED_CRS",
    "any_grids",
    "chip_plans",
    "class_indexes",
    "fractions",
    "grids",
    "windows",
]
