"""What raster and polygon references share: the protocol, N2 areas summed into fractions,
and the errors they raise (:mod:`lulcmap.training.reference`, :mod:`lulcmap.training.vector`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from rasterio.crs import CRS

from lulcmap.errors import CoverageError, InputDataError
from lulcmap.grid import Bounds, Grid
from lulcmap.legend import Code, Crosswalk

NODATA_INDEX = -3
"""N2 index of reference no data and of area off the reference (it counts as unmapped)."""
VECTOR_SUFFIXES = frozenset(
    {".gpkg", ".shp", ".parquet", ".geoparquet", ".geojson", ".json", ".fgb", ".gml", ".sqlite"}
)


class Reference(Protocol):
    """What :func:`lulcmap.training.prepare.prepare_dataset` needs from a reference."""

    error_bound: float

    def fractions(self, footprints: np.ndarray, crs: CRS) -> tuple[np.ndarray, np.ndarray]: ...

    def describe(self) -> dict[str, object]: ...

    def close(self) -> None: ...


def fmt_bounds(bounds: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.10g}" for v in bounds) + ")"


def overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def no_overlap_error(what: str, have: Bounds, scene: str, grid: Grid) -> CoverageError:
    return CoverageError(
        f"{what} does not overlap scene {scene}: in the scene's CRS ({grid.crs.to_string()}) "
        f"the reference spans {fmt_bounds(have)} and the scene {fmt_bounds(grid.bounds)} "
        "(left, bottom, right, top); pass the reference map of the scene's area"
    )


def unknown_codes_error(what: str, crosswalk: Crosswalk, found: dict[Code, str]) -> InputDataError:
    """One line naming every code missing from ``crosswalk`` with how much of it was found."""
    listed = ", ".join(f"{code} ({amount})" for code, amount in found.items())
    return InputDataError(
        f"{what} has codes missing from crosswalk {crosswalk.id!r} ({crosswalk.path}): "
        f"{listed} inside the scenes; add each to a copy of the crosswalk, mapping it to an N2 "
        f"class of legend {crosswalk.legend.id!r} or to `unmapped`, and pass that file with "
        "--crosswalk"
    )


def accumulate(index: np.ndarray, weights: np.ndarray, n_classes: int) -> np.ndarray:
    """Summed weight per N2 index, shape ``(n_classes + 3,)``: no data, unknown, unmapped, N2."""
    return np.bincount(
        (index.ravel() - NODATA_INDEX).astype(np.intp),
        weights=weights.ravel(),
        minlength=n_classes - NODATA_INDEX,
    )


def split_sums(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(n2_area, unmapped)`` from :func:`accumulate` rows ``(n, n_classes + 3)``."""
    total = sums.sum(axis=1, keepdims=True)
    total[total == 0] = 1.0
    frac = sums / total
    return frac[:, -NODATA_INDEX:], frac[:, :-NODATA_INDEX].sum(axis=1)


def segment_length(crs: CRS, metres: float) -> float:
    """``metres`` in ``crs`` units (degrees at the equator for geographic CRSs)."""
    if crs.is_geographic:
        return metres / 111_320.0
    return metres / float(crs.linear_units_factor[1])


__all__ = [
    "NODATA_INDEX",
    "VECTOR_SUFFIXES",
    "Reference",
    "accumulate",
    "fmt_bounds",
    "no_overlap_error",
    "overlaps",
    "segment_length",
    "split_sums",
    "unknown_codes_error",
]
