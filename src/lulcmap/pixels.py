"""The pixel engine: each output cell's lattice pixels -> Presto inputs -> batches -> abundances.

The pixel-encoder counterpart of :mod:`lulcmap.inference`, on the same :class:`~lulcmap.chips.
ChipPlan` (same output grid, cells and chip footprints, so every output and writer is shared).
A background thread reads the scene one chip row at a time through the one stream
(:func:`lulcmap.stream.chip_rows`, over a scene opened with ``output="reflectance"``: every band
as float32 reflectance 0..1), takes the ``k x k`` lattice of pixels centred in each accepted
cell's chip footprint (:func:`lattice_offsets`; every pixel with ``pixels_per_cell=0``), builds
their Presto inputs (:func:`lulcmap.model.presto_inputs.assemble`) and hands batches of cells
over a bounded queue to :func:`lulcmap.model.runtime.run_batches`. Memory is bounded by the
strip, ``prefetch`` batches and those in flight, whatever the scene size.

Per pixel: the scene's bands matched onto Presto's (``band_map``), latitude and longitude of the
pixel centre (pyproj, vectorised), the month. Elevation and slope are the **cell's** means over
its chip footprint (from the ancillary step, as the chip CNN takes them), not per-pixel values:
Presto's SRTM token then carries the cell's terrain. The ERA5 values, when given, are per cell
too. Cells below the valid threshold, or without a value the model needs, are not predicted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
from pyproj import Transformer

from lulcmap.chips import ChipPlan
from lulcmap.inference import EngineOptions, InferenceResult, accepted_cells, stream_cells
from lulcmap.model.pixel import lattice_offsets
from lulcmap.model.presto_inputs import assemble
from lulcmap.model.runtime import Batch
from lulcmap.stream import ChipRow, StripSource

log = logging.getLogger(__name__)

PIXELS_PER_BATCH = 1024
"""Most lattice pixels per model call (a batch holds fewer cells when cells hold more pixels).
Presto on 2 CPU cores runs fastest at 512-1024 pixels a call; 8192 took half the speed and 2 GB
(benchmarks/PRESTO.md, section 2)."""


@dataclass(frozen=True)
class CellInputs:
    """What the engine feeds besides the bands, per output cell ``(rows, cols)``.

    Attributes:
        band_map: Presto channel -> position of the scene band that feeds it
            (:func:`~lulcmap.model.presto_inputs.match_bands`, possibly narrowed to the card's
            bands).
        month0: the scene's month, 0 = January.
        pixels_per_cell: ``k * k`` lattice pixels per cell, 0 = every pixel.
        elevation, slope: per-cell means (m, degrees), or None (SRTM masked).
        era5: per-cell (temperature K, precipitation m/day), or None (ERA5 masked).
    """

    band_map: dict[int, int]
    month0: int
    pixels_per_cell: int
    elevation: np.ndarray | None = None
    slope: np.ndarray | None = None
    era5: tuple[np.ndarray, np.ndarray] | None = None

    def ok(self, shape: tuple[int, int]) -> np.ndarray:
        """``(rows, cols)`` bool: every per-cell value the model is fed is finite."""
        ok = np.ones(shape, bool)
        for values in (self.elevation, self.slope, *(self.era5 or ())):
            if values is not None:
                ok &= np.isfinite(values)
        return ok


@dataclass
class _Lattice:
    """Cuts the lattice pixels of each strip's accepted cells into batches of Presto inputs."""

    plan: ChipPlan
    cells: CellInputs
    batch_cells: int
    min_valid: float
    valid_fraction: np.ndarray  # (rows, cols), filled row by row
    has_inputs: np.ndarray  # (rows, cols) bool
    to_lonlat: Transformer
    n_low: int = field(default=0, init=False)

    def add_row(self, strip: ChipRow) -> Iterator[Batch]:
        cols, n_low = accepted_cells(strip, self.valid_fraction, self.min_valid, self.has_inputs)
        self.n_low += n_low
        for start in range(0, len(cols), self.batch_cells):
            yield self._batch(strip, cols[start : start + self.batch_cells])

    def finish(self) -> Iterator[Batch]:
        """Nothing is held back: each row's cells are cut into batches as it is read."""
        yield from ()

    def _batch(self, strip: ChipRow, cols: np.ndarray) -> Batch:
        return lattice_batch(self.plan, self.cells, strip, cols, self.to_lonlat)


def lattice_batch(
    plan: ChipPlan, cells: CellInputs, strip: ChipRow, cols: np.ndarray, to_lonlat: Transformer
) -> Batch:
    """The model inputs ``(x, mask, latlons, month, valid)`` of the lattice pixels of the cells
    ``cols`` of ``strip`` (a chip row of a reflectance scene): what the engine feeds, and what
    ``prepare --backbone presto`` encodes for the same footprints."""
    ys, xs = lattice_offsets(plan.chip_shape, cells.pixels_per_cell)
    n, p = len(cols), len(ys)
    x_idx = plan.col_offsets[cols][:, None] + xs[None, :]  # (n, P)
    y_idx = np.broadcast_to(ys[None, :], x_idx.shape)
    refl = strip.rgb[:, y_idx, x_idx]  # (bands, n, P)
    pix_valid = strip.valid[y_idx, x_idx]
    t = plan.scene.transform
    east = t.c + t.a * (x_idx + 0.5) + t.b * (y_idx + strip.row_off + 0.5)
    north = t.f + t.d * (x_idx + 0.5) + t.e * (y_idx + strip.row_off + 0.5)
    lon, lat = to_lonlat.transform(np.asarray(east), np.asarray(north))
    c = cells
    rows = np.full(n, strip.row)

    def per_pixel(v: np.ndarray | None) -> np.ndarray | None:
        """(n,) per-cell values repeated for the cell's P pixels."""
        return None if v is None else np.repeat(v[rows, cols], p)

    era5 = None
    if c.era5 is not None:
        era5 = (np.repeat(c.era5[0][rows, cols], p), np.repeat(c.era5[1][rows, cols], p))
    inputs = assemble(
        refl.reshape(refl.shape[0], n * p).T,
        c.band_map,
        lat=np.ravel(lat),
        lon=np.ravel(lon),
        month0=c.month0,
        era5=era5,
        elevation=per_pixel(c.elevation),
        slope=per_pixel(c.slope),
    )
    valid = pix_valid & inputs.valid.reshape(n, p)
    x = inputs.x.numpy().reshape(n, p, *inputs.x.shape[1:])
    mask = inputs.mask.numpy().reshape(n, p, *inputs.mask.shape[1:])
    latlons = inputs.latlons.numpy().reshape(n, p, 2)
    month = inputs.month.numpy().reshape(n, p)
    return Batch((x, mask, latlons, month, valid), key=(rows, cols))


def run_pixels(
    source: StripSource,
    plan: ChipPlan,
    cells: CellInputs,
    model: Callable[..., object],
    *,
    n_classes: int,
    options: EngineOptions = EngineOptions(),
    on_row: Callable[[int], None] | None = None,
) -> InferenceResult:
    """Stream ``source`` (a reflectance scene) through a pixel-encoder ``model``.

    ``options.batch_size`` cells per model call, fewer when that would exceed
    :data:`PIXELS_PER_BATCH` pixels. Cells whose chip's valid fraction is under
    ``options.min_valid_fraction``, whose per-cell inputs are missing, or with no valid lattice
    pixel, are not predicted (NaN). ``on_row(cells)`` as each row of cells has been read.
    """
    rows, cols = plan.shape
    fractions = np.full((n_classes, rows, cols), np.nan, np.float32)
    valid_fraction = np.zeros((rows, cols), np.float32)
    has_inputs = cells.ok(plan.shape)
    p = len(lattice_offsets(plan.chip_shape, cells.pixels_per_cell)[0])
    batch_cells = max(1, min(options.batch_size, PIXELS_PER_BATCH // p))
    to_lonlat = Transformer.from_crs(plan.scene.crs, "EPSG:4326", always_xy=True)
    lattice = _Lattice(
        plan, cells, batch_cells, options.min_valid_fraction, valid_fraction, has_inputs, to_lonlat
    )

    stream_cells(source, lattice, model, fractions, options=options, on_row=on_row)
    n_missing = int(np.sum(~has_inputs & (valid_fraction >= options.min_valid_fraction)))
    n_pred = int(np.isfinite(fractions[0]).sum())
    log.info(
        "predicted %d of %d cells from %d pixels each (%d below the valid threshold, "
        "%d without inputs)",
        n_pred,
        rows * cols,
        p,
        lattice.n_low,
        n_missing,
    )
    return InferenceResult(fractions, valid_fraction, n_pred, lattice.n_low, n_missing)


__all__ = ["PIXELS_PER_BATCH", "CellInputs", "lattice_batch", "lattice_offsets", "run_pixels"]
