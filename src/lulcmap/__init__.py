"""lulcmap: wall-to-wall land-use/land-cover abundance maps from Sentinel-2 scenes.

The Python API that the CLI wraps::

    import lulcmap
    ds = lulcmap.predict("scene.tif", dem="dem.tif", climate="clim/")   # xarray.Dataset
    lulcmap.write_outputs(ds, "out/", "scene", legend=lulcmap.load_legend())
"""

from __future__ import annotations

__version__ = "0.1.0"

from lulcmap.chips import ChipPlan
from lulcmap.errors import LulcmapError
from lulcmap.grid import Grid
from lulcmap.io.writers import write_cogs, write_outputs, write_table, write_zarr
from lulcmap.legend import Legend, load_legend
from lulcmap.model.card import ModelCard, read_card
from lulcmap.model.registry import list_models, load_model
from lulcmap.pipeline import predict, run_predict

__all__ = [
    "ChipPlan",
    "Grid",
    "Legend",
    "LulcmapError",
    "ModelCard",
    "__version__",
    "list_models",
    "load_legend",
    "load_model",
    "predict",
    "read_card",
    "run_predict",
    "write_cogs",
    "write_outputs",
    "write_table",
    "write_zarr",
]
