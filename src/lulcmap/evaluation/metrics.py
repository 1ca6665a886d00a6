"""The papers' accuracy metrics for abundance estimates (pure numpy, no torch).

Inputs are fractions shaped ``(n_chips, n_classes)``: the reference ``r`` and the prediction
``p``. Errors are reported in percent points (fractions × 100), as the papers report them. For
class ``c`` over the ``n`` chips:

* ``MAE_c   = mean_i |p_ic - r_ic| × 100``
* ``RMSE_c  = sqrt(mean_i (p_ic - r_ic)²) × 100``
* ``RRMSE_c = RMSE_c / (mean_i r_ic × 100) × 100`` (percent of the class's mean reference
  abundance; NaN where the class is absent from the reference)
* ``CC_c    = Pearson correlation of p_·c and r_·c`` (NaN where either side is constant, or n < 2)

F1 of the majority class: each chip is labelled with its dominant class, ``argmax_c r_ic`` in the
reference and ``argmax_c p_ic`` in the prediction (ties go to the first class in legend order);
then ``F1_c = 2 TP / (2 TP + FP + FN)``, NaN for a class that is neither a reference nor a
predicted label. The paper does not say how it averages F1 over classes, so both are given:
**macro** (the mean of ``F1_c`` over the classes that are a label on either side, as scikit-learn
does; the headline figure) and **weighted** by reference support (``Σ n_c F1_c / Σ n_c`` with
``n_c`` the chips whose reference label is ``c``).

The averages over classes are NaN-means; how many classes were NaN is kept beside each
(:class:`Average`), because a class absent from the evaluated chips silently changes what the
average means.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from lulcmap.errors import InputDataError

METRICS = ("mae", "rmse", "rrmse", "cc", "f1")
"""Per-class metrics, in report order."""
UNITS = {"mae": "%", "rmse": "%", "rrmse": "%", "cc": "", "f1": ""}


def _pair(reference: np.ndarray, prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both as float64 percent, after checking they are finite ``(n_chips, n_classes)`` arrays."""
    r = np.asarray(reference, dtype=np.float64)
    p = np.asarray(prediction, dtype=np.float64)
    if r.ndim != 2 or r.shape != p.shape:
        raise InputDataError(
            f"reference and prediction must both be (n_chips, n_classes) arrays, got shapes "
            f"{r.shape} and {p.shape}; give one row per chip and one column per class"
        )
    for name, a in (("reference", r), ("prediction", p)):
        if not np.isfinite(a).all():
            raise InputDataError(
                f"{name} holds {int(np.sum(~np.isfinite(a)))} non-finite values; "
                "drop the chips without a reference or a prediction first"
            )
    return r * 100.0, p * 100.0


def mae(reference: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Mean absolute error per class, in percent points, shape ``(n_classes,)``."""
    r, p = _pair(reference, prediction)
    return np.abs(p - r).mean(axis=0)


def rmse(reference: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Root mean squared error per class, in percent points."""
    r, p = _pair(reference, prediction)
    return np.sqrt(((p - r) ** 2).mean(axis=0))


def rrmse(reference: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """RMSE relative to the mean reference abundance, in percent; NaN for absent classes."""
    mean_ref = np.asarray(reference, dtype=np.float64).mean(axis=0) * 100.0
    err = rmse(reference, prediction)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mean_ref > 0, err / mean_ref * 100.0, np.nan)


def pearson_cc(reference: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Pearson correlation per class; NaN where either side is constant or there are < 2 chips."""
    r, p = _pair(reference, prediction)
    if len(r) < 2:
        return np.full(r.shape[1], np.nan)
    dr, dp = r - r.mean(axis=0), p - p.mean(axis=0)
    constant = (np.ptp(r, axis=0) == 0) | (np.ptp(p, axis=0) == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cc = (dr * dp).sum(axis=0) / np.sqrt((dr**2).sum(axis=0) * (dp**2).sum(axis=0))
    return np.where(constant, np.nan, np.clip(cc, -1.0, 1.0))


def majority_labels(fractions: np.ndarray) -> np.ndarray:
    """The dominant class of each chip (``argmax``; ties go to the first class)."""
    return np.asarray(fractions).argmax(axis=1)


class F1Scores(NamedTuple):
    per_class: np.ndarray
    """F1 of each class; NaN where the class is neither a reference nor a predicted label."""
    macro: float
    weighted: float
    support: np.ndarray
    """Chips whose reference label is each class."""
    accuracy: float
    """Share of chips whose predicted label is the reference label."""


def f1_scores(
    reference_labels: np.ndarray, predicted_labels: np.ndarray, n_classes: int
) -> F1Scores:
    """F1 per class of two label vectors, with their macro and support-weighted averages."""
    ref = np.asarray(reference_labels, dtype=np.int64)
    pred = np.asarray(predicted_labels, dtype=np.int64)
    tp = np.bincount(ref[ref == pred], minlength=n_classes).astype(np.float64)
    support = np.bincount(ref, minlength=n_classes)
    predicted = np.bincount(pred, minlength=n_classes)
    denominator = support + predicted  # = 2 TP + FP + FN
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class = np.where(denominator > 0, 2 * tp / denominator, np.nan)
    labelled = denominator > 0
    macro = float(per_class[labelled].mean()) if labelled.any() else math.nan
    weighted = (
        float((support * np.nan_to_num(per_class)).sum() / support.sum()) if len(ref) else math.nan
    )
    accuracy = float(np.mean(ref == pred)) if len(ref) else math.nan
    return F1Scores(per_class, macro, weighted, support, accuracy)


class Average(NamedTuple):
    """A mean over classes that skips NaN classes, and how many it skipped."""

    value: float
    n_nan: int
    n_classes: int


def nan_mean(values: np.ndarray) -> Average:
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    value = float(v[finite].mean()) if finite.any() else math.nan
    return Average(value, int(np.sum(~finite)), int(v.size))


def training_mean(train_reference: np.ndarray) -> np.ndarray:
    """The baseline's constant prediction: the mean reference fractions of the training chips."""
    ref = np.asarray(train_reference, dtype=np.float64)
    if ref.ndim != 2 or len(ref) == 0:
        raise InputDataError(
            f"the training-mean baseline needs at least one training chip, got shape {ref.shape}"
        )
    return ref.mean(axis=0)


def baseline_prediction(train_reference: np.ndarray, n_chips: int) -> np.ndarray:
    """The training mean predicted for each of ``n_chips`` chips, shape ``(n_chips, n_classes)``."""
    return np.tile(training_mean(train_reference), (n_chips, 1))


# -- one level, all metrics -----------------------------------------------------------------------
def _json_number(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def _from_json(x: float | None) -> float:
    return math.nan if x is None else float(x)


@dataclass(frozen=True, eq=False)
class LevelMetrics:
    """Every metric of one legend level: per class (arrays in class order) and averaged."""

    level: str
    classes: tuple[str, ...]
    n_chips: int
    mae: np.ndarray
    rmse: np.ndarray
    rrmse: np.ndarray
    cc: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    reference_mean: np.ndarray
    """Mean reference abundance of each class, percent."""
    prediction_mean: np.ndarray
    f1_macro: float
    f1_weighted: float
    accuracy: float
    averages: dict[str, Average] = field(init=False)

    def __post_init__(self) -> None:
        averages = {name: nan_mean(getattr(self, name)) for name in METRICS if name != "f1"}
        n_nan = int(np.sum(~np.isfinite(self.f1)))
        averages["f1_macro"] = Average(self.f1_macro, n_nan, len(self.classes))
        averages["f1_weighted"] = Average(self.f1_weighted, n_nan, len(self.classes))
        object.__setattr__(self, "averages", averages)

    def nan_classes(self, metric: str) -> list[str]:
        """Classes whose ``metric`` is NaN (left out of its average)."""
        values = getattr(self, metric)
        return [c for c, v in zip(self.classes, values, strict=True) if not math.isfinite(v)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN -> null); :meth:`from_dict` reads it back."""
        per_class = {
            name: {
                "mae_percent": _json_number(self.mae[i]),
                "rmse_percent": _json_number(self.rmse[i]),
                "rrmse_percent": _json_number(self.rrmse[i]),
                "cc": _json_number(self.cc[i]),
                "f1": _json_number(self.f1[i]),
                "support": int(self.support[i]),
                "reference_mean_percent": _json_number(self.reference_mean[i]),
                "prediction_mean_percent": _json_number(self.prediction_mean[i]),
            }
            for i, name in enumerate(self.classes)
        }
        a = self.averages
        return {
            "level": self.level,
            "n_chips": self.n_chips,
            "classes": list(self.classes),
            "mean": {
                "mae_percent": _json_number(a["mae"].value),
                "rmse_percent": _json_number(a["rmse"].value),
                "rrmse_percent": _json_number(a["rrmse"].value),
                "cc": _json_number(a["cc"].value),
                "f1_macro": _json_number(self.f1_macro),
                "f1_weighted": _json_number(self.f1_weighted),
                "accuracy": _json_number(self.accuracy),
            },
            "nan_classes": {m: self.nan_classes(m) for m in METRICS},
            "per_class": per_class,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LevelMetrics:
        classes = tuple(data["classes"])
        rows = [data["per_class"][c] for c in classes]

        def column(key: str) -> np.ndarray:
            return np.array([_from_json(row[key]) for row in rows], dtype=np.float64)

        mean = data["mean"]
        return cls(
            level=str(data["level"]),
            classes=classes,
            n_chips=int(data["n_chips"]),
            mae=column("mae_percent"),
            rmse=column("rmse_percent"),
            rrmse=column("rrmse_percent"),
            cc=column("cc"),
            f1=column("f1"),
            support=np.array([int(row["support"]) for row in rows], dtype=np.int64),
            reference_mean=column("reference_mean_percent"),
            prediction_mean=column("prediction_mean_percent"),
            f1_macro=_from_json(mean["f1_macro"]),
            f1_weighted=_from_json(mean["f1_weighted"]),
            accuracy=_from_json(mean["accuracy"]),
        )


def level_metrics(
    reference: np.ndarray, prediction: np.ndarray, classes: Sequence[str], *, level: str
) -> LevelMetrics:
    """All metrics of one level from ``(n_chips, n_classes)`` reference and predicted fractions."""
    r, p = _pair(reference, prediction)
    if r.shape[1] != len(classes):
        raise InputDataError(
            f"{level}: {r.shape[1]} class columns but {len(classes)} class names {list(classes)}"
        )
    if len(r) == 0:
        raise InputDataError(f"{level}: no chips to evaluate; select at least one chip")
    f1 = f1_scores(majority_labels(r), majority_labels(p), len(classes))
    return LevelMetrics(
        level=level,
        classes=tuple(classes),
        n_chips=len(r),
        mae=mae(reference, prediction),
        rmse=rmse(reference, prediction),
        rrmse=rrmse(reference, prediction),
        cc=pearson_cc(reference, prediction),
        f1=f1.per_class,
        support=f1.support,
        reference_mean=r.mean(axis=0),
        prediction_mean=p.mean(axis=0),
        f1_macro=f1.macro,
        f1_weighted=f1.weighted,
        accuracy=f1.accuracy,
    )


__all__ = [
    "METRICS",
    "UNITS",
    "Average",
    "F1Scores",
    "LevelMetrics",
    "baseline_prediction",
    "f1_scores",
    "level_metrics",
    "mae",
    "majority_labels",
    "nan_mean",
    "pearson_cc",
    "rmse",
    "rrmse",
    "training_mean",
]
