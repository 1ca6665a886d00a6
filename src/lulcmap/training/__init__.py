"""Training data and training: ``prepare`` (chip datasets from a reference map) and ``train``.

* :mod:`~lulcmap.training.prepare`: scenes + reference + crosswalk + DEM/climate -> a chip dataset;
* :mod:`~lulcmap.training.dataset`: the dataset's format (Zarr) and its writer;
* :mod:`~lulcmap.training.reference`, :mod:`~lulcmap.training.vector`: exact class fractions of
  chip footprints from a raster or polygon reference; :mod:`~lulcmap.training.coverage`: the
  exact pixel weights behind them;
* :mod:`~lulcmap.training.resample`: reading a scene at another pixel size (warped VRT);
* :mod:`~lulcmap.training.train`: a chip dataset -> a trained, carded, evaluated model
  (:func:`train_model`), with :mod:`~lulcmap.training.split` (spatial block split),
  :mod:`~lulcmap.training.loop` (loss, optimiser, best checkpoint),
  :mod:`~lulcmap.training.augment` (flips and rotations), :mod:`~lulcmap.training.record`
  (what the card records), :mod:`~lulcmap.training.options` (:class:`TrainOptions`) and
  :mod:`~lulcmap.training.outputs` (the model folder, :func:`run_train`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "DATASET_VERSION": "dataset",
    "block_indices": "dataset",
    "PrepareConfig": "prepare",
    "prepare_dataset": "prepare",
    "resample_scene": "resample",
    "resampled_scene_path": "resample",
    "BlockSplit": "split",
    "split_chips": "split",
    "TrainOptions": "train",
    "TrainResult": "train",
    "train_model": "train",
    "run_train": "outputs",
    "save_model": "outputs",
}
"""Imported on first use: ``lulcmap predict`` reads scenes through the resample module and should
not pay for the rest (Zarr datasets, geometry, the training loop); and training needs
lulcmap.evaluation, which needs lulcmap.pipeline, which imports the resample module."""

if TYPE_CHECKING:
    from lulcmap.training.dataset import DATASET_VERSION, block_indices
    from lulcmap.training.outputs import run_train, save_model
    from lulcmap.training.prepare import PrepareConfig, prepare_dataset
    from lulcmap.training.resample import resample_scene, resampled_scene_path
    from lulcmap.training.split import BlockSplit, split_chips
    from lulcmap.training.train import TrainOptions, TrainResult, train_model


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"lulcmap.training.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DATASET_VERSION",
    "BlockSplit",
    "PrepareConfig",
    "TrainOptions",
    "TrainResult",
    "block_indices",
    "prepare_dataset",
    "resample_scene",
    "resampled_scene_path",
    "run_train",
    "save_model",
    "split_chips",
    "train_model",
]
