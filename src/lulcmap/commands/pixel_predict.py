"""``predict``'s steps for a pixel-encoder model (``kind: pixel_encoder``), as named steps.

scene  = open the scene with every band as reflectance 0..1, at the card's pixel size
bands  = the scene's bands matched onto Presto's; the card's bands required
month  = ``--date``, else the scene's metadata or name (:func:`lulcmap.io.dates.scene_date`)
anc    = the cells' elevation and slope (DEM) and climate (ERA5: monthly grids only)
result = the pixel engine (:func:`lulcmap.pixels.run_pixels`) on the chip plan's cells

What was fed and masked, and why, goes to ``info`` (the run record's ``pixel_encoder`` entry).
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from lulcmap.ancillary import compute_ancillary
from lulcmap.chips import ChipPlan
from lulcmap.errors import (
    BandSelectionError,
    ConfigError,
    InputDataError,
    MissingVariableError,
    ModelCardError,
)
from lulcmap.inference import EngineOptions, InferenceResult
from lulcmap.io.climate import find_climate
from lulcmap.io.dates import parse_date, scene_date
from lulcmap.io.scene import Scene, open_scene
from lulcmap.io.warp import at_pixel_size, pixel_size_m, same_pixel_size
from lulcmap.model.card import ModelCard
from lulcmap.model.card_encoder import EncoderSpec, check_lattice
from lulcmap.model.presto import BANDS
from lulcmap.model.presto_inputs import climate_to_presto, match_bands
from lulcmap.pixels import CellInputs, run_pixels

log = logging.getLogger(__name__)

CLIMATE_GRIDS = ("temp_ave", "precipitation")
"""The climate grids a ``climate: monthly`` card takes: the scene month's mean temperature (°C)
and total precipitation (mm)."""


@dataclass
class PixelRun:
    """What the pixel steps produced, for ``predict`` to turn into its dataset."""

    scene: Scene
    original: Scene
    plan: ChipPlan
    anc: dict[str, np.ndarray]
    result: InferenceResult
    info: dict[str, Any] = field(default_factory=dict)


def encoder_of(card: ModelCard) -> EncoderSpec:
    """The card's ``encoder`` block; a chip-CNN card here is a programming error, said plainly."""
    if card.encoder is None:
        raise ModelCardError(f"model {card.id} is not a pixel-encoder model (no `encoder` block)")
    return card.encoder


def band_map(card: ModelCard, scene: Scene) -> dict[int, int]:
    """Presto channel -> scene band position; the card's ``encoder.bands`` must all be there
    (and only they are fed), or, with ``bands: []``, every Presto band the scene has."""
    found = match_bands(scene.band_names)
    names = ", ".join(scene.band_names)
    fix = "name the scene's bands in order with --bands, e.g. --bands B02,B03,B04,B08"
    wanted = encoder_of(card).bands
    if wanted:
        missing = [b for b in wanted if BANDS.index(b) not in found]
        if missing:
            raise BandSelectionError(
                f"model {card.id} needs bands {', '.join(wanted)} but scene {scene.path} lacks "
                f"{', '.join(missing)} (its bands: {names}); use a scene with them, or {fix}"
            )
        return {c: i for c, i in found.items() if BANDS[c] in wanted}
    if not found:
        raise BandSelectionError(
            f"model {card.id} needs Sentinel-2 bands (any of B2, B3, B4, B8...) but none of scene "
            f"{scene.path}'s bands ({names}) is one; {fix}"
        )
    return found


def scene_month(scene: Scene, given: str | None) -> tuple[date, str]:
    """The acquisition date and where it came from: ``--date``, else the scene's tags or name."""
    if given:
        return parse_date(given), "--date"
    found = scene_date(scene.path, scene.tags)
    if found is None:
        raise InputDataError(
            f"the acquisition month of scene {scene.path} is not in its metadata or name, and the "
            f"pixel encoder needs it; pass --date YYYY-MM-DD (e.g. --date 2023-06-15)"
        )
    return found, "scene metadata or file name"


def _terrain(
    card: ModelCard, plan: ChipPlan, dem: Path | None, info: dict[str, Any]
) -> dict[str, np.ndarray]:
    mode = encoder_of(card).terrain
    if mode == "required" and dem is None:
        raise MissingVariableError(
            f"model {card.id} was trained with elevation and slope (encoder.terrain: required) "
            "but no DEM was given; pass --dem DEM.tif"
        )
    if dem is None or mode == "masked":
        info["notes"].append(
            "SRTM masked: " + ("no DEM given" if dem is None else f"model {card.id} masks it")
        )
        return {}
    if not Path(dem).exists():
        raise MissingVariableError(f"DEM {dem} does not exist; check the --dem path")
    info["inputs"].append("elevation and slope: the cell's means over its chip footprint")
    return compute_ancillary(plan, variables=["elevation", "slope"], dem=dem, climate={})


def _climate(
    card: ModelCard,
    plan: ChipPlan,
    when: date,
    climate: Path | None,
    climate_vars: Mapping[str, Path],
    info: dict[str, Any],
) -> tuple[dict[str, np.ndarray], tuple[np.ndarray, np.ndarray] | None]:
    """Per-cell climate grids, and ERA5 (K, m/day) when the card takes monthly grids."""
    given = climate is not None or bool(climate_vars)
    if encoder_of(card).climate == "masked":
        if given:
            info["notes"].append(
                f"ERA5 masked: model {card.id} takes no climate (encoder.climate: masked); "
                "lulcmap's climate grids are annual values, Presto's ERA5 inputs are the month's"
            )
        else:
            info["notes"].append("ERA5 masked: no climate grids given")
        return {}, None
    try:
        grids = find_climate(climate, CLIMATE_GRIDS, overrides=dict(climate_vars))
    except MissingVariableError as exc:
        raise MissingVariableError(
            f"model {card.id} takes the scene month's climate (encoder.climate: monthly): {exc}; "
            "give that month's temp_ave (°C) and precipitation (mm) grids"
        ) from None
    anc = compute_ancillary(plan, variables=list(CLIMATE_GRIDS), dem=None, climate=grids)
    days = calendar.monthrange(when.year, when.month)[1]
    temp = climate_to_presto("temp_ave", anc["temp_ave"], unit="degC", period="month")
    prec = climate_to_presto(
        "precipitation", anc["precipitation"], unit="mm/month", days_in_month=days
    )
    if temp.values is None or prec.values is None:  # monthly °C and mm always convert
        raise InputDataError(f"climate grids not usable by Presto: {temp.note or prec.note}")
    info["inputs"].append("ERA5: the month's temp_ave (°C -> K), precipitation (mm -> m/day)")
    return anc, (temp.values, prec.values)


def _at_pixel_size(scene: Scene, card: ModelCard) -> Scene:
    """The scene read at the card's pixel size (the cells' footprints), as for chip models."""
    wanted = card.input.pixel_size_m
    if not scene.grid.crs.is_projected or same_pixel_size(pixel_size_m(scene.grid), wanted):
        return scene
    log.info("scene pixels resampled on read to the model's %g m cells", wanted)
    return at_pixel_size(scene, wanted)


def run_pixel_steps(
    stack: ExitStack,
    scene: str | Path,
    card: ModelCard,
    net: Callable[..., Any],
    *,
    options: EngineOptions,
    stride: int,
    dem: Path | None,
    climate: Path | None,
    climate_vars: Mapping[str, Path],
    bands: str | None,
    pixels_per_cell: int | None,
    date_text: str | None,
    scale: float | None,
    offset: float | None,
    mask: Path | None,
    mask_values: Any,
    on_row: Callable[[int], None] | None,
    on_plan: Callable[[int], None] | None = None,
) -> PixelRun:
    """The pixel encoder's steps (module docstring); scene handles are closed by ``stack``."""
    encoder = encoder_of(card)
    ppc = encoder.pixels_per_cell if pixels_per_cell is None else pixels_per_cell
    try:
        check_lattice(ppc)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    original = open_scene(
        scene,
        radiometry=card.input.radiometry,
        scale=scale,
        offset=offset,
        mask=mask,
        mask_values=mask_values,
        chunk_rows=min(stride, card.input.chip_size),
        output="reflectance",
        band_names=None if bands is None else [b for b in bands.split(",") if b.strip()],
    )
    stack.callback(original.close)
    scn = _at_pixel_size(original, card)
    stack.callback(scn.close)
    channels = band_map(card, scn)
    when, source = scene_month(scn, date_text)
    info: dict[str, Any] = {"inputs": [], "notes": []}
    plan = ChipPlan(scn.grid, chip_size=card.input.chip_size, stride=stride)
    if on_plan is not None:
        on_plan(plan.n_cells)
    anc = _terrain(card, plan, dem, info)
    clim, era5 = _climate(card, plan, when, climate, climate_vars, info)
    cells = CellInputs(
        channels,
        when.month - 1,
        ppc,
        elevation=anc.get("elevation"),
        slope=anc.get("slope"),
        era5=era5,
    )
    result = run_pixels(
        scn, plan, cells, net, n_classes=card.n_classes, options=options, on_row=on_row
    )
    info.update(
        encoder=encoder.name,
        encoder_sha256=encoder.weights.sha256,
        head=card.head.kind if card.head else None,
        bands={BANDS[c]: scn.band_names[i] for c, i in sorted(channels.items())},
        pixels_per_cell=ppc,
        month=when.month,
        date=when.isoformat(),
        month_source=source,
    )
    return PixelRun(scn, original, plan, {**anc, **clim}, result, info)


__all__ = [
    "CLIMATE_GRIDS",
    "PixelRun",
    "band_map",
    "encoder_of",
    "run_pixel_steps",
    "scene_month",
]
