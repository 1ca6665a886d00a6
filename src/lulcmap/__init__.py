"""lulcmap: wall-to-wall land-use/land-cover abundance maps from Sentinel-2 scenes."""

from __future__ import annotations

__version__ = "0.1.0"

from lulcmap.chips import ChipPlan
from lulcmap.errors import LulcmapError
from lulcmap.grid import Grid
from lulcmap.legend import Legend, load_legend

__all__ = ["ChipPlan", "Grid", "Legend", "LulcmapError", "__version__", "load_legend"]
