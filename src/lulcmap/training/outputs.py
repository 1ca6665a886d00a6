"""The model folder ``lulcmap train`` writes, and the command behind it.

=====================  ==========================================================================
``card.yaml``          the model card: input, ancillary statistics, architecture, weights sha256,
                       ``training`` (dataset, counts, split with block bounds, options, time,
                       device) and ``metrics`` (held-out N1/N2 metrics, model and baseline)
``weights.safetensors`` the best checkpoint
``training_log.json``  one record per epoch (learning rate, train/validation loss, MSE, MAE),
                       the best epoch and the held-out metrics summary
``training_log.csv``   the same records as a table
``loss_curve.png``     training and validation loss per epoch, the best epoch marked
=====================  ==========================================================================

Everything is written in a staging folder and moved into place only when complete; an existing
output is refused before any training unless ``overwrite``.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lulcmap.evaluation.report import require_matplotlib
from lulcmap.io.writers import atomic_outputs, check_outputs_free
from lulcmap.model.card import write_card
from lulcmap.training.head import train_head
from lulcmap.training.loop import EpochRecord
from lulcmap.training.train import Datasets, TrainOptions, TrainResult, train_model

if TYPE_CHECKING:
    from matplotlib.figure import Figure

OUTPUTS = {
    "card": "card.yaml",
    "weights": "weights.safetensors",
    "log": "training_log.json",
    "log_csv": "training_log.csv",
    "loss_curve": "loss_curve.png",
}


def loss_figure(history: list[EpochRecord], best_epoch: int, *, title: str = "") -> Figure:
    """Training and validation loss per epoch (log scale), the kept epoch marked."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    epochs = [r.epoch for r in history]
    ax.plot(epochs, [r.train_loss for r in history], "o-", ms=3, label="training (augmented)")
    if any(r.val_loss is not None for r in history):
        val = [r.val_loss if r.val_loss is not None else float("nan") for r in history]
        ax.plot(epochs, val, "s-", ms=3, label="validation")
    ax.axvline(best_epoch, color="0.5", ls="--", lw=0.8, label=f"kept: epoch {best_epoch}")
    ax.set(xlabel="epoch", ylabel="loss", yscale="log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title(title or "loss per epoch", fontsize=10)
    return fig


def log_record(result: TrainResult) -> dict[str, Any]:
    """``training_log.json``: the epochs and the held-out means (model and baseline)."""
    ev = result.evaluation
    means = {
        lv: {
            "model": ev.model[lv].to_dict()["mean"],
            "baseline": ev.baseline[lv].to_dict()["mean"] if ev.baseline else None,
        }
        for lv in ev.levels
    }
    training = result.card.training
    return {
        "model": result.card.id,
        "best_epoch": result.best_epoch,
        "wall_seconds": training.get("wall_seconds"),
        "device": training.get("device"),
        "epochs": [r.to_dict() for r in result.history],
        "held_out": {"chips": result.card.metrics.get("held_out"), **means},
    }


def _csv(history: list[EpochRecord]) -> str:
    buf = io.StringIO()
    rows = [r.to_dict() for r in history]
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def save_model(
    result: TrainResult, out: str | os.PathLike[str], *, overwrite: bool = False
) -> dict[str, Path]:
    """Write the model folder atomically; returns the paths by kind."""
    require_matplotlib()
    with atomic_outputs(out, OUTPUTS.values(), overwrite=overwrite) as staging:
        (staging / OUTPUTS["weights"]).write_bytes(result.weights)
        write_card(result.card, staging / OUTPUTS["card"])
        text = json.dumps(log_record(result), indent=2, allow_nan=False)
        (staging / OUTPUTS["log"]).write_text(text + "\n", "utf-8")
        (staging / OUTPUTS["log_csv"]).write_text(_csv(result.history), "utf-8")
        title = f"{result.card.id}: loss per epoch"
        fig = loss_figure(result.history, result.best_epoch, title=title)
        fig.savefig(staging / OUTPUTS["loss_curve"], format="png")
    return {kind: Path(out) / name for kind, name in OUTPUTS.items()}


def run_train(
    dataset: Datasets,
    *,
    out: str | os.PathLike[str],
    options: TrainOptions | None = None,
    overwrite: bool = False,
    on_step: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> tuple[TrainResult, dict[str, Path]]:
    """The ``train`` command: refuse existing outputs, train, write the model folder.

    The card's id defaults to the output folder's name. ``backbone: presto`` fits a Presto
    head on the dataset's stored features (:mod:`lulcmap.training.head`), the CNN otherwise.
    """
    require_matplotlib()
    check_outputs_free([Path(out) / n for n in OUTPUTS.values()], overwrite)
    opt = options or TrainOptions()
    if opt.id is None:
        opt = opt.model_copy(update={"id": Path(out).resolve().name})
    fit = train_head if opt.backbone == "presto" else train_model
    result = fit(dataset, options=opt, on_step=on_step, on_epoch=on_epoch)
    return result, save_model(result, out, overwrite=overwrite)


__all__ = ["OUTPUTS", "log_record", "loss_figure", "run_train", "save_model"]
