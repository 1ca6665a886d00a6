"""Fixture factory for prediction datasets (the schema the writers consume)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine
from rasterio.crs import CRS

from lulcmap.chips import ChipPlan
from lulcmap.commands.predict import prediction_dataset
from lulcmap.grid import Grid
from lulcmap.legend import load_legend
from lulcmap.model.card import ModelCard, Weights
from lulcmap.testing import ANCILLARY_NAMES


def make_prediction(
    shape: tuple[int, int] = (6, 7),
    *,
    ancillary: Sequence[str] = ANCILLARY_NAMES,
    invalid_fraction: float = 0.2,
    stride: int = 224,
    chip_size: int = 224,
    seed: int = 0,
    crs: str = "EPSG:32630",
) -> xr.Dataset:
    """A prediction on a ``shape`` cell grid: Dirichlet N2 fractions, NaN on some cells.

    The scene is 10 m pixels a bit short of ``shape * stride`` so edge chips are shifted inward;
    cell (0, 0) is always invalid and cell (0, 1) always valid.
    """
    legend = load_legend("sipna")
    rng = np.random.default_rng(seed)
    rows, cols = shape
    scene = Grid(
        CRS.from_user_input(crs),
        Affine(10.0, 0.0, 400_000.0, 0.0, -10.0, 4_200_000.0),
        (rows * stride - stride // 3, cols * stride - stride // 4),
    )
    plan = ChipPlan(scene, chip_size=chip_size, stride=stride)
    assert plan.shape == shape
    n2 = rng.dirichlet(np.full(len(legend.n2), 0.4), size=shape).astype(np.float32)
    n2 = np.moveaxis(n2, -1, 0)  # float32 sums are 1 only up to rounding
    invalid = rng.random(shape) < invalid_fraction
    invalid[0, 0], invalid[0, 1] = True, False
    n2[:, invalid] = np.nan
    valid_fraction = np.where(invalid, rng.uniform(0, 0.5, shape), rng.uniform(0.5, 1, shape))
    anc = {name: rng.normal(100, 30, shape).astype(np.float32) for name in ancillary}
    card = ModelCard(id="test-model", version="1.2.3", weights=Weights(file="-", sha256="ab" * 32))
    ds = prediction_dataset(plan, n2, valid_fraction, anc, card=card, legend=legend)
    ds.attrs.update(n_cells=np.int64(rows * cols), scene={"path": "scene.tif", "shape": [1, 2]})
    ds.attrs["lulcmap_version"] = "0.1.0"
    return ds


@pytest.fixture
def prediction() -> Callable[..., xr.Dataset]:
    """The :func:`make_prediction` factory."""
    return make_prediction
