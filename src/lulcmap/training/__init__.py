"""Training data and training: ``prepare`` (chip datasets from a reference map), and later
``train``.

* :mod:`~lulcmap.training.prepare`: scenes + reference + crosswalk + DEM/climate -> a chip dataset;
* :mod:`~lulcmap.training.dataset`: the dataset's format (Zarr) and its writer;
* :mod:`~lulcmap.training.reference`, :mod:`~lulcmap.training.vector`: exact class fractions of
  chip footprints from a raster or polygon reference; :mod:`~lulcmap.training.coverage`: the
  exact pixel weights behind them;
* :mod:`~lulcmap.training.resample`: reading a scene at another pixel size (warped VRT).
"""

from __future__ import annotations

from lulcmap.training.dataset import DATASET_VERSION, block_indices
from lulcmap.training.prepare import PrepareConfig, prepare_dataset
from lulcmap.training.resample import resample_scene, resampled_scene_path

__all__ = [
    "DATASET_VERSION",
    "PrepareConfig",
    "block_indices",
    "prepare_dataset",
    "resample_scene",
    "resampled_scene_path",
]
