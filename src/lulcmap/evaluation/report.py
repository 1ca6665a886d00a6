"""An evaluation's outputs: density scatter plots (PNG), a Markdown report and ``metrics.json``.

Plots are drawn on matplotlib's Agg canvas directly (no pyplot, no global backend switch), so
they work headless and leave an interactive session's backend alone.
"""

from __future__ import annotations

import json
import math
import os
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lulcmap.errors import MissingDependencyError
from lulcmap.evaluation.metrics import LevelMetrics
from lulcmap.io.writers import atomic_outputs
from lulcmap.version import __version__

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lulcmap.evaluation.result import EvaluationResult

PAPER = {
    "N1": {"mae": 6.15, "rmse": 11.65, "rrmse": 40.34, "cc": 0.8723, "f1": 0.8241},
    "N2": {"mae": 5.57, "rmse": 11.26, "rrmse": 57.43, "cc": 0.7664, "f1": 0.6404},
}
"""Best results of the time-series paper (BRITS + all ancillary data, MODIS, Andalusia)."""
BINS = np.linspace(0.0, 100.0, 51)
"""2-percent-point bins of the density scatter plots."""


def require_matplotlib() -> None:
    """Fail early, with the fix, when matplotlib (needed for the plots) is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "lulcmap evaluate draws its scatter plots with matplotlib, which is not installed; "
            "pip install matplotlib"
        ) from None


def _code(text: object) -> str:
    return f"`{text}`" if text else "(in memory)"


def _fmt(x: float, digits: int = 2) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


# -- plots --------------------------------------------------------------------------------------
def scatter_figure(
    reference: np.ndarray, prediction: np.ndarray, metrics: LevelMetrics, *, title: str = ""
) -> Figure:
    """One density panel per class: predicted vs reference abundance (percent), log colour."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    n = len(metrics.classes)
    ncols = min(n, 5)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(3.0 * ncols + 1.0, 3.3 * nrows + 0.6), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
    r = np.clip(np.asarray(reference) * 100.0, 0, 100)
    p = np.clip(np.asarray(prediction) * 100.0, 0, 100)
    counts = [np.histogram2d(r[:, c], p[:, c], bins=(BINS, BINS))[0] for c in range(n)]
    norm = LogNorm(vmin=1, vmax=max(2.0, max(float(h.max()) for h in counts)))
    mesh = None
    for c, ax in enumerate(axes.flat):
        if c >= n:
            ax.set_visible(False)
            continue
        hist = np.ma.masked_equal(counts[c].T, 0)
        mesh = ax.pcolormesh(BINS, BINS, hist, norm=norm, cmap="viridis", rasterized=True)
        ax.plot([0, 100], [0, 100], color="0.4", lw=0.8, ls="--")
        ax.set(xlim=(0, 100), ylim=(0, 100), aspect="equal")
        ax.set_xticks([0, 25, 50, 75, 100])
        ax.set_yticks([0, 25, 50, 75, 100])
        ax.tick_params(labelsize=7)
        name = textwrap.fill(textwrap.shorten(metrics.classes[c], 60, placeholder="…"), 36)
        stats = f"MAE {_fmt(metrics.mae[c], 1)} % · CC {_fmt(metrics.cc[c])}"
        ax.set_title(f"{name}\n{stats}", fontsize=8)
        if c % ncols == 0:
            ax.set_ylabel("predicted (%)", fontsize=8)
        if c >= n - ncols:
            ax.set_xlabel("reference (%)", fontsize=8)
            ax.xaxis.set_tick_params(labelbottom=True)
    if mesh is not None:
        bar = fig.colorbar(mesh, ax=axes.ravel().tolist(), shrink=0.8, pad=0.01)
        bar.set_label("chips per 2 % × 2 % bin", fontsize=8)
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        bar.ax.tick_params(labelsize=7)
    fig.suptitle(title or f"{metrics.level}: predicted vs reference abundance", fontsize=10)
    return fig


def write_scatter(result: EvaluationResult, level: str, path: str | os.PathLike[str]) -> Path:
    m = result.model[level]
    model = result.info.get("model", {}).get("id", "model")
    title = f"{level}: predicted vs reference abundance — {model}, {m.n_chips} chips"
    fig = scatter_figure(result.reference[level], result.prediction[level], m, title=title)
    fig.savefig(path, format="png")
    return Path(path)


# -- Markdown -----------------------------------------------------------------------------------
def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _averages_table(level: str, model: LevelMetrics, baseline: LevelMetrics | None) -> list[str]:
    head = ["", "MAE (%)", "RMSE (%)", "RRMSE (%)", "CC", "F1 macro", "F1 weighted"]
    lines = [_row(head), "|---|" + "---:|" * (len(head) - 1)]

    def cells(m: LevelMetrics) -> list[str]:
        a = m.averages
        return [
            _fmt(a["mae"].value),
            _fmt(a["rmse"].value),
            _fmt(a["rrmse"].value),
            _fmt(a["cc"].value, 4),
            _fmt(m.f1_macro, 4),
            _fmt(m.f1_weighted, 4),
        ]

    lines.append(_row(["**Model**", *cells(model)]))
    if baseline is not None:
        lines.append(_row(["Training-mean baseline", *cells(baseline)]))
    paper = PAPER[level]
    lines.append(
        _row(
            [
                "Paper (BRITS + all ancillary)",
                _fmt(paper["mae"]),
                _fmt(paper["rmse"]),
                _fmt(paper["rrmse"]),
                _fmt(paper["cc"], 4),
                _fmt(paper["f1"], 4),
                "–",
            ]
        )
    )
    return lines


def _nan_notes(m: LevelMetrics) -> list[str]:
    notes = []
    why = {"rrmse": "absent from the reference", "cc": "constant on one side", "f1": "no chip"}
    label = {"rrmse": "RRMSE", "cc": "CC", "f1": "F1"}
    for metric in ("rrmse", "cc", "f1"):
        nan = m.nan_classes(metric)
        if nan:
            kept = len(m.classes) - len(nan)
            notes.append(
                f"- {label[metric]} averages {kept} of {len(m.classes)} classes "
                f"({why[metric]}: {', '.join(nan)})."
            )
    return notes


def _class_table(model: LevelMetrics, baseline: LevelMetrics | None) -> list[str]:
    head = ["Class", "Ref. mean (%)", "Majority chips", "MAE (%)", "RMSE (%)", "RRMSE (%)"]
    head += ["CC", "F1"]
    if baseline is not None:
        head += ["Baseline MAE (%)", "Baseline RRMSE (%)", "Baseline F1"]
    lines = [_row(head), "|---|" + "---:|" * (len(head) - 1)]
    for i, name in enumerate(model.classes):
        cells = [
            name,
            _fmt(model.reference_mean[i]),
            str(int(model.support[i])),
            _fmt(model.mae[i]),
            _fmt(model.rmse[i]),
            _fmt(model.rrmse[i]),
            _fmt(model.cc[i], 4),
            _fmt(model.f1[i], 4),
        ]
        if baseline is not None:
            cells += [_fmt(baseline.mae[i]), _fmt(baseline.rrmse[i]), _fmt(baseline.f1[i], 4)]
        lines.append(_row(cells))
    return lines


def _selection_text(info: dict[str, Any]) -> tuple[str, str]:
    sel = info.get("selection") or {}
    counts = info.get("counts", {})
    blocks = ", ".join(map(str, sel.get("blocks") or []))
    split = {
        "test": f"the held-out blocks recorded in the model card: {blocks}",
        "blocks": f"blocks {blocks}",
        "all": "every chip of the dataset",
    }.get(sel.get("split", ""), "chips chosen through the API")
    evaluated = f"{counts.get('evaluated', '?')} chips, {split}"
    if counts.get("excluded_no_reference"):
        evaluated += f"; {counts['excluded_no_reference']} left out (no reference)"
    if counts.get("excluded_no_ancillary"):
        evaluated += f"; {counts['excluded_no_ancillary']} left out (missing ancillary values)"
    unmapped = counts.get("mean_unmapped_fraction")
    if unmapped is not None:
        evaluated += f"; mean unmapped fraction of the reference {100 * unmapped:.1f} %"
    source = {
        "train_blocks": "the blocks given with --train-blocks",
        "card": "the training blocks recorded in the model card",
        "complement": "the dataset's chips that are not evaluated (the card records no "
        "training blocks)",
        "in_sample": "the evaluated chips themselves (no training blocks known): an in-sample "
        "mean, the best constant predictor of these chips, so this baseline is flattered",
    }.get(sel.get("baseline_source", ""), "the chips given through the API")
    baseline = f"mean reference of {counts.get('baseline_chips', '?')} chips: {source}"
    return evaluated, baseline


def markdown_report(result: EvaluationResult, *, plots: dict[str, str] | None = None) -> str:
    """The report: context, averages beside the baseline and the paper, per-class tables."""
    info = result.info
    ds, model = info.get("dataset", {}), info.get("model", {})
    evaluated, baseline = _selection_text(info)
    sha = str(model.get("weights_sha256") or "")[:12]
    block = ds.get("block_size_m")
    if isinstance(block, list | tuple):
        block = " × ".join(f"{float(v):g}" for v in block)
    ds_text = (
        f"{_code(ds.get('path'))}: {ds.get('n_chips', '?')} chips in "
        f"{ds.get('n_blocks', '?')} blocks; {ds.get('chip_size', '?')} px chips at "
        f"{ds.get('pixel_size_m', '?')} m; blocks {block or '?'} m; CRS {ds.get('crs', '?')}; "
        f"legend {ds.get('legend', '?')}"
    )
    model_text = (
        f"`{model.get('id', '?')}` {model.get('version', '')} (card {_code(model.get('card'))}, "
        f"weights sha256 `{sha}…`); output level {model.get('output_level', '?')}; ancillary: "
        f"{', '.join(model.get('ancillary') or []) or 'none'}"
    )
    lines = [
        f"# Evaluation of `{model.get('id', 'model')}` {model.get('version', '')}".rstrip(),
        "",
        "| | |",
        "|---|---|",
        _row(["Dataset", ds_text]),
        _row(["Model", model_text]),
        _row(["Evaluated", evaluated]),
        _row(["Baseline", baseline]),
        _row(["Made", f"lulcmap {__version__} on {info.get('date', '')}"]),
    ]
    for level in result.levels:
        m = result.model[level]
        b = result.baseline[level] if result.baseline else None
        lines += ["", f"## {level}", "", "### Averages over classes", ""]
        lines += _averages_table(level, m, b)
        notes = _nan_notes(m)
        if b is not None:
            notes.append(
                "- The baseline predicts the same fractions for every chip: its CC is "
                "undefined (–)."
            )
        lines += ["", *notes] if notes else []
        lines += ["", "### Per class", ""]
        lines += _class_table(m, b)
        if plots and level in plots:
            lines += ["", f"![{level}: predicted vs reference abundance]({plots[level]})"]
    lines += ["", *READING_NOTES]
    return "\n".join(lines) + "\n"


READING_NOTES = [
    "## How to read this report",
    "",
    "- Errors are in percent points of abundance. Per class: MAE = mean |p − r|; "
    "RMSE = √mean (p − r)²; RRMSE = RMSE / mean r × 100 (undefined for a class absent from the "
    "reference); CC = Pearson correlation of p and r (undefined when either is constant). "
    "Averages are over classes, skipping undefined values (the notes say which).",
    "- F1 of the majority class: each chip is labelled with its dominant class in the reference "
    "and in the prediction. The paper does not say how it averages F1 over classes; the "
    "headline is the **macro** mean over classes that occur as a label, the support-weighted "
    "mean is given beside it.",
    "- **Averaged MAE looks small whenever most classes are rare**: a class that covers 1 % of "
    "the area cannot have a large MAE. The training-mean baseline, on the same chips, shows how "
    "small MAE is without looking at the image at all (on Zion it already gives an N2 MAE near "
    "6 %). Judge the model on RRMSE and CC of the classes that matter, those with a large "
    "reference mean.",
    "- The paper's figures (BRITS on MODIS time series with all ancillary data, Andalusia) are "
    "context, not a target: another sensor, region, resolution and reference map.",
]


def write_report(
    result: EvaluationResult, out_dir: str | os.PathLike[str], *, overwrite: bool = False
) -> dict[str, Path]:
    """Write ``report.md``, ``metrics.json`` and ``scatter_<level>.png`` atomically."""
    require_matplotlib()
    result.info.setdefault("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    plots = {level: f"scatter_{level}.png" for level in result.levels}
    names = {"report": "report.md", "metrics": "metrics.json", **plots}
    with atomic_outputs(out_dir, names.values(), overwrite=overwrite) as staging:
        for level, name in plots.items():
            write_scatter(result, level, staging / name)
        text = json.dumps(result.to_dict(), indent=2, allow_nan=False, ensure_ascii=False)
        (staging / names["metrics"]).write_text(text + "\n", "utf-8")
        (staging / names["report"]).write_text(markdown_report(result, plots=plots), "utf-8")
    return {kind: Path(out_dir) / name for kind, name in names.items()}


__all__ = [
    "PAPER",
    "markdown_report",
    "require_matplotlib",
    "scatter_figure",
    "write_report",
    "write_scatter",
]
