"""Evaluation of a model on a chip dataset, with the papers' metrics and a report.

* :mod:`~lulcmap.evaluation.metrics`: MAE, RMSE, RRMSE, Pearson CC, F1 of the majority class and
  the training-mean baseline (pure numpy);
* :mod:`~lulcmap.evaluation.selection`: held-out blocks from the model card, or chosen blocks;
* :func:`evaluate_model` / :func:`evaluate_arrays`: metrics per level, model and baseline, as an
  :class:`~lulcmap.evaluation.result.EvaluationResult`;
* :mod:`~lulcmap.evaluation.report`: density scatter plots, ``report.md`` and ``metrics.json``.
"""

from __future__ import annotations

from lulcmap.chipdata.reader import open_chip_dataset
from lulcmap.evaluation.metrics import LevelMetrics, level_metrics
from lulcmap.evaluation.result import EvaluationResult
from lulcmap.evaluation.runner import evaluate_arrays, evaluate_model, run_evaluate
from lulcmap.evaluation.selection import Selection, select_chips

__all__ = [
    "EvaluationResult",
    "LevelMetrics",
    "Selection",
    "evaluate_arrays",
    "evaluate_model",
    "level_metrics",
    "open_chip_dataset",
    "run_evaluate",
    "select_chips",
]
