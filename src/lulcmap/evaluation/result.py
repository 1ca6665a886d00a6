"""The outcome of an evaluation: metrics per level, model and baseline, and their values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lulcmap.evaluation.metrics import LevelMetrics
from lulcmap.version import __version__


@dataclass(frozen=True, eq=False)
class EvaluationResult:
    """Metrics per level for the model and the training-mean baseline, and the values behind them.

    ``reference`` and ``prediction`` are fractions ``(n_chips, n_classes)`` per level, for plots.
    """

    model: dict[str, LevelMetrics]
    baseline: dict[str, LevelMetrics] | None
    reference: dict[str, np.ndarray]
    prediction: dict[str, np.ndarray]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def levels(self) -> tuple[str, ...]:
        return tuple(self.model)

    def to_dict(self) -> dict[str, Any]:
        """What ``metrics.json`` holds (NaN written as null)."""
        levels = {
            lv: {
                "model": self.model[lv].to_dict(),
                "baseline": self.baseline[lv].to_dict() if self.baseline else None,
            }
            for lv in self.levels
        }
        return {"lulcmap_version": __version__, **self.info, "levels": levels}


__all__ = ["EvaluationResult"]
