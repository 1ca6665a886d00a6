"""``prepare``: scenes + a reference map + a crosswalk + DEM/climate -> a chip dataset (Zarr).

legend    = the legend and the crosswalk onto it
scenes    = open every scene in the model radiometry, resampled to the pixel size if asked
reference = open the reference; check overlap and codes (:mod:`lulcmap.training.reference`)
sources   = the ancillary variables available: elevation, slope, every climate grid given
chips     = per scene: plan chips as ``predict`` does, ancillary means per chip, then strip by
            strip: images, valid fractions, exact reference fractions, blocks -> appended
features  = with ``backbone: presto``, each kept chip's frozen-encoder features, from the same
            footprint as ``predict``'s pixel engine reads (:mod:`lulcmap.training.features`)
write     = all inside a staging folder, moved into place only when complete

Chips whose valid fraction is below ``min_valid_fraction`` (``predict`` makes them no-data
cells) and chips without any mapped reference area are left out; the counts are recorded.
Memory: one strip of the scene (``3 x chip_size x width`` bytes plus its raw values; each scene
row is decoded once, as in ``predict``), one chip's reference window,
the per-cell ancillary grids of a scene (bounded as in ``predict``), and at most
``CHUNK_CHIPS`` plus one strip's chips waiting to be appended (256 chips of 224 px: 38.5 MB),
whatever the number or size of the scenes. A polygon reference is held in memory, but only the
polygons that intersect the scenes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lulcmap.ancillary import DEM_VARIABLES, compute_ancillary
from lulcmap.chipdata.schema import FEATURES_ATTR
from lulcmap.chipdata.writer import ChipBatch, DatasetWriter
from lulcmap.chips import ChipPlan
from lulcmap.config import PrepareConfig
from lulcmap.errors import ConfigError, InputDataError, InputNotFoundError
from lulcmap.io.climate import climate_rasters
from lulcmap.io.scene import Scene, open_scene
from lulcmap.io.warp import at_pixel_size, metres_per_unit, pixel_size_m, same_pixel_size
from lulcmap.io.writers import atomic_outputs
from lulcmap.legend import Crosswalk, load_crosswalk, load_legend
from lulcmap.model.card import Radiometry
from lulcmap.stream import chip_rows
from lulcmap.training.features import FeatureEncoder, SceneFeatures, load_encoder
from lulcmap.training.reference import Reference, open_reference
from lulcmap.version import __version__

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass
class _Features:
    """The encoder and one scene read for it (``backbone: presto``)."""

    encoder: FeatureEncoder
    source: SceneFeatures
    anc: dict[str, np.ndarray]


def ancillary_sources(
    dem: Path | None, climate: Path | None, overrides: Mapping[str, Path]
) -> dict[str, Path]:
    """Every ancillary variable available: ``elevation``/``slope`` from the DEM, then each
    climate raster of the folder (canonical names first) and each ``--climate-var``."""
    sources: dict[str, Path] = {}
    if dem is not None:
        if not Path(dem).exists():
            raise InputNotFoundError(f"DEM {dem} does not exist; check the --dem path")
        sources = {name: Path(dem) for name in DEM_VARIABLES}
    return {**sources, **climate_rasters(climate, overrides)}


def _open_scenes(cfg: PrepareConfig, radiometry: Radiometry, stack: ExitStack) -> list[Scene]:
    """Every scene in ``radiometry`` (at ``cfg.pixel_size``); one CRS and pixel size for all."""
    scenes = []
    for path in cfg.scenes:
        scene = open_scene(
            path, rgb_bands=cfg.rgb_bands, radiometry=radiometry, scale=cfg.scale, offset=cfg.offset
        )
        if cfg.pixel_size is not None:
            scene = at_pixel_size(scene, cfg.pixel_size)
        stack.callback(scene.close)
        scenes.append(scene)
    crs = {s.grid.crs.to_string() for s in scenes}
    if len(crs) > 1:
        raise ConfigError(
            f"the scenes are in several CRSs ({', '.join(sorted(crs))}); a dataset holds one CRS "
            "for now: prepare each CRS as its own dataset, or warp the scenes to one CRS"
        )
    sizes = [pixel_size_m(s.grid, f"scene {s.path}") for s in scenes]
    if not all(same_pixel_size(size, sizes[0]) for size in sizes):
        raise ConfigError(
            f"the scenes have pixel sizes {sorted({round(s, 6) for s in sizes})} m; pass "
            "--pixel-size to read all of them at one size"
        )
    return scenes


def _chip_rows(
    scene: Scene,
    plan: ChipPlan,
    index: int,
    reference: Reference,
    ancillary: np.ndarray,
    min_valid: float,
    counts: dict[str, int],
    features: _Features | None = None,
) -> Iterator[ChipBatch]:
    """One batch per distinct chip row of :func:`lulcmap.stream.chip_rows` (the very stream
    ``predict`` reads): kept chips with all their per-chip values (and their features, read in
    step from the reflectance scene)."""
    cols, first_col = np.unique(plan.col_offsets, return_index=True)
    bounds = plan.chip_bounds()
    feature_rows = (
        chip_rows(features.source.scene, plan, distinct=True) if features is not None else None
    )
    for strip in chip_rows(scene, plan, distinct=True):
        feature_strip = next(feature_rows) if feature_rows is not None else None
        r = strip.row
        vf = strip.valid_fractions(first_col)
        keep = np.flatnonzero(vf >= min_valid)
        counts["low_valid"] += len(cols) - len(keep)
        fp = bounds[r, first_col[keep]]
        n2_area, unmapped = reference.fractions(fp, scene.grid.crs)
        mapped = n2_area.sum(axis=1) > 0
        counts["no_reference"] += int((~mapped).sum())
        keep, fp, n2_area, unmapped = keep[mapped], fp[mapped], n2_area[mapped], unmapped[mapped]
        feats = None
        if features is not None and feature_strip is not None:
            feats = features.encoder.chip_features(
                features.source, plan, feature_strip, first_col[keep], features.anc
            )
        yield ChipBatch(
            image=strip.chips(first_col[keep]),
            ancillary=ancillary[r, first_col[keep]],
            n2_area=n2_area,
            unmapped=unmapped,
            valid=vf[keep],
            bounds=fp,
            row_off=np.full(len(keep), strip.row_off),
            col_off=cols[keep],
            scene_index=index,
            features=feats,
        )


def _scene_record(scene: Scene, source: Path) -> dict[str, Any]:
    g = scene.grid
    return {
        "path": str(source),
        "crs": g.crs.to_string(),
        "transform": list(g.transform)[:6],
        "shape": list(g.shape),
        "pixel_size_m": pixel_size_m(g),
        "resampled": scene.resampling is not None,
        "rgb_bands": list(scene.band_names),
        "band_indexes": list(scene.band_indexes),
        "scale": None if scene.scale is None else list(scene.scale),
        "offset": None if scene.offset is None else list(scene.offset),
    }


@dataclass
class _Tally:
    """Chip counts as the scenes are written, and the progress callback."""

    total: int
    on_progress: Progress | None
    per_scene: list[int] = field(default_factory=list)
    low_valid: int = 0
    no_reference: int = 0
    done: int = 0

    def summary(self, reference: Reference, writer: DatasetWriter) -> dict[str, Any]:
        n = sum(self.per_scene)
        balance = writer.n2_sum / max(n, 1)
        bound = reference.error_bound
        return {
            "n_chips": n,
            "chips_per_scene": self.per_scene,
            "chips_planned": self.total,
            "n_blocks": len(writer.blocks),
            "class_balance": dict(zip(writer.legend.names("N2"), balance.tolist(), strict=True)),
            "chips_dropped_low_valid": self.low_valid,
            "chips_dropped_no_reference": self.no_reference,
            "fraction_error_bound": float(bound) if math.isfinite(bound) else None,
        }


def _attrs(
    cfg: PrepareConfig,
    scenes: list[Scene],
    reference: Reference,
    crosswalk: Crosswalk,
    radiometry: Radiometry,
    sources: Mapping[str, Path],
) -> dict[str, Any]:
    return {
        "legend": crosswalk.legend.id,
        "crosswalk": crosswalk.to_dict(),
        "chip_size": cfg.chip_size,
        "stride": cfg.stride,
        "pixel_size_m": pixel_size_m(scenes[0].grid),
        "radiometry": radiometry.model_dump(),
        "block_size_m": list(cfg.block_size),
        "crs": scenes[0].grid.crs.to_string(),
        "scenes": [_scene_record(s, Path(p)) for s, p in zip(scenes, cfg.scenes, strict=True)],
        "reference": str(cfg.reference),
        "reference_info": reference.describe(),
        "ancillary_sources": {n: str(p) for n, p in sources.items()},
        "min_valid_fraction": cfg.min_valid_fraction,
        "lulcmap_version": __version__,
    }


def _write_scene(
    writer: DatasetWriter,
    scene: Scene,
    plan: ChipPlan,
    index: int,
    reference: Reference,
    cfg: PrepareConfig,
    sources: Mapping[str, Path],
    tally: _Tally,
    encoder: tuple[FeatureEncoder, SceneFeatures] | None = None,
) -> None:
    """Ancillary means per chip, then the scene's chips strip by strip."""
    names = list(sources)
    climate = {n: p for n, p in sources.items() if n not in DEM_VARIABLES}
    anc = compute_ancillary(plan, variables=names, dem=cfg.dem, climate=climate)
    features = _Features(*encoder, anc) if encoder is not None else None
    values = np.stack([anc[v] for v in names], axis=-1) if names else np.empty((*plan.shape, 0))
    counts = {"low_valid": 0, "no_reference": 0}
    kept, per_strip = 0, len(np.unique(plan.col_offsets))
    rows = _chip_rows(
        scene, plan, index, reference, values, cfg.min_valid_fraction, counts, features
    )
    for batch in rows:
        writer.add(batch)
        kept, tally.done = kept + len(batch), tally.done + per_strip
        if tally.on_progress is not None:
            tally.on_progress(tally.done, tally.total)
    tally.per_scene.append(kept)
    tally.low_valid += counts["low_valid"]
    tally.no_reference += counts["no_reference"]


def prepare_dataset(cfg: PrepareConfig, *, on_progress: Progress | None = None) -> dict[str, Any]:
    """Write the chip dataset ``cfg.out``; returns its summary (also stored in its attrs)."""
    if cfg.stride > cfg.chip_size:
        raise ConfigError(
            f"--stride {cfg.stride} exceeds --chip-size {cfg.chip_size}: chips would leave gaps; "
            "use a stride up to the chip size"
        )
    presto_only = {"bands": cfg.bands, "pixels_per_cell": cfg.pixels_per_cell, "date": cfg.date}
    given = [k for k, v in presto_only.items() if v is not None]
    if cfg.backbone != "presto" and (given or cfg.features != "mean"):
        names = ", ".join("--" + k.replace("_", "-") for k in given or ["features"])
        raise ConfigError(f"{names} apply to the encoder features: add --backbone presto")
    crosswalk = load_crosswalk(cfg.crosswalk, legend=load_legend(cfg.legend))
    radiometry = Radiometry(reflectance_max=cfg.reflectance_max)
    sources = ancillary_sources(cfg.dem, cfg.climate, cfg.climate_vars)
    out = Path(cfg.out)
    with ExitStack() as stack:
        scenes = _open_scenes(cfg, radiometry, stack)
        grids = [(str(s.path), s.grid) for s in scenes]
        reference = open_reference(cfg.reference, crosswalk, grids, class_column=cfg.class_column)
        stack.callback(reference.close)
        plans = [ChipPlan(s.grid, chip_size=cfg.chip_size, stride=cfg.stride) for s in scenes]
        unit = metres_per_unit(scenes[0].grid)
        tally = _Tally(sum(len(set(p.row_offsets)) * len(set(p.col_offsets)) for p in plans),
                       on_progress)  # fmt: skip
        attrs = _attrs(cfg, scenes, reference, crosswalk, radiometry, sources)
        encoder = load_encoder(cfg) if cfg.backbone == "presto" else None
        read = (
            [encoder.scene(cfg, Path(p), s, stack) for p, s in zip(cfg.scenes, scenes, strict=True)]
            if encoder
            else []
        )
        if encoder is not None:
            attrs[FEATURES_ATTR] = encoder.record(read)
        with atomic_outputs(out.parent, [out.name], overwrite=cfg.overwrite) as staging:
            writer = DatasetWriter(
                staging / out.name,
                attrs=attrs,
                legend=crosswalk.legend,
                variables=list(sources),
                block_size=(cfg.block_size[0] / unit, cfg.block_size[1] / unit),
            )
            for index, (scene, plan) in enumerate(zip(scenes, plans, strict=True)):
                feed = (encoder, read[index]) if encoder is not None else None
                _write_scene(writer, scene, plan, index, reference, cfg, sources, tally, feed)
            if not sum(tally.per_scene):
                raise InputDataError(
                    f"no chip has both valid pixels (>= {cfg.min_valid_fraction:g}) and mapped "
                    f"reference area ({tally.low_valid} of {tally.total} chips below the valid "
                    f"fraction, {tally.no_reference} without mapped reference); check that the "
                    "reference covers the scenes and that the crosswalk maps its classes"
                )
            summary = tally.summary(reference, writer)
            writer.close(summary)
    return {"path": str(out), **summary}


__all__ = ["ancillary_sources", "prepare_dataset"]
