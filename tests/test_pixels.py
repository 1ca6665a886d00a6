"""The pixel engine on an in-memory scene: which pixels each cell feeds the model, with what."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from affine import Affine
from pyproj import Transformer
from rasterio.crs import CRS

from lulcmap.chips import ChipPlan
from lulcmap.grid import Grid
from lulcmap.inference import EngineOptions
from lulcmap.model.pixel import lattice_offsets
from lulcmap.model.presto import BANDS
from lulcmap.pixels import CellInputs, run_pixels

B2, B3, B4 = BANDS.index("B2"), BANDS.index("B3"), BANDS.index("B4")
RGB = {B2: 0, B3: 1, B4: 2}  # a group is fed only whole: B2 needs B3 and B4
CRS_UTM = CRS.from_epsg(32630)


class ArraySource:
    """A reflectance scene held in memory: ``(bands, H, W)`` and a validity mask."""

    def __init__(self, refl: np.ndarray, valid: np.ndarray) -> None:
        h, w = valid.shape
        self.grid = Grid(CRS_UTM, Affine(10, 0, 400000, 0, -10, 4100000), (h, w))
        self.refl, self.valid = refl.astype(np.float32), valid

    def read_strip(self, row_off: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        return self.refl[:, row_off : row_off + height], self.valid[row_off : row_off + height]


def oracle(x, mask, latlons, month, valid):  # type: ignore[no-untyped-def]
    """Per cell: mean over valid pixels of B2 reflectance, lat, lon, month, the SRTM mask, and
    the number of valid pixels."""
    v = valid.float()
    n = v.sum(1)

    def mean(t: torch.Tensor) -> torch.Tensor:
        return (t * v).sum(1) / n

    srtm = mask[:, :, 0, BANDS.index("elevation")]
    return torch.stack(
        [mean(x[:, :, 0, B2]), mean(latlons[..., 0]), mean(latlons[..., 1]),
         mean(month.float()), mean(srtm), n],
        dim=1,
    )  # fmt: skip


def _scene(h: int, w: int) -> ArraySource:
    rows, cols = np.mgrid[0:h, 0:w]
    b2 = 0.01 + 1e-4 * (rows * w + cols)  # every pixel different: the means tell which were read
    refl = np.stack([b2, b2 * 0 + 0.05, b2 * 0 + 0.04])  # B02, B03, B04
    return ArraySource(refl, np.ones((h, w), bool))


@pytest.mark.parametrize("ppc", [4, 16, 0])
def test_each_cell_averages_its_lattice_pixels(ppc: int) -> None:
    src = _scene(40, 50)
    plan = ChipPlan(src.grid, chip_size=16, stride=16)
    cells = CellInputs(RGB, month0=6, pixels_per_cell=ppc)
    res = run_pixels(src, plan, cells, oracle, n_classes=6, options=EngineOptions(batch_size=3))
    ys, xs = lattice_offsets(plan.chip_shape, ppc)
    to_ll = Transformer.from_crs(CRS_UTM, "EPSG:4326", always_xy=True)
    for r in range(plan.shape[0]):
        for c in range(plan.shape[1]):
            r0, c0 = plan.row_offsets[r], plan.col_offsets[c]
            want = src.refl[0, r0 + ys, c0 + xs].mean()
            assert res.fractions[0, r, c] == pytest.approx(want, rel=1e-5)
            e, n = src.grid.transform * (c0 + xs + 0.5, r0 + ys + 0.5)
            lon, lat = to_ll.transform(np.asarray(e), np.asarray(n))
            assert res.fractions[1, r, c] == pytest.approx(np.mean(lat), abs=1e-4)
            assert res.fractions[2, r, c] == pytest.approx(np.mean(lon), abs=1e-4)
            assert res.fractions[5, r, c] == len(ys)
    assert np.all(res.fractions[3] == 6)  # the month
    assert np.all(res.fractions[4] == 1)  # no DEM: SRTM masked
    assert res.n_predicted == plan.n_cells


def test_invalid_pixels_are_left_out_and_low_valid_cells_not_predicted() -> None:
    src = _scene(32, 32)
    src.valid[:16, :16] = False  # cell (0, 0) wholly invalid
    src.valid[16:, 16:20] = False  # cell (1, 1): a quarter invalid
    plan = ChipPlan(src.grid, chip_size=16, stride=16)
    cells = CellInputs(RGB, month0=0, pixels_per_cell=0)
    res = run_pixels(src, plan, cells, oracle, n_classes=6, options=EngineOptions())
    assert np.isnan(res.fractions[0, 0, 0]) and res.n_low_valid == 1
    assert res.fractions[5, 1, 1] == 16 * 12
    want = src.refl[0, 16:, 20:32].mean()
    assert res.fractions[0, 1, 1] == pytest.approx(want, rel=1e-5)
    assert res.valid_fraction[1, 1] == pytest.approx(0.75)


def test_cell_terrain_is_fed_and_a_cell_without_it_is_not_predicted() -> None:
    src = _scene(32, 32)
    plan = ChipPlan(src.grid, chip_size=16, stride=16)
    elevation = np.full(plan.shape, 500.0)
    elevation[0, 1] = np.nan
    cells = CellInputs(
        RGB, month0=0, pixels_per_cell=4, elevation=elevation, slope=np.zeros(plan.shape)
    )
    res = run_pixels(src, plan, cells, oracle, n_classes=6, options=EngineOptions())
    assert np.isnan(res.fractions[0, 0, 1]) and res.n_no_ancillary == 1
    assert res.fractions[4, 0, 0] == 0  # SRTM fed
