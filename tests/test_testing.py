"""The shipped test kit: oracle models, the synthetic chip dataset and the Hypothesis strategies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import lulcmap.synthetic
import lulcmap.testing
from lulcmap.chipdata import REQUIRED_VARS, open_chip_dataset
from lulcmap.chips import ChipPlan
from lulcmap.grid import Grid
from lulcmap.legend import load_legend
from lulcmap.testing import (
    N_CLASSES,
    LookupModel,
    OracleModel,
    World,
    class_code_scene,
    make_chip_dataset,
    write_chip_dataset,
)
from lulcmap.testing.strategies import (
    any_grids,
    chip_plans,
    class_indexes,
    fractions,
    grids,
    windows,
)


# -- the kit ------------------------------------------------------------------------------------
def test_the_kit_imports_without_hypothesis_and_product_code_without_the_kit() -> None:
    code = (
        "import sys; import lulcmap.synthetic, lulcmap.chipdata; "
        "assert 'lulcmap.testing' not in sys.modules, 'product code loaded the test kit'; "
        "import lulcmap.testing; "
        "assert 'hypothesis' not in sys.modules, 'lulcmap.testing imported hypothesis'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_kit_re_exports_the_synthetic_world() -> None:
    for name in lulcmap.synthetic.__all__:
        assert getattr(lulcmap.testing, name) is getattr(lulcmap.synthetic, name), name


# -- the oracle model ---------------------------------------------------------------------------
@pytest.mark.parametrize(("chip", "stride"), [(64, 64), (64, 17), (224, 224), (224, 100)])
def test_oracle_reproduces_the_exact_fractions(tiny_world: World, chip: int, stride: int) -> None:
    plan = ChipPlan(tiny_world.grid, chip_size=chip, stride=stride)
    scene = torch.from_numpy(class_code_scene(tiny_world.classes))
    chips = torch.stack(
        [
            scene[:, r : r + h, c : c + w]
            for r, c, h, w in (
                plan.chip_window(i, j) for i in range(plan.shape[0]) for j in range(plan.shape[1])
            )
        ]
    )
    oracle = OracleModel(N_CLASSES)
    out = oracle(chips, torch.zeros(len(chips), 0)).numpy()
    expected = tiny_world.fractions(plan).reshape(N_CLASSES, -1).T
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert oracle.ancillary_names == [] and oracle.n_classes == N_CLASSES


def test_oracle_ignores_nodata_pixels() -> None:
    classes = np.zeros((8, 8), np.uint8)
    classes[:, 4:] = 3
    mask = np.zeros((8, 8), bool)
    mask[:, 6:] = True  # half of class 3 is nodata
    scene = torch.from_numpy(class_code_scene(classes, nodata_mask=mask))[None]
    out = OracleModel(5)(scene, torch.zeros(1, 0))
    np.testing.assert_allclose(out[0].numpy(), [2 / 3, 0, 0, 1 / 3, 0], atol=1e-7)
    empty = OracleModel(5)(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), torch.zeros(1, 0))
    assert float(empty.sum()) == 0
    with pytest.raises(ValueError, match="class_code_scene"):
        OracleModel(2)(scene, torch.zeros(1, 0))


# -- the synthetic chip dataset -----------------------------------------------------------------
def test_the_synthetic_chip_dataset_passes_the_readers_checks_and_the_lookup_model_answers_it(
    tmp_path: Path,
) -> None:
    n2 = np.random.default_rng(3).dirichlet(np.ones(10), 300).astype(np.float32)
    path = write_chip_dataset(make_chip_dataset(n2, blocks=[0] * 150 + [1] * 150), tmp_path / "d")
    ds = open_chip_dataset(path)
    assert set(REQUIRED_VARS) <= set(ds.variables) and ds.sizes["chip"] == 300
    images = torch.from_numpy(np.ascontiguousarray(ds["image"].values))
    out = LookupModel(n2 + 1)(images, torch.zeros(300, 7))
    np.testing.assert_array_equal(out.numpy(), n2 + 1)  # chip i answered with row i
    np.testing.assert_allclose(ds["n1"].values, load_legend("sipna").aggregate(n2, axis=1))


# -- the Hypothesis strategies ------------------------------------------------------------------
@given(fractions(), fractions(4, n=3, dtype=np.float32))
def test_fractions_are_non_negative_and_sum_to_one(one: np.ndarray, rows: np.ndarray) -> None:
    assert one.shape == (10,) and rows.shape == (3, 4) and rows.dtype == np.float32
    for f in (one, rows):
        assert (f >= 0).all()
        np.testing.assert_allclose(f.sum(axis=-1), 1, rtol=1e-6)


@given(chip_plans(any_grids(max_side=400)))
def test_chip_plans_lie_inside_their_scene_for_any_crs_and_pixel_size(plan: ChipPlan) -> None:
    left, bottom, right, top = plan.scene.bounds
    b = plan.chip_bounds()
    tol = 1e-9 * max(abs(left), abs(top), 1.0)
    assert (b[..., 0] >= left - tol).all() and (b[..., 2] <= right + tol).all()
    assert (b[..., 1] >= bottom - tol).all() and (b[..., 3] <= top + tol).all()
    assert 1 <= plan.stride <= plan.chip_size
    cells = plan.cell_grid
    assert cells.crs == plan.scene.crs
    assert (cells.transform.c, cells.transform.f) == (
        plan.scene.transform.c,
        plan.scene.transform.f,
    )


@given(grids(min_side=3, max_side=9), st.data())
def test_windows_lie_inside_their_grid(grid: Grid, data: st.DataObject) -> None:
    h, w = grid.shape
    assert 3 <= h <= 9 and 3 <= w <= 9 and grid.res == (10.0, 10.0)
    r0, c0, r1, c1 = data.draw(windows(grid.shape))
    assert 0 <= r0 <= r1 <= h and 0 <= c0 <= c1 <= w


@given(class_indexes(), class_indexes(level="N1"))
def test_class_indexes_are_within_the_legend(n2: int, n1: int) -> None:
    legend = load_legend("sipna")
    assert 0 <= n2 < len(legend.names("N2")) and 0 <= n1 < len(legend.names("N1"))
