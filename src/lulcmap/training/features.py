"""``prepare --backbone presto``: each chip's features from the frozen Presto encoder.

open_features = the scene again, every band as reflectance 0..1 (as ``predict`` reads it for a
                pixel-encoder model), its bands matched onto Presto's, its month, the encoder
chip_features = per chip row: the ``k x k`` lattice of each kept chip's footprint, its Presto
                inputs (:func:`lulcmap.pixels.lattice_batch`, the pixel engine's own), the
                encoder, the mean (and standard deviation) of the pixel embeddings
                (:func:`lulcmap.model.pixel.cell_features`, what an ``mlp`` head is fed)

So a chip's stored features are what ``predict``'s pixel engine computes for the same footprint,
with the same inputs: elevation and slope are the chip's footprint means (when a DEM is given),
ERA5 is masked (lulcmap's climate grids are annual; Presto's are the month's). A chip without
a valid lattice pixel, or without a DEM value, gets NaN features.
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pyproj import Transformer

from lulcmap.chips import ChipPlan
from lulcmap.config import PrepareConfig
from lulcmap.errors import BandSelectionError, ConfigError, InputDataError
from lulcmap.io.dates import parse_date, scene_date
from lulcmap.io.scene import Scene, open_scene
from lulcmap.io.warp import at_pixel_size
from lulcmap.model.card import Radiometry
from lulcmap.model.card_encoder import ENCODER_FOLDER, EncoderSpec, check_lattice
from lulcmap.model.pixel import cell_features
from lulcmap.model.presto import BANDS, Presto, load_presto
from lulcmap.model.presto_inputs import match_bands
from lulcmap.pixels import CellInputs, lattice_batch
from lulcmap.resources import shipped_dir
from lulcmap.stream import ChipRow

log = logging.getLogger(__name__)

ENCODER_FILE = "presto-default.safetensors"
"""The shipped Presto weights (``models/presto/``) the features come from."""


def encoder_path() -> Path:
    return shipped_dir("models") / ENCODER_FOLDER / ENCODER_FILE


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class SceneFeatures:
    """One scene read for the encoder: its reflectance, bands, month and lattice."""

    scene: Scene
    band_map: dict[int, int]
    month0: int
    date: str
    date_source: str
    to_lonlat: Transformer


@dataclass
class FeatureEncoder:
    """The frozen encoder and how it is fed (from ``prepare``'s config)."""

    presto: Presto
    sha256: str
    pixels_per_cell: int
    with_std: bool
    terrain: bool

    def scene(self, cfg: PrepareConfig, path: Path, rgb: Scene, stack: ExitStack) -> SceneFeatures:
        """Open ``path`` as ``predict`` does for a pixel encoder, on ``rgb``'s grid."""
        bands = None if cfg.bands is None else [b.strip() for b in cfg.bands.split(",")]
        scene = open_scene(
            path,
            radiometry=Radiometry(reflectance_max=cfg.reflectance_max),
            scale=cfg.scale,
            offset=cfg.offset,
            chunk_rows=min(cfg.stride, cfg.chip_size),
            output="reflectance",
            band_names=[b for b in bands if b] if bands else None,
        )
        stack.callback(scene.close)
        if cfg.pixel_size is not None:
            scene = at_pixel_size(scene, cfg.pixel_size)
            stack.callback(scene.close)
        if scene.grid.shape != rgb.grid.shape or scene.grid.transform != rgb.grid.transform:
            raise InputDataError(f"scene {path} read as reflectance is not on its RGB grid")
        found = match_bands(scene.band_names)
        if not found:
            raise BandSelectionError(
                f"--backbone presto needs Sentinel-2 bands (B02, B03, B04, B08...) but none of "
                f"scene {path}'s bands ({', '.join(scene.band_names)}) is one; name the scene's "
                "bands in order with --bands, e.g. --bands B04,B03,B02,B08"
            )
        if cfg.date:
            when, source = parse_date(cfg.date), "--date"
        else:
            found_date = scene_date(scene.path, scene.tags)
            if found_date is None:
                raise InputDataError(
                    f"the acquisition month of scene {path} is not in its metadata or name, and "
                    "--backbone presto needs it; pass --date YYYY-MM-DD (e.g. --date 2023-06-15)"
                )
            when, source = found_date, "scene metadata or file name"
        to_lonlat = Transformer.from_crs(scene.grid.crs, "EPSG:4326", always_xy=True)
        return SceneFeatures(scene, found, when.month - 1, when.isoformat(), source, to_lonlat)

    @torch.inference_mode()
    def chip_features(
        self,
        source: SceneFeatures,
        plan: ChipPlan,
        strip: ChipRow,
        cols: np.ndarray,
        anc: dict[str, np.ndarray],
    ) -> np.ndarray:
        """Features ``(len(cols), F)`` of the chips ``cols`` of ``strip`` (a row of
        ``source.scene`` on ``plan``); NaN for a chip without inputs or valid lattice pixel."""
        elevation = anc.get("elevation") if self.terrain else None
        slope = anc.get("slope") if self.terrain else None
        cells = CellInputs(
            source.band_map, source.month0, self.pixels_per_cell, elevation=elevation, slope=slope
        )
        size = 2 * 128 if self.with_std else 128
        out = np.full((len(cols), size), np.nan, np.float32)
        ok = cells.ok(plan.shape)[strip.row, cols]
        if not ok.any():
            return out
        batch = lattice_batch(plan, cells, strip, cols[ok], source.to_lonlat)
        x, mask, latlons, month, valid = (torch.from_numpy(np.asarray(a)) for a in batch.inputs)
        feats = cell_features(self.presto, x, mask, latlons, month, valid, with_std=self.with_std)
        out[ok] = feats.numpy()
        return out

    def record(self, scenes: list[SceneFeatures]) -> dict[str, Any]:
        """The dataset attribute :data:`~lulcmap.chipdata.schema.FEATURES_ATTR`."""
        return {
            "encoder": "presto",
            "encoder_file": ENCODER_FILE,
            "encoder_sha256": self.sha256,
            "pixels_per_cell": self.pixels_per_cell,
            "features": "mean_std" if self.with_std else "mean",
            "terrain": "required" if self.terrain else "masked",
            "climate": "masked",
            "scenes": [
                {
                    "bands": {
                        BANDS[c]: s.scene.band_names[i] for c, i in sorted(s.band_map.items())
                    },
                    "month": s.month0 + 1,
                    "date": s.date,
                    "date_source": s.date_source,
                }
                for s in scenes
            ],
            "notes": [
                "ERA5 masked: lulcmap's climate grids are annual, Presto's ERA5 inputs the month's",
                "SRTM: the chip footprint's mean elevation and slope"
                if self.terrain
                else "SRTM masked: no DEM given",
            ],
        }


def load_encoder(cfg: PrepareConfig) -> FeatureEncoder:
    """The shipped Presto encoder (sha256 recorded) and the lattice of ``cfg``."""
    default = EncoderSpec.model_fields["pixels_per_cell"].default
    ppc = default if cfg.pixels_per_cell is None else cfg.pixels_per_cell
    try:
        check_lattice(ppc)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    path = encoder_path()
    presto = load_presto(path)
    presto.eval()
    return FeatureEncoder(
        presto, sha256_of(path), ppc, cfg.features == "mean_std", cfg.dem is not None
    )


__all__ = ["ENCODER_FILE", "FeatureEncoder", "SceneFeatures", "encoder_path", "load_encoder"]
