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


def summary(card: ModelCard) -> dict[str, object]:
    """What a user needs to choose a model."""
    return {
        "id": card.id,
        "version": card.version,
        "legend": card.legend,
        "levels": list(card.levels),
        "output_level": card.output_level,
        "map_levels": list(card.map_levels),
        "pixel_size_m": card.input.pixel_size_m,
        "chip_size": card.input.chip_size,
        "bands": list(card.input.bands),
        "radiometry": card.input.radiometry.description,
        "ancillary": card.ancillary_names,
        "training_data": str(card.training.get("data", "")),
        "description": card.description,
        "weights_format": card.weights.format,
        "weights_installed": card.weights_installed,
        "weights": str(card.weights_path),
        "card": str(card.path),
    }


def _weights_cell(row: dict[str, object]) -> str:
    if row["weights_installed"]:
        return str(row["weights_format"])
    return f"{row['weights_format']}: weights not installed ({row['weights']})"


@user_errors
def models(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list for scripts."),
) -> None:
    """List the shipped models: id, legend and levels, pixel size, radiometry, ancillary."""
    with importing():
        from lulcmap.model.registry import list_models
    rows = [summary(c) for c in list_models()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="lulcmap models (use with --model ID, or --model path/to/card.yaml)")
    columns = ("id", "legend / levels", "input", "radiometry", "ancillary", "training data")
    for col in (*columns, "weights"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            f"{r['id']} {r['version']}",
            f"{r['legend']} {'+'.join(map(str, r['map_levels']))}",  # type: ignore[call-overload]
            f"{r['pixel_size_m']:g} m pixels, {r['chip_size']} px chips",
            str(r["radiometry"]),
            ", ".join(map(str, r["ancillary"])),  # type: ignore[call-overload]
            str(r["training_data"]),
            _weights_cell(r),
        )
    Console().print(table)
