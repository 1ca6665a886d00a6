"""A synthetic world with known truth: the demo's inputs, the demo model's training data and the
test kit's landscapes.

* :func:`synthetic_world` builds a deterministic landscape of the SIPNA legend: a fractal DEM with a
  coastal plain, a river valley and sierras; a climate derived from it; a class map whose patches
  follow terrain and climate; and a Sentinel-2-like true-colour image of it. Its truth is exact:
  :meth:`World.fractions` gives the class fractions of any chip.
* :func:`write_world` writes it as the tool's inputs (scene, DEM, climate folder).
* :func:`make_grid` and :func:`write_raster`: a north-up grid and a GeoTIFF writer.

Modules: :mod:`~lulcmap.synthetic.constants` (class codes, variable names and units),
:mod:`~lulcmap.synthetic.noise` (seeded fields and curves), :mod:`~lulcmap.synthetic.generator`
(terrain, climate, classes), :mod:`~lulcmap.synthetic.render` (the image),
:mod:`~lulcmap.synthetic.world` (the world, its truth and its writer).
"""

from __future__ import annotations

from lulcmap.synthetic.constants import (
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
from lulcmap.synthetic.rasters import make_grid, write_raster
from lulcmap.synthetic.world import World, synthetic_world, write_world

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
    "World",
    "make_grid",
    "synthetic_world",
    "write_raster",
    "write_world",
]
