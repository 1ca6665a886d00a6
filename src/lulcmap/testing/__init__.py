"""lulcmap's test kit: a synthetic world with known truth, raster factories and an oracle model.

Tests, examples, benchmarks, the demo and the demo model's training all share it.

* :func:`synthetic_world` builds a deterministic landscape of the SIPNA legend: a fractal DEM with a
  coastal plain, a river valley and sierras; a climate derived from it; a class map whose patches
  follow terrain and climate; and a Sentinel-2-like true-colour image of it. Its truth is exact:
  :meth:`World.fractions` gives the class fractions of any chip.
* :func:`write_world` writes it as the tool's inputs (scene, DEM, climate folder).
* :class:`OracleModel` and :func:`class_code_scene` give a model whose output is known for any chip
  size and stride.
* :func:`write_raster` and :func:`make_grid` are small factories for tests.
"""

from __future__ import annotations

from lulcmap.testing.constants import (
    ANCILLARY_NAMES,
    ANCILLARY_UNITS,
    ANNUAL,
    ARTIFICIAL,
    BARELAND,
    CLIMATE_NAMES,
    FOREST,
    GRASSLAND,
    GREENHOUSE,
    MOSAIC,
    N_CLASSES,
    SHRUBLAND,
    WETLAND,
    WOODY,
)
from lulcmap.testing.oracle import OracleModel, class_code_scene
from lulcmap.testing.rasters import make_grid, write_raster
from lulcmap.testing.world import World, synthetic_world, write_world

__all__ = [
    "ANCILLARY_NAMES",
    "ANCILLARY_UNITS",
    "ANNUAL",
    "ARTIFICIAL",
    "BARELAND",
    "CLIMATE_NAMES",
    "FOREST",
    "GRASSLAND",
    "GREENHOUSE",
    "MOSAIC",
    "N_CLASSES",
    "SHRUBLAND",
    "WETLAND",
    "WOODY",
    "OracleModel",
    "World",
    "class_code_scene",
    "make_grid",
    "synthetic_world",
    "write_raster",
    "write_world",
]
