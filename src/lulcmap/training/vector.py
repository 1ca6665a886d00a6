"""Polygon references (GeoPackage, GeoParquet, Shapefile, ...): exact areas with shapely.

The polygons over the scenes are read once (a bounding-box filter), their edges densified to
``SEGMENT_M`` metres in their own CRS (so that edges that are straight there follow their true
curved path once projected; for UTM or geographic sources the sagitta of a 50 m chord is under
a millimetre), projected into the scenes' CRS, and indexed with an STRtree. A footprint's
fraction of a class is the area of its intersection with that class's polygons over its area:
exact up to floating point. Gaps between polygons, codes mapped to ``unmapped`` and empty class
values count as unmapped; polygons that overlap by more than ``OVERLAP_TOLERANCE`` of a footprint
are an error (their areas would be counted twice).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio.crs import CRS
from rasterio.warp import transform_bounds

from lulcmap.errors import ConfigError, InputDataError, InputNotFoundError, MissingCRSError
from lulcmap.grid import Bounds, Grid
from lulcmap.legend import UNKNOWN, Crosswalk, normalise_code
from lulcmap.training.fractions import (
    NODATA_INDEX,
    fmt_bounds,
    no_overlap_error,
    overlaps,
    segment_length,
    split_sums,
    unknown_codes_error,
)

log = logging.getLogger(__name__)

SEGMENT_M = 50.0
"""Longest polygon edge (metres, in the source CRS) before projecting into the scene CRS."""
OVERLAP_TOLERANCE = 1e-3
"""Polygons may cover a footprint up to this much more than once (slivers, rounding)."""
FORMATS = "GeoPackage (.gpkg), GeoParquet (.parquet), Shapefile (.shp) or another OGR format"


def _read(path: Path, area: shapely.Geometry, crs: CRS) -> gpd.GeoDataFrame:
    if not path.exists():
        raise InputNotFoundError(f"reference {path} does not exist; check --reference")
    try:
        if path.suffix.lower() in {".parquet", ".geoparquet"}:
            return gpd.read_parquet(path)
        return gpd.read_file(path, bbox=gpd.GeoSeries([area], crs=crs.to_wkt()))
    except Exception as exc:  # pyogrio/pyarrow raise many types; all mean "cannot read"
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise InputDataError(
            f"reference {path} cannot be read as polygons ({reason}); expected {FORMATS}"
        ) from None


def _extent(path: Path, gdf: gpd.GeoDataFrame, crs: CRS) -> Bounds:
    """The layer's bounds in ``crs`` (from the file's header when the filtered read is empty)."""
    if len(gdf):
        left, bottom, right, top = (float(v) for v in gdf.total_bounds)
        return (left, bottom, right, top)
    import pyogrio

    info = pyogrio.read_info(path, force_total_bounds=True)
    left, bottom, right, top = transform_bounds(
        CRS.from_user_input(info["crs"]), crs, *info["total_bounds"]
    )
    return (left, bottom, right, top)


class PolygonReference:
    """Polygons with a class column, projected into the scenes' CRS."""

    def __init__(
        self,
        path: Path,
        crosswalk: Crosswalk,
        grids: Sequence[tuple[str, Grid]],
        *,
        class_column: str | None,
    ) -> None:
        self.path, self.crosswalk, self.class_column = path, crosswalk, class_column
        self.what = f"reference {path}"
        self.crs = grids[0][1].crs
        bounds = np.array([g.bounds for _, g in grids])
        area = shapely.box(*bounds[:, :2].min(axis=0), *bounds[:, 2:].max(axis=0))
        gdf = self._columns(_read(path, area, self.crs), class_column)
        if gdf.crs is None:
            raise MissingCRSError(
                f"{self.what} has no coordinate reference system; set it, e.g. "
                f"`gdf.set_crs('EPSG:25830').to_file(...)` or `ogr2ogr -a_srs EPSG:25830 ...`"
            )
        source_crs = CRS.from_user_input(gdf.crs)
        self.error_bound = 0.0 if source_crs == self.crs else float("nan")  # not computed
        geoms = gdf.geometry.segmentize(segment_length(source_crs, SEGMENT_M))
        gdf = gdf.set_geometry(geoms.to_crs(self.crs.to_wkt()).make_valid())
        gdf = gdf[~gdf.geometry.is_empty & gdf.geometry.notna()]
        have = _extent(path, gdf, self.crs)
        for name, grid in grids:
            if not len(gdf) or not overlaps(have, grid.bounds):
                raise no_overlap_error(self.what, have, name, grid)
        gdf = gdf[gdf.geometry.intersects(area)]
        self.geoms = np.asarray(gdf.geometry.values, dtype=object)
        self.index = self._codes(gdf[str(class_column)], area)
        self.tree = shapely.STRtree(self.geoms)

    def _columns(self, gdf: gpd.GeoDataFrame, column: str | None) -> gpd.GeoDataFrame:
        columns = [str(c) for c in gdf.columns if c != gdf.geometry.name]
        if column is None or column not in columns:
            start = (
                "polygon references need --class-column"
                if column is None
                else (f"{self.what} has no column {column!r}")
            )
            raise ConfigError(
                f"{start}; its columns are {', '.join(columns) or 'none'}; pass the one holding "
                "the land-cover codes with --class-column NAME"
            )
        return gdf[[column, gdf.geometry.name]]

    def _codes(self, values: pd.Series, area: shapely.Geometry) -> np.ndarray:
        """N2 index per polygon; empty values are no data; unknown codes are an error."""
        empty = values.isna().to_numpy()
        index = self.crosswalk.n2_index(values.to_numpy(dtype=object))
        index[empty] = NODATA_INDEX
        if empty.any():
            log.warning("%d polygons of %s have no class value: unmapped", empty.sum(), self.what)
        unknown = np.flatnonzero(index == UNKNOWN)
        if len(unknown):
            parts = shapely.area(shapely.intersection(self.geoms[unknown], area))
            table = pd.DataFrame(
                {"code": [normalise_code(v) for v in values.to_numpy()[unknown]], "area": parts}
            )
            found = {
                code: f"{len(g)} polygons, {g['area'].sum() / 1e6:.4g} km²"
                for code, g in table.groupby("code", sort=True)
            }
            raise unknown_codes_error(
                f"{self.what} (column {self.class_column})", self.crosswalk, found
            )
        return index

    def fractions(self, footprints: np.ndarray, crs: CRS) -> tuple[np.ndarray, np.ndarray]:
        """``(n2_area (k, n2), unmapped (k,))`` of footprints ``(k, 4)`` in ``crs``."""
        if CRS.from_user_input(crs) != self.crs:
            raise ValueError(f"footprints must be in the scenes' CRS {self.crs}, got {crs}")
        n2 = len(self.crosswalk.legend.n2)
        boxes = shapely.box(*np.asarray(footprints, dtype=np.float64).T)
        chip, poly = self.tree.query(boxes, predicate="intersects")
        areas = shapely.area(shapely.intersection(boxes[chip], self.geoms[poly]))
        sums = np.zeros((len(boxes), n2 - NODATA_INDEX))
        np.add.at(sums, (chip, self.index[poly] - NODATA_INDEX), areas)
        box_area = shapely.area(boxes)
        covered = sums.sum(axis=1) / box_area
        worst = int(np.argmax(covered)) if len(covered) else 0
        if len(covered) and covered[worst] > 1 + OVERLAP_TOLERANCE:
            raise InputDataError(
                f"polygons of {self.what} overlap: the footprint {fmt_bounds(footprints[worst])} "
                f"is covered {covered[worst]:.4f} times; dissolve or clean overlapping polygons "
                "first (e.g. geopandas `overlay(how='union')` and keep one class per piece)"
            )
        sums[:, 0] += np.clip(box_area - sums.sum(axis=1), 0.0, None)  # gaps: no data
        return split_sums(sums)

    def describe(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "kind": "polygons",
            "class_column": self.class_column,
            "polygons": len(self.geoms),
            "segment_m": SEGMENT_M,
        }

    def close(self) -> None:
        """Nothing to close: the polygons are in memory."""


__all__ = ["OVERLAP_TOLERANCE", "SEGMENT_M", "PolygonReference"]
