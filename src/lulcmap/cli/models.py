"""``lulcmap models``: the shipped models, for people and (``--json``) for scripts.

Models shipped without their weights (the published LifeWatch models, which users convert to ONNX
themselves) are listed too, marked "weights not installed".
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from lulcmap.cli._common import user_errors
from lulcmap.process import importing

if TYPE_CHECKING:
    from lulcmap.model.card import ModelCard


def summary(card: ModelCard, default: str = "") -> dict[str, object]:
    """What a user needs to choose a model (``default``: the id ``predict`` uses unless told)."""
    return {
        "id": card.id,
        "version": card.version,
        "kind": card.kind,
        "default": card.id == default,
        "trained_on": card.trained_on,
        "training_domain": card.training_domain,
        "legend": card.legend,
        "levels": list(card.levels),
        "output_level": card.output_level,
        "map_levels": list(card.map_levels),
        "pixel_size_m": card.input.pixel_size_m,
        "chip_size": card.input.chip_size,
        "bands": _bands(card),
        "radiometry": card.input.radiometry.description,
        "ancillary": card.ancillary_names,
        "ancillary_summary": _ancillary_cell(card),
        "training_data": str(card.training.get("data", "")),
        "description": card.description,
        "weights_format": card.weights.format,
        "weights_installed": card.weights_installed,
        "weights": str(card.weights_path),
        "card": str(card.path),
    }


def _bands(card: ModelCard) -> list[str]:
    if card.encoder is None:
        return list(card.input.bands)
    return list(card.encoder.bands) or ["any Sentinel-2 bands"]


def _weights_cell(row: dict[str, object]) -> str:
    if row["weights_installed"]:
        return "installed"
    return f"not installed ({row['weights_format']})"


def _ancillary_cell(card: ModelCard) -> str:
    """The ancillary inputs in a few words (``--json`` lists them)."""
    if card.encoder is not None:
        dem = {"required": "DEM", "if_given": "DEM if given", "masked": ""}[card.encoder.terrain]
        clim = "monthly climate" if card.encoder.climate == "monthly" else ""
        return " + ".join(p for p in (dem, clim) if p) or "-"
    n_clim = len(card.climate_names)
    dem = "DEM" if len(card.ancillary_names) > n_clim else ""
    return " + ".join(p for p in (dem, f"{n_clim} climate" if n_clim else "") if p) or "-"


def _input_cell(r: dict[str, object]) -> str:
    what = "pixels of " + ", ".join(map(str, r["bands"]))  # type: ignore[call-overload]
    if r["kind"] != "pixel_encoder":
        what = "RGB chips"
    levels = "+".join(map(str, r["map_levels"]))  # type: ignore[call-overload]
    return f"{what} at {r['pixel_size_m']:g} m -> {r['legend']} {levels}"


@user_errors
def models(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list for scripts."),
) -> None:
    """List the shipped models: id, legend and levels, pixel size, radiometry, ancillary."""
    with importing():
        from lulcmap.model.registry import DEFAULT_MODEL, list_models
    rows = [summary(c, DEFAULT_MODEL) for c in list_models()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    missing = [str(r["id"]) for r in rows if not r["weights_installed"]]
    caption = "`lulcmap models --json` gives every field (radiometry, training data...)"
    if missing:
        caption = f"weights not installed: {', '.join(missing)} (see their cards). {caption}"
    table = Table(
        title="lulcmap models (--model ID, or --model path/to/card.yaml; * = the default)",
        caption=caption,
    )
    for col, width in (("id", 21), ("trained on", 20), ("input -> output", 18)):
        table.add_column(col, overflow="fold", width=width)
    for col, width in (("ancillary", 12), ("weights", 13)):
        table.add_column(col, overflow="fold", width=width)
    for r in rows:
        table.add_row(
            f"{'* ' if r['default'] else ''}{r['id']} {r['version']}",
            str(r["trained_on"]),
            _input_cell(r),
            str(r["ancillary_summary"]),
            _weights_cell(r),
        )
    Console().print(table)
