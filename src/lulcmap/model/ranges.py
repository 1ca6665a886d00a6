"""Ancillary values against a model's training range (pure: arrays in, findings out, no I/O).

A model's card records the mean and standard deviation of each ancillary variable it was trained
on. :func:`check_ancillary` compares the per-cell values a prediction computed with them:

- ``out_of_range``: some finite cell lies beyond ``mean ± 5 σ`` (:data:`SIGMAS`);
- ``wrong_unit``: the values look like the variable in another unit, by one of the confusions
  of :data:`UNIT_CONFUSIONS` (kelvin for a °C model, monthly for annual totals, ...). It replaces
  the ``out_of_range`` finding of that variable, and is reported even when every cell is inside
  the range (monthly precipitation usually is, for an annual model: its range is wide).

Variables whose card gives no statistics (the placeholder ``mean: 0, std: 1``, as on the
published LifeWatch cards) are not checked, and a card without ancillary variables (the zero-shot
pixel encoder) has nothing to check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from lulcmap.model.card import AncillaryVar

SIGMAS = 5.0
"""Half-width of a card's accepted range, in standard deviations."""

_DEGC = ("degc", "°c", "celsius", "deg_c", "c")
_KELVIN = ("k", "kelvin")
_PER_YEAR = ("mm/year", "mm/yr", "mm/a", "mm year-1", "mm yr-1", "mm a-1")
_PER_MONTH = ("mm/month", "mm month-1", "mm")
_MM = (*_PER_YEAR, *_PER_MONTH)


@dataclass(frozen=True)
class UnitConfusion:
    """A grid given in unit ``looks_like`` to a model whose card says one of ``units``.

    A card value ``v`` reads ``scale * v + offset`` in the confused unit. The values are taken
    as confused when their median ``m`` lies more than ``min_z`` σ from the card's mean and,
    converted back (``(m - offset) / scale``), lies inside ``plausible`` (in the card's unit;
    default: within ``min_z`` σ of the card's mean) and closer to that mean than ``m`` itself.
    Among several matches the one whose converted median is closest to the mean is reported.
    """

    units: tuple[str, ...]
    looks_like: str
    fix: str
    scale: float = 1.0
    offset: float = 0.0
    min_z: float = SIGMAS
    plausible: tuple[float, float] | None = None

    def back(self, value: float) -> float:
        """``value`` read in the confused unit, converted to the card's unit."""
        return (value - self.offset) / self.scale

    def matches(self, median: float, var: AncillaryVar) -> bool:
        z = abs(median - var.mean) / var.std
        back = self.back(median)
        low, high = self.plausible or (
            var.mean - self.min_z * var.std,
            var.mean + self.min_z * var.std,
        )
        return z > self.min_z and low <= back <= high and abs(back - var.mean) / var.std < z


UNIT_CONFUSIONS: tuple[UnitConfusion, ...] = (
    # mean near-surface temperatures on Earth lie within about -90..60 °C (183..333 K)
    UnitConfusion(_DEGC, "kelvin", "subtract 273.15", offset=273.15, plausible=(-90.0, 60.0)),
    UnitConfusion(_DEGC, "degF", "subtract 32 and divide by 1.8", scale=1.8, offset=32.0),
    UnitConfusion(_KELVIN, "degC", "add 273.15", offset=-273.15, plausible=(183.0, 333.0)),
    # totals: the annual range is wide (σ of hundreds of mm), so a monthly grid is often inside it
    UnitConfusion(_PER_YEAR, "monthly totals", "multiply by 12", scale=1 / 12, min_z=2.0),
    UnitConfusion(_PER_MONTH, "annual totals", "divide by 12", scale=12.0, min_z=2.0),
    UnitConfusion(_MM, "metres", "multiply by 1000", scale=1e-3, min_z=2.0),  # as ERA5 gives
)
"""The unit confusions diagnosed, by the card's unit (compared lower-case). Elevation in feet is
left out: a median 3.28 times the card's is as likely a higher region as a DEM in feet."""


@dataclass(frozen=True)
class RangeFinding:
    """One variable whose values do not fit the model's training range."""

    variable: str
    kind: Literal["out_of_range", "wrong_unit"]
    observed: tuple[float, float]
    """Min and max over the finite cells."""
    accepted: tuple[float, float]
    """The card's ``mean ± 5 σ``."""
    units: str
    median: float
    n_outside: int
    """Finite cells beyond the accepted range."""
    n_cells: int
    """Finite cells."""
    looks_like: str | None = None
    fix: str | None = None

    def message(self, model: str) -> str:
        """One line: the variable, its range, the model's range, and what to do."""
        lo, hi = self.observed
        a, b = self.accepted
        verb = "are outside" if self.n_outside else "do not fit"
        units = f" {self.units}" if self.units else ""
        head = (
            f"{self.variable}: values {lo:.4g}..{hi:.4g} {verb} model {model}'s range "
            f"{a:.4g}..{b:.4g}{units} (mean ± {SIGMAS:g} σ)"
        )
        if self.kind == "wrong_unit":
            return (
                f"{head}: looks like {self.looks_like} (median {self.median:.4g}); "
                f"convert the grid to {self.units} ({self.fix})"
            )
        return (
            f"{head} in {self.n_outside} of {self.n_cells} cells: check the grid's unit and "
            "extent, or use a model trained on such values"
        )

    def to_dict(self) -> dict[str, object]:
        """The finding as JSON-ready values (for the run record)."""
        return {
            "variable": self.variable,
            "kind": self.kind,
            "observed": list(self.observed),
            "accepted": list(self.accepted),
            "units": self.units,
            "median": self.median,
            "n_outside": self.n_outside,
            "n_cells": self.n_cells,
            "looks_like": self.looks_like,
            "fix": self.fix,
        }


def has_statistics(var: AncillaryVar) -> bool:
    """Whether the card gives the variable's statistics (not the placeholder mean 0, std 1)."""
    return not (var.mean == 0.0 and var.std == 1.0)


def accepted_range(var: AncillaryVar) -> tuple[float, float]:
    """The card's accepted range of ``var``: ``mean ± 5 σ``."""
    return var.mean - SIGMAS * var.std, var.mean + SIGMAS * var.std


def unit_confusion(median: float, var: AncillaryVar) -> UnitConfusion | None:
    """The confusion of :data:`UNIT_CONFUSIONS` the median points to, if any (the closest)."""
    unit = var.units.strip().lower()
    found = [c for c in UNIT_CONFUSIONS if unit in c.units and c.matches(median, var)]
    return min(found, key=lambda c: abs(c.back(median) - var.mean), default=None)


def check_variable(var: AncillaryVar, values: np.ndarray) -> RangeFinding | None:
    """The finding for one variable's per-cell values (NaN cells ignored), or None."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if not finite.size or not has_statistics(var):
        return None
    low, high = accepted_range(var)
    n_outside = int(np.count_nonzero((finite < low) | (finite > high)))
    median = float(np.median(finite))
    confusion = unit_confusion(median, var)
    if confusion is None and not n_outside:
        return None
    return RangeFinding(
        variable=var.name,
        kind="out_of_range" if confusion is None else "wrong_unit",
        observed=(float(finite.min()), float(finite.max())),
        accepted=(low, high),
        units=var.units,
        median=median,
        n_outside=n_outside,
        n_cells=int(finite.size),
        looks_like=None if confusion is None else confusion.looks_like,
        fix=None if confusion is None else confusion.fix,
    )


def check_ancillary(
    variables: Iterable[AncillaryVar], values: Mapping[str, np.ndarray]
) -> list[RangeFinding]:
    """One finding at most per card variable whose values (``name -> (rows, cols)``, NaN where
    missing) leave the card's range or look like another unit; in the card's order. Variables
    without statistics or without values are not checked."""
    findings = (check_variable(v, values[v.name]) for v in variables if v.name in values)
    return [f for f in findings if f is not None]


def checked_names(variables: Iterable[AncillaryVar]) -> tuple[list[str], list[str]]:
    """The variables :func:`check_ancillary` checks, and those it cannot (no statistics)."""
    variables = list(variables)
    return (
        [v.name for v in variables if has_statistics(v)],
        [v.name for v in variables if not has_statistics(v)],
    )


__all__ = [
    "SIGMAS",
    "UNIT_CONFUSIONS",
    "RangeFinding",
    "UnitConfusion",
    "accepted_range",
    "check_ancillary",
    "check_variable",
    "checked_names",
    "has_statistics",
    "unit_confusion",
]
