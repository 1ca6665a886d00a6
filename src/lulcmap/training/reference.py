"""Reference land-cover maps -> exact N2 area fractions of chip footprints.

A reference is a categorical raster or a polygon layer (:mod:`lulcmap.training.vector`), in any
CRS and resolution, whose codes a :class:`~lulcmap.legend.Crosswalk` maps onto N2 classes.
:func:`open_reference` opens it, checks that it overlaps every scene and that every code found
over the scenes is in the crosswalk, and returns an object whose ``fractions(footprints, crs)``
gives, per footprint, ``n2_area`` (the fraction of the footprint's area in each N2 class) and
``unmapped`` (the rest: codes mapped to ``unmapped``, no data, and area off the reference), so
that ``n2_area.sum(axis=1) + unmapped == 1``.

Raster references are weighted at their own resolution, never resampled: each footprint is
taken into the reference CRS as a polygon (edges densified to ``EDGE_POINTS`` points, the
deviation of the true curved edges from the densified ones measured and turned into a bound on
the fractions, :attr:`RasterReference.error_bound`), and every reference pixel it touches
weighs the exact area of its intersection with it (:mod:`lulcmap.training.coverage`). In a
geographic reference CRS each row's weight is its pixel area on the sphere (``cos`` latitude).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np
from rasterio.crs import CRS
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from lulcmap.errors import InputDataError
from lulcmap.grid import Grid
from lulcmap.io.env import gdal_env
from lulcmap.io.rasters import extent, open_raster, window_around
from lulcmap.legend import UNKNOWN, Code, Crosswalk, normalise_code
from lulcmap.training.coverage import footprint_rings, polygon_coverage, row_areas
from lulcmap.training.fractions import (
    NODATA_INDEX,
    VECTOR_SUFFIXES,
    Reference,
    accumulate,
    no_overlap_error,
    overlaps,
    split_sums,
    unknown_codes_error,
)

log = logging.getLogger(__name__)

SURVEY_ROWS = 1024
"""Rows of the reference read at a time when its codes are counted."""


# -- raster references ---------------------------------------------------------------------------
class RasterReference:
    """A categorical raster reference (band 1), read one footprint window at a time."""

    def __init__(self, path: Path, crosswalk: Crosswalk) -> None:
        self.path, self.crosswalk, self.error_bound = path, crosswalk, 0.0
        self._stack = ExitStack()
        self.ds = self._stack.enter_context(open_raster(path, what="reference"))
        t = self.ds.transform
        if t.b != 0 or t.d != 0:
            self.close()
            raise InputDataError(
                f"reference {path} is rotated (geotransform {tuple(t)[:6]}); warp it north-up "
                f"first, e.g. `gdalwarp {path} reference_north_up.tif`"
            )
        self.what = f"reference {path}"

    def check(self, grids: Sequence[tuple[str, Grid]]) -> None:
        """Every scene overlaps the raster, and every code found over them is in the crosswalk."""
        for name, grid in grids:
            have = transform_bounds(self.ds.crs, grid.crs, *extent(self.ds), densify_pts=21)
            if not overlaps(have, grid.bounds):
                raise no_overlap_error(self.what, have, name, grid)
        counts: Counter[Code] = Counter()
        for _, grid in grids:
            counts.update(self._survey(grid))
        index = self.crosswalk.n2_index(np.array(list(counts), dtype=np.float64))
        unknown = {
            c: f"{counts[c]:,} px" for c, i in zip(counts, index, strict=True) if i == UNKNOWN
        }
        if unknown:
            raise unknown_codes_error(self.what, self.crosswalk, unknown)
        log.info("reference codes over the scenes (pixels): %s", dict(sorted(counts.items())))

    def _survey(self, grid: Grid) -> Counter[Code]:
        """Pixels of each code in the reference window over ``grid`` (no data left out)."""
        inside = transform_bounds(grid.crs, self.ds.crs, *grid.bounds, densify_pts=21)
        window = window_around(self.ds, inside, margin=1)
        counts: Counter[Code] = Counter()
        for r in range(0, int(window.height), SURVEY_ROWS):
            part = Window(
                window.col_off,
                window.row_off + r,
                window.width,
                min(SURVEY_ROWS, window.height - r),
            )
            with gdal_env():
                data = self.ds.read(1, window=part, masked=True)
            values, n = np.unique(np.ma.compressed(data), return_counts=True)
            counts.update({normalise_code(v): int(k) for v, k in zip(values, n, strict=True)})
        return counts

    def fractions(self, footprints: np.ndarray, crs: CRS) -> tuple[np.ndarray, np.ndarray]:
        """``(n2_area (k, n2), unmapped (k,))`` of footprints ``(k, 4)`` in ``crs``."""
        n2 = len(self.crosswalk.legend.n2)
        rings, bound = footprint_rings(footprints, crs, self.ds.crs, self.ds.transform)
        if len(bound):
            self.error_bound = max(self.error_bound, float(bound.max()))
        sums = np.zeros((len(footprints), n2 - NODATA_INDEX))
        for k, ring in enumerate(rings):
            row0, col0, weights = polygon_coverage(ring)
            weights *= row_areas(self.ds.transform, self.ds.crs, row0, weights.shape[0])[:, None]
            sums[k] = accumulate(self._indices(row0, col0, weights.shape), weights, n2)
        return split_sums(sums)

    def _indices(self, row0: int, col0: int, shape: tuple[int, int]) -> np.ndarray:
        """N2 index of every pixel of a window, which may reach off the raster (no data there)."""
        out = np.full(shape, NODATA_INDEX, dtype=np.int16)
        r0, c0 = max(row0, 0), max(col0, 0)
        r1, c1 = min(row0 + shape[0], self.ds.height), min(col0 + shape[1], self.ds.width)
        if r1 <= r0 or c1 <= c0:
            return out
        with gdal_env():
            data = self.ds.read(1, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
        index = self.crosswalk.n2_index(data.data)
        index[np.ma.getmaskarray(data)] = NODATA_INDEX
        if (index == UNKNOWN).any():
            codes = Counter(normalise_code(v) for v in data.data[index == UNKNOWN].tolist())
            raise unknown_codes_error(
                self.what, self.crosswalk, {c: f"{n:,} px" for c, n in codes.items()}
            )
        out[r0 - row0 : r1 - row0, c0 - col0 : c1 - col0] = index
        return out

    def describe(self) -> dict[str, object]:
        res = (abs(self.ds.transform.a), abs(self.ds.transform.e))
        return {
            "path": str(self.path),
            "kind": "raster",
            "crs": self.ds.crs.to_string(),
            "resolution": list(res),
            "nodata": self.ds.nodata,
        }

    def close(self) -> None:
        self._stack.close()


def open_reference(
    path: str | Path,
    crosswalk: Crosswalk,
    grids: Sequence[tuple[str, Grid]],
    *,
    class_column: str | None = None,
) -> Reference:
    """Open a raster or polygon reference for the scenes ``(name, grid)`` and check it.

    Raises:
        InputNotFoundError, NotARasterError, MissingCRSError: the file cannot be used.
        CoverageError: a scene does not overlap the reference.
        InputDataError: codes over the scenes are missing from the crosswalk (listed, with
            their pixel counts or polygon counts and areas), or polygons overlap.
        ConfigError: the class column is missing (the columns are listed).
    """
    path = Path(path)
    if path.suffix.lower() in VECTOR_SUFFIXES:
        from lulcmap.training.vector import PolygonReference

        return PolygonReference(path, crosswalk, grids, class_column=class_column)
    if class_column is not None:
        log.warning("--class-column %s is ignored: reference %s is a raster", class_column, path)
    reference = RasterReference(path, crosswalk)
    try:
        reference.check(grids)
    except BaseException:
        reference.close()
        raise
    return reference


__all__ = [
    "SURVEY_ROWS",
    "RasterReference",
    "Reference",
    "open_reference",
]
