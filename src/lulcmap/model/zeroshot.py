"""Zero-shot N2 fractions: Presto decoder's Dynamic World probabilities through a crosswalk.

The decoder predicts, for every pixel, the probabilities of Dynamic World's nine classes
(``lulcmap.model.presto.DYNAMIC_WORLD_CLASSES``); averaged over a cell's pixels and multiplied
by the 0/1 matrix of a crosswalk (built in: ``dynamicworld``, ``data/crosswalks/
dynamicworld_to_sipna.yaml``) they give the cell's N2 fractions. No training; classes no Dynamic
World class maps to (SIPNA: Greenhouses, Woody croplands, Combinations) stay 0.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from lulcmap.errors import ConfigError, InputDataError
from lulcmap.legend import Crosswalk, Legend, load_crosswalk
from lulcmap.model.presto import DYNAMIC_WORLD_CLASSES

N_DW = len(DYNAMIC_WORLD_CLASSES)


def dw_to_n2_matrix(crosswalk: Crosswalk, legend: Legend | None = None) -> np.ndarray:
    """``(9, n2)`` float64 matrix: row ``i`` is 1 at the N2 class Dynamic World class ``i`` maps
    to, all 0 where it is ``unmapped``.

    Raises:
        ConfigError: the crosswalk is for another legend, or misses a Dynamic World class.
    """
    legend = legend or crosswalk.legend
    if crosswalk.legend.id != legend.id:
        raise ConfigError(
            f"crosswalk {crosswalk.id!r} maps onto legend {crosswalk.legend.id!r}, not "
            f"{legend.id!r}; pass a Dynamic World crosswalk to {legend.id}"
        )
    table = crosswalk.table
    missing = [f"{i} {name}" for i, name in enumerate(DYNAMIC_WORLD_CLASSES) if i not in table]
    if missing:
        raise ConfigError(
            f"crosswalk {crosswalk.id!r} lacks Dynamic World classes {missing}; list codes "
            "0-8 (a class may map to `unmapped`), as in dynamicworld_to_sipna.yaml"
        )
    matrix = np.zeros((N_DW, len(legend.n2)))
    for code in range(N_DW):
        if table[code] >= 0:
            matrix[code, table[code]] = 1.0
    return matrix


@cache
def _default_matrix() -> np.ndarray:
    return dw_to_n2_matrix(load_crosswalk("dynamicworld"))


def dw_probabilities_to_n2(probs: np.ndarray, matrix: np.ndarray | None = None) -> np.ndarray:
    """``(P, 9)`` Dynamic World probabilities -> ``(P, n2)`` N2 fractions, each row summing to 1.

    ``matrix`` from :func:`dw_to_n2_matrix` (default: the built-in ``dynamicworld`` crosswalk
    to SIPNA). Probability on ``unmapped`` classes is left out and the rest rescaled; a row
    with none left (or with a non-finite probability) is NaN.
    """
    probs = np.asarray(probs, dtype=np.float64)
    m = _default_matrix() if matrix is None else np.asarray(matrix, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != N_DW or m.shape[0] != N_DW:
        raise InputDataError(
            f"expected (pixels, {N_DW}) Dynamic World probabilities and a ({N_DW}, n2) matrix, "
            f"got {probs.shape} and {m.shape}"
        )
    if np.any(probs < 0):
        raise InputDataError("Dynamic World probabilities must be >= 0 (apply softmax to logits)")
    out = probs @ m
    total = out.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, out / total, np.nan)


__all__ = ["N_DW", "dw_probabilities_to_n2", "dw_to_n2_matrix"]
