"""The chip dataset's format, declared once: ``prepare`` writes it, ``train``/``evaluate`` read it.

Format version 1, a Zarr store readable with ``xarray.open_zarr`` (Zarr format 2, consolidated
metadata).

Dimensions: ``chip``; ``band`` (3: red, green, blue); ``y``, ``x`` (``chip_size``);
``class_n1``, ``class_n2``; ``variable`` (ancillary variables).

=====================  ==========================  =========  ===================================
variable               dims                        dtype      meaning
=====================  ==========================  =========  ===================================
``image``              chip, band, y, x            uint8      RGB chip exactly as ``predict``
                                                              feeds it (card radiometry, 0 = no
                                                              data, mirrored if the scene is
                                                              smaller than a chip)
``ancillary``          chip, variable              float32    footprint means; NaN where missing
``n2``                 chip, class_n2              float32    N2 fractions of the *mapped* area:
                                                              ``n2_area / (1 - unmapped)``
``n1``                 chip, class_n1              float32    legend sum of ``n2``
``n2_area``            chip, class_n2              float32    N2 fractions of the footprint
``unmapped_fraction``  chip                        float32    footprint share that is unmapped,
                                                              no data or off the reference;
                                                              ``n2_area.sum() + unmapped == 1``
``valid_fraction``     chip                        float32    valid scene pixels in the chip
``left`` ... ``top``   chip                        float64    footprint in the scenes' CRS
``row_off, col_off``   chip                        int32      chip window in its scene
``scene_index``        chip                        int16      index into ``attrs["scenes"]``
``block``              chip                        int32      ``block_row * 65536 + block_col``
``block_row``          chip                        int32      ``floor(y_centre / block_height)``
``block_col``          chip                        int32      ``floor(x_centre / block_width)``
``features``           chip, feature               float32    optional (``prepare --backbone
                                                              presto``): the frozen encoder's
                                                              per-chip features, as ``predict``'s
                                                              pixel engine computes them; NaN
                                                              where the chip has none
=====================  ==========================  =========  ===================================

:data:`VARIABLES` is this table but ``features``, which is in :data:`OPTIONAL_VARIABLES`; the
writer takes each variable's dims and dtype from them and the reader checks the
:data:`REQUIRED_VARS` against them. ``features`` is written only when asked for, with the
attribute :data:`FEATURES_ATTR` (the encoder's name and sha256, the Presto bands fed and the scene
bands feeding them, the lattice, the month, the feature kind and what was masked).

Coordinates: ``band``, ``class_n1``, ``class_n2``, ``variable`` (names). Attributes:
``lulcmap_dataset_version`` (:data:`DATASET_VERSION`), ``legend``, ``chip_size``,
``pixel_size_m``, ``block_size_m``, ``crs``, ``radiometry``, ``lulcmap_version``, the sources and
a summary. Blocks are the cells ``[col * w, (col + 1) * w) x [row * h, (row + 1) * h)`` of a grid
anchored at the CRS origin (``w, h = attrs["block_size_m"]`` in metres), so block ids are stable
across datasets in one CRS; a chip belongs to the block of its centre. Chips are written in order
of scene, then chip row, then column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DATASET_VERSION = 1
"""The format version this lulcmap writes and reads."""
VERSION_ATTR = "lulcmap_dataset_version"
"""The attribute that holds the format version."""
BANDS = ("red", "green", "blue")
BLOCK_ID_BASE = 65536
"""``block = block_row * BLOCK_ID_BASE + block_col``; unique while both fit in int16."""
BOUNDS = ("left", "bottom", "right", "top")
COORDS = ("band", "class_n1", "class_n2", "variable")


@dataclass(frozen=True)
class Variable:
    """One variable of the format: its dims and its dtype."""

    dims: tuple[str, ...]
    dtype: type[np.generic]


_CHIP = ("chip",)
VARIABLES: dict[str, Variable] = {
    "image": Variable(("chip", "band", "y", "x"), np.uint8),
    "ancillary": Variable(("chip", "variable"), np.float32),
    "n2": Variable(("chip", "class_n2"), np.float32),
    "n1": Variable(("chip", "class_n1"), np.float32),
    "n2_area": Variable(("chip", "class_n2"), np.float32),
    "unmapped_fraction": Variable(_CHIP, np.float32),
    "valid_fraction": Variable(_CHIP, np.float32),
    **{name: Variable(_CHIP, np.float64) for name in BOUNDS},
    "row_off": Variable(_CHIP, np.int32),
    "col_off": Variable(_CHIP, np.int32),
    "scene_index": Variable(_CHIP, np.int16),
    "block": Variable(_CHIP, np.int32),
    "block_row": Variable(_CHIP, np.int32),
    "block_col": Variable(_CHIP, np.int32),
}
"""Every variable ``prepare`` always writes, in the order of the table above."""
REQUIRED_VARS = ("image", "ancillary", "n1", "n2", "block", *BOUNDS)
"""The variables ``train`` and ``evaluate`` need (a subset of :data:`VARIABLES`); a dataset
without one of them, or with one on other dims, is refused."""


OPTIONAL_VARIABLES: dict[str, Variable] = {
    "features": Variable(("chip", "feature"), np.float32),
}
"""Variables of the table written only when asked for (``features``: ``--backbone presto``)."""
FEATURES_ATTR = "features"
"""The attribute describing the ``features`` variable (how the encoder was fed)."""


def variable(name: str, values: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """``(dims, values)`` of variable ``name`` in its declared dtype, for ``xarray.Dataset``."""
    var = VARIABLES[name] if name in VARIABLES else OPTIONAL_VARIABLES[name]
    return var.dims, np.asarray(values).astype(var.dtype, copy=False)


__all__ = [
    "BANDS",
    "BLOCK_ID_BASE",
    "BOUNDS",
    "COORDS",
    "DATASET_VERSION",
    "FEATURES_ATTR",
    "OPTIONAL_VARIABLES",
    "REQUIRED_VARS",
    "VARIABLES",
    "VERSION_ATTR",
    "Variable",
    "variable",
]
