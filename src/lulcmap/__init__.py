"""lulcmap: wall-to-wall land-use/land-cover abundance maps from Sentinel-2 scenes.

The Python API that the CLI wraps::

    import lulcmap
    ds = lulcmap.predict("scene.tif", dem="dem.tif", climate="clim/")   # xarray.Dataset
    lulcmap.write_outputs(ds, "out/", "scene", legend=lulcmap.load_legend())
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lulcmap.version import __version__

# The public names are imported on first use (PEP 562), so that ``import lulcmap`` and the
# command line's ``--help`` and option errors do not wait ~2 s for torch, dask and GDAL.
_LAZY = {
    "ChipPlan": "lulcmap.chips",
    "Grid": "lulcmap.grid",
    "Legend": "lulcmap.legend",
    "LulcmapError": "lulcmap.errors",
    "ModelCard": "lulcmap.model.card",
    "list_models": "lulcmap.model.registry",
    "load_legend": "lulcmap.legend",
    "load_model": "lulcmap.model.registry",
    "predict": "lulcmap.commands.predict",
    "read_card": "lulcmap.model.card",
    "run_predict": "lulcmap.commands.predict",
    "write_cogs": "lulcmap.io.writers",
    "write_outputs": "lulcmap.io.writers",
    "write_table": "lulcmap.io.writers",
    "write_zarr": "lulcmap.io.writers",
}

if TYPE_CHECKING:
    from lulcmap.chips import ChipPlan
    from lulcmap.commands.predict import predict, run_predict
    from lulcmap.errors import LulcmapError
    from lulcmap.grid import Grid
    from lulcmap.io.writers import write_cogs, write_outputs, write_table, write_zarr
    from lulcmap.legend import Legend, load_legend
    from lulcmap.model.card import ModelCard, read_card
    from lulcmap.model.registry import list_models, load_model


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups do not come back here
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


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
