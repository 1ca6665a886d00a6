"""lulcmap's test kit: a synthetic world with known truth, raster factories, oracle models and a
synthetic chip dataset.

Tests, examples and benchmarks share it; it sits on top of the package (product code imports
:mod:`lulcmap.synthetic`, never this kit).

* :func:`synthetic_world`, :func:`write_world`, :class:`World`, :func:`make_grid`,
  :func:`write_raster` and the class codes: re-exported from :mod:`lulcmap.synthetic`.
* :class:`OracleModel` and :func:`class_code_scene` give a model whose output is known for any chip
  size and stride (:mod:`~lulcmap.testing.oracle`).
* :func:`make_chip_dataset` builds a chip dataset in memory (:func:`write_chip_dataset` stores it
  as ``prepare`` does), and :class:`LookupModel` (with :func:`lookup_card`) answers it exactly
  (:mod:`~lulcmap.testing.chipdata`).
* :mod:`~lulcmap.testing.chipfolders` writes the original workflow's chip folders from a world,
  and a DEM that is a plane.
* :mod:`~lulcmap.testing.cli` runs the command in process; :mod:`~lulcmap.testing.safe` builds
  Sentinel-2 SAFE products; :mod:`~lulcmap.testing.chipfolders` the original workflow's chip
  folders; :mod:`~lulcmap.testing.strategies` holds Hypothesis strategies (it
  needs ``hypothesis``, so it is not imported here).
"""

from __future__ import annotations

from lulcmap.synthetic import (
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
    World,
    make_grid,
    synthetic_world,
    write_raster,
    write_world,
)
from lulcmap.testing.chipdata import (
    LookupModel,
    block_bounds,
    lookup_card,
    make_chip_dataset,
    random_fractions,
    write_chip_dataset,
)
from lulcmap.testing.oracle import OracleModel, class_code_scene

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
    "LookupModel",
    "OracleModel",
    "World",
    "block_bounds",
    "class_code_scene",
    "lookup_card",
    "make_chip_dataset",
    "make_grid",
    "random_fractions",
    "synthetic_world",
    "write_chip_dataset",
    "write_raster",
    "write_world",
]
