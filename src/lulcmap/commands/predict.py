"""``predict``: one scene -> N1/N2 abundance maps. :func:`predict` is a short list of named steps;
:func:`run_predict`, the command, also writes the outputs (COGs, Zarr, GeoParquet, run record).

card   = load the model (card + verified safetensors or ONNX weights); the stride checked
scene  = open the scene lazily, in the card's radiometry
plan   = plan chips on the scene grid (pure arithmetic)
anc    = ancillary values per cell from the DEM and climate grids, checked against the card's
         range (a warning per variable outside it; ``strict``: an error)
result = stream chips through the model
ds     = an xarray.Dataset on the output grid

A pixel-encoder model (``kind: pixel_encoder``, e.g. the default ``presto-dynamicworld``) takes
the same cells through :mod:`lulcmap.commands.pixel_predict` (every band as reflectance, the month,
lattice pixels through the pixel engine) instead of steps scene..result; the dataset and every
output are the same.

The model's card says its level: an N2 model gives N2 and N1 (the legend's sum), an N1 model
(e.g. the published N1 model through ONNX) gives N1 only, and only N1 is written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import xarray as xr

from lulcmap.ancillary import compute_ancillary
from lulcmap.chips import ChipPlan
from lulcmap.commands.base import Command, Progress, updates
from lulcmap.commands.pixel_predict import run_pixel_steps
from lulcmap.config import PredictConfig, default
from lulcmap.errors import AncillaryRangeError, ConfigError, InputNotFoundError
from lulcmap.inference import EngineOptions, InferenceResult, run_inference
from lulcmap.io.climate import find_climate
from lulcmap.io.scene import SYNTHETIC_TAG, Scene, open_scene, raster_tags
from lulcmap.io.warp import at_pixel_size, pixel_size_m, same_pixel_size
from lulcmap.io.writers import check_outputs_free, levels_of, output_names, write_outputs
from lulcmap.legend import LEVELS, Legend
from lulcmap.model.card import ModelCard
from lulcmap.model.onnx import OnnxModel
from lulcmap.model.pixel import PixelEncoderModel
from lulcmap.model.ranges import check_ancillary, checked_names
from lulcmap.model.registry import load_model, resolve_card
from lulcmap.model.runtime import CardedModel, resolve_device, run_options
from lulcmap.version import __version__

log = logging.getLogger(__name__)


OUTPUT_SUFFIXES = tuple(output_names("", LEVELS).values())
"""Suffixes of every output ``predict`` can write; an N1 model's run has no ``_N2.tif``."""


def _at_model_pixel_size(scene: Scene, card: ModelCard) -> Scene:
    """The scene resampled on read to the card's pixel size, if its own differs (by more than
    :data:`~lulcmap.io.warp.PIXEL_SIZE_TOLERANCE`, as :func:`~lulcmap.io.warp.at_pixel_size`)."""
    if not scene.grid.crs.is_projected:
        log.warning(
            "scene CRS %s is geographic; the model expects %g m pixels: warp the scene to a "
            "projected CRS (e.g. its UTM zone) for chips of the right size",
            scene.grid.crs,
            card.input.pixel_size_m,
        )
        return scene
    own, wanted = pixel_size_m(scene.grid), card.input.pixel_size_m
    if same_pixel_size(own, wanted):
        return scene
    log.warning(
        "scene pixels are %g m but model %s was trained at %g m: resampling on read (%s) to %g m",
        own,
        card.id,
        wanted,
        "bilinear" if wanted < own else "average",
        wanted,
    )
    return at_pixel_size(scene, wanted)


def _ancillary(
    plan: ChipPlan,
    card: ModelCard,
    dem: Path | None,
    climate: Path | None,
    climate_vars: Mapping[str, Path],
) -> dict[str, np.ndarray]:
    names = card.ancillary_names
    if dem is not None and not Path(dem).exists():
        raise InputNotFoundError(f"DEM {dem} does not exist; check the --dem path")
    grids = find_climate(climate, card.climate_names, overrides=dict(climate_vars))
    return compute_ancillary(plan, variables=names, dem=dem, climate=grids)


def prediction_dataset(
    plan: ChipPlan,
    fractions: np.ndarray,
    valid_fraction: np.ndarray,
    anc: Mapping[str, np.ndarray],
    *,
    card: ModelCard,
    legend: Legend,
    level: str | None = None,
) -> xr.Dataset:
    """The dataset ``predict`` returns (and the writers consume), from per-cell arrays.

    ``fractions`` is ``(classes, rows, cols)`` at ``level`` (default: the card's output level)
    with NaN on cells not predicted. N2 fractions give ``N2`` and ``N1`` (the legend's sum); N1
    fractions give ``N1`` only. Chip footprints, class names, model identity, the levels present
    (``attrs["levels"]``) and the CRS are attached.
    """
    grid = plan.cell_grid
    x, y = grid.xy_centres()
    bounds = plan.chip_bounds()
    levels = legend.levels_from(fractions, level or card.output_level)
    data_vars: dict[str, tuple[tuple[str, ...], np.ndarray]] = {
        lv: ((f"class_{lv.lower()}", "y", "x"), values.astype(np.float32))
        for lv, values in levels.items()
    }
    data_vars["valid_fraction"] = (("y", "x"), valid_fraction.astype(np.float32))
    for name, values in anc.items():
        data_vars[name] = (("y", "x"), values.astype(np.float32))
    ds = xr.Dataset(
        data_vars,
        coords={
            "x": x,
            "y": y,
            **{f"class_{lv.lower()}": legend.names(lv) for lv in levels},
            "chip_left": ("x", bounds[0, :, 0]),
            "chip_right": ("x", bounds[0, :, 2]),
            "chip_bottom": ("y", bounds[:, 0, 1]),
            "chip_top": ("y", bounds[:, 0, 3]),
        },
        attrs={
            "model_id": card.id,
            "model_version": card.version,
            "trained_on": card.trained_on,
            "weights_sha256": card.weights.sha256,
            "weights_format": card.weights.format,
            "legend": legend.id,
            "levels": list(levels),
            "chip_size": plan.chip_size,
            "stride": plan.stride,
            "lulcmap_version": __version__,
            "ancillary": list(anc),
        },
    )
    ds = ds.rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    return ds.rio.write_coordinate_system()


def check_ranges(
    card: ModelCard, anc: Mapping[str, np.ndarray], *, strict: bool
) -> dict[str, object]:
    """The card's range check of the ancillary values (:mod:`lulcmap.model.ranges`): one warning
    per finding, or with ``strict`` the first as an error; returns the run record's entry."""
    findings = check_ancillary(card.ancillary, anc)
    if strict and findings:
        more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
        raise AncillaryRangeError(
            f"{findings[0].message(card.id)}{more}; --strict refuses it: fix the grid, or "
            "leave out --strict to map with a warning"
        )
    for finding in findings:
        log.warning("%s", finding.message(card.id))
    checked, unchecked = checked_names(v for v in card.ancillary if v.name in anc)
    return {
        "checked": checked,
        "not_checked_no_statistics": unchecked,
        "findings": [f.to_dict() for f in findings],
    }


def check_stride(stride: int, card: ModelCard) -> None:
    """``stride`` within 1..the card's chip size: checked as soon as the card is known."""
    if not 1 <= stride <= card.input.chip_size:
        raise ConfigError(
            f"--stride must be between 1 and the model's chip size "
            f"({card.input.chip_size} px) so that every scene pixel lies in some chip, "
            f"got {stride}"
        )


def predict(
    scene: str | Path,
    *,
    dem: str | Path | None = None,
    climate: str | Path | None = None,
    climate_vars: Mapping[str, str | Path] | None = None,
    model: str | Path | ModelCard | CardedModel | None = default(PredictConfig, "model"),
    stride: int = default(PredictConfig, "stride"),
    rgb_bands: str | Sequence[int | str] | None = None,
    scale: float | None = None,
    offset: float | None = None,
    mask: str | Path | None = None,
    mask_values: Sequence[int] | None = None,
    min_valid_fraction: float = default(PredictConfig, "min_valid_fraction"),
    batch_size: int = default(PredictConfig, "batch_size"),
    device: str = default(PredictConfig, "device"),
    bf16: bool = default(PredictConfig, "bf16"),
    strict: bool = default(PredictConfig, "strict"),
    bands: str | None = None,
    pixels_per_cell: int | None = None,
    date: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    timings: dict[str, float] | None = None,
) -> xr.Dataset:
    """Estimate N1/N2 abundances for every output cell of a scene.

    Returns an ``xarray.Dataset`` on the output grid (CRS attached) with float32 fractions
    ``N1`` (class_n1, y, x) and ``N2`` (class_n2, y, x) -- NaN on cells not predicted --,
    ``valid_fraction`` and the ancillary values used. A model whose card gives only N1 (its
    ``levels: [N1]``) yields ``N1`` alone. ``on_progress(done, total)`` counts cells.
    ``bf16`` runs a torch model under bfloat16 autocast (CUDA or CPU; fractions differ from
    float32 by ~1e-3); ONNX models ignore it. Ancillary values outside the card's range (see
    :mod:`lulcmap.model.ranges`) are logged as warnings, or with ``strict`` raise
    :class:`~lulcmap.errors.AncillaryRangeError` before inference.

    A pixel-encoder model (``kind: pixel_encoder``) runs on lattice pixels of the same cells
    (:mod:`lulcmap.commands.pixel_predict`): ``bands`` names the scene's bands,
    ``pixels_per_cell`` overrides the card's lattice, ``date`` gives the month when the scene's
    metadata and name do not; ``rgb_bands`` does not apply.
    """
    with ExitStack() as stack:  # closes the scene's GDAL handles on exit
        t = timings if timings is not None else {}
        clock = time.perf_counter()
        dev = resolve_device(device)
        resolved = model.card if isinstance(model, CardedModel) else resolve_card(model)
        check_stride(stride, resolved)  # before the weights and the scene are read
        net = model if isinstance(model, CardedModel) else load_model(resolved, device=dev)
        card, legend = net.card, net.card.get_legend()
        warn_synthetic(card, scene)
        done, total = [0], [0]

        def on_row(n: int) -> None:
            done[0] += n
            if on_progress is not None:
                on_progress(done[0], total[0])

        run = run_options(net, dev, bf16=bf16)
        opts = EngineOptions.for_run(
            run, batch_size=batch_size, min_valid_fraction=min_valid_fraction
        )
        if card.kind == "pixel_encoder" or isinstance(net, PixelEncoderModel):
            if rgb_bands is not None:
                log.warning("--rgb-bands does not apply to pixel-encoder model %s", card.id)
            px = run_pixel_steps(
                stack, scene, card, net, options=opts, stride=stride,
                dem=Path(dem) if dem else None, climate=Path(climate) if climate else None,
                climate_vars={k: Path(v) for k, v in (climate_vars or {}).items()},
                bands=bands, pixels_per_cell=pixels_per_cell, date_text=date, scale=scale,
                offset=offset, mask=Path(mask) if mask else None, mask_values=mask_values,
                on_row=on_row, on_plan=lambda n: total.__setitem__(0, n),
            )  # fmt: skip
            t["inference_s"] = time.perf_counter() - clock
            ds = prediction_dataset(
                px.plan, px.result.fractions, px.result.valid_fraction, px.anc, card=card,
                legend=legend,
            )  # fmt: skip
            _count(ds, px.plan, px.result, dev, px.scene, px.original)
            ds.attrs["pixel_encoder"] = px.info
            return ds
        chunk_rows = min(stride, card.input.chip_size)
        original = open_scene(
            scene,
            rgb_bands=rgb_bands,
            radiometry=card.input.radiometry,
            scale=scale,
            offset=offset,
            mask=Path(mask) if mask else None,
            mask_values=mask_values,
            chunk_rows=chunk_rows,
        )
        stack.callback(original.close)
        scn = _at_model_pixel_size(original, card)
        stack.callback(scn.close)
        plan = ChipPlan(scn.grid, chip_size=card.input.chip_size, stride=stride)
        t["setup_s"] = time.perf_counter() - clock
        anc = _ancillary(
            plan,
            card,
            Path(dem) if dem else None,
            Path(climate) if climate else None,
            {k: Path(v) for k, v in (climate_vars or {}).items()},
        )
        t["ancillary_s"] = time.perf_counter() - clock - t["setup_s"]
        checks = check_ranges(card, anc, strict=strict)  # before any inference
        anc_arr = (
            np.stack([anc[n] for n in card.ancillary_names], axis=-1)
            if anc
            else np.zeros((*plan.shape, 0))
        )
        total[0] = plan.n_cells
        start = time.perf_counter()
        n_classes = card.n_classes
        result = run_inference(
            scn, plan, anc_arr, net, n_classes=n_classes, options=opts, on_row=on_row
        )
        t["inference_s"] = time.perf_counter() - start
        ds = prediction_dataset(
            plan, result.fractions, result.valid_fraction, anc, card=card, legend=legend
        )
        _count(
            ds, plan, result, net.device.type if isinstance(net, OnnxModel) else dev, scn, original
        )
        ds.attrs["ancillary_checks"] = checks
        return ds


def _count(
    ds: xr.Dataset, plan: ChipPlan, result: InferenceResult, device: str, scn: Scene,
    original: Scene,
) -> None:  # fmt: skip
    """The counts, device and scene description a prediction's attrs carry."""
    ds.attrs.update(
        n_cells=plan.n_cells,
        n_predicted=result.n_predicted,
        n_low_valid=result.n_low_valid,
        n_no_ancillary=result.n_no_ancillary,
        device=device,
        scene=scn.describe(),
    )
    if scn is not original:
        ds.attrs["scene"]["resampled_from"] = original.describe()


def warn_synthetic(card: ModelCard, scene: str | Path) -> None:
    """One warning when a model trained on synthetic data maps anything but a synthetic world
    (a scene :func:`lulcmap.synthetic.write_world` wrote: it carries :data:`SYNTHETIC_TAG`)."""
    if card.training_domain != "synthetic" or SYNTHETIC_TAG in raster_tags(scene):
        return
    log.warning(
        "model %s was trained on synthetic data only: its abundances on real imagery mean "
        "nothing; use the default model (presto-dynamicworld) or one trained on real data",
        card.id,
    )


def output_paths(out: Path, stem: str, levels: Sequence[str] = LEVELS) -> list[Path]:
    """The outputs of a prediction holding ``levels`` (see :func:`ModelCard.map_levels`)."""
    return [Path(out) / name for name in output_names(stem, levels).values()]


def outputs(cfg: PredictConfig) -> list[Path]:
    """Every output a prediction can write (an N1 model's has no ``_N2.tif``)."""
    return output_paths(cfg.out, cfg.output_stem)


def run_predict(cfg: PredictConfig, progress: Progress | None = None) -> dict[str, Path]:
    """``predict`` then write every output atomically; returns the written paths by kind."""
    stem = cfg.output_stem
    card = resolve_card(cfg.model)
    check_stride(cfg.stride, card)
    check_outputs_free(output_paths(cfg.out, stem, card.map_levels), cfg.overwrite)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    options = cfg.model_dump(exclude={"scene", "out", "stem", "overwrite", "model"})
    ds = predict(cfg.scene, model=card, **options, on_progress=updates(progress), timings=timings)
    timings["total_before_write_s"] = time.perf_counter() - start
    record = run_record(cfg, ds, timings)
    return write_outputs(
        ds, cfg.out, stem, legend=card.get_legend(), run_record=record, overwrite=cfg.overwrite
    )


def run_record(
    cfg: PredictConfig, ds: xr.Dataset, timings: Mapping[str, float]
) -> dict[str, object]:
    """``<stem>.run.json``: inputs, model, options and their hash, grid, counts, timings."""
    a = ds.attrs
    n_cells = int(a["n_cells"])
    infer = timings.get("inference_s", 0.0)
    return {
        "lulcmap_version": __version__,
        "inputs": {
            "scene": a["scene"],
            "dem": str(cfg.dem) if cfg.dem else None,
            "climate": str(cfg.climate) if cfg.climate else None,
            "climate_vars": {k: str(v) for k, v in cfg.climate_vars.items()},
        },
        "model": {
            "id": a["model_id"],
            "version": a["model_version"],
            "weights_sha256": a["weights_sha256"],
            "weights_format": a.get("weights_format"),
            "legend": a["legend"],
            "levels": list(levels_of(ds)),
            "kind": "pixel_encoder" if "pixel_encoder" in a else "chip_cnn",
            "trained_on": a.get("trained_on"),
        },
        "pixel_encoder": a.get("pixel_encoder"),
        "options": cfg.model_dump(mode="json"),
        "config_sha256": cfg.digest(),
        "grid": {
            "crs": str(ds.rio.crs),
            "transform": list(ds.rio.transform())[:6],
            "shape": [ds.sizes["y"], ds.sizes["x"]],
        },
        "counts": {
            "cells": n_cells,
            "predicted": int(a["n_predicted"]),
            "below_valid_threshold": int(a["n_low_valid"]),
            "without_ancillary": int(a["n_no_ancillary"]),
        },
        "ancillary_checks": a.get("ancillary_checks"),
        "device": a["device"],
        "timings_s": dict(timings),
        "chips_per_s": n_cells / infer if infer else None,
    }


COMMAND = Command(
    "predict", PredictConfig, run_predict, outputs, "one scene -> N1/N2 abundance maps"
)

__all__ = [
    "COMMAND",
    "check_ranges",
    "check_stride",
    "output_paths",
    "outputs",
    "predict",
    "prediction_dataset",
    "run_predict",
    "run_record",
]
