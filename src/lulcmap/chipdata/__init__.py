"""The chip dataset: ``lulcmap prepare`` writes it, ``lulcmap train`` and ``evaluate`` read it.

* :mod:`~lulcmap.chipdata.schema`: the format, declared once (version, variables with their dims
  and dtypes, coordinates, blocks);
* :mod:`~lulcmap.chipdata.writer`: :class:`DatasetWriter` appends :class:`ChipBatch` es to a Zarr
  store in that format;
* :mod:`~lulcmap.chipdata.reader`: :func:`open_chip_dataset` / :func:`open_chip_datasets` check a
  store against it; :func:`check_fits_model` against a model card; accessors for the arrays.
"""

from __future__ import annotations

from lulcmap.chipdata.reader import (
    ancillary,
    check_classes,
    check_fits_model,
    dataset_classes,
    dataset_paths,
    describe,
    images,
    open_chip_dataset,
    open_chip_datasets,
    reference,
)
from lulcmap.chipdata.schema import (
    BANDS,
    BLOCK_ID_BASE,
    DATASET_VERSION,
    REQUIRED_VARS,
    VARIABLES,
    VERSION_ATTR,
)
from lulcmap.chipdata.writer import (
    CHUNK_CHIPS,
    ChipBatch,
    DatasetWriter,
    block_indices,
    chip_dataset,
)

__all__ = [
    "BANDS",
    "BLOCK_ID_BASE",
    "CHUNK_CHIPS",
    "DATASET_VERSION",
    "REQUIRED_VARS",
    "VARIABLES",
    "VERSION_ATTR",
    "ChipBatch",
    "DatasetWriter",
    "ancillary",
    "block_indices",
    "check_classes",
    "check_fits_model",
    "chip_dataset",
    "dataset_classes",
    "dataset_paths",
    "describe",
    "images",
    "open_chip_dataset",
    "open_chip_datasets",
    "reference",
]
