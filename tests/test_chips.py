"""Property tests of pure chip planning: coverage, in-bounds windows, exact counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given

from lulcmap.chips import ChipPlan
from lulcmap.testing import make_grid
from lulcmap.testing.strategies import chip_plans

plans = chip_plans()  # scenes of 1-1500 px a side, chips of 8-300 px, any stride up to the chip


@given(plans)
def test_counts_are_ceil_of_size_over_stride(plan: ChipPlan) -> None:
    h, w = plan.scene.shape
    assert plan.shape == (math.ceil(h / plan.stride), math.ceil(w / plan.stride))
    assert plan.n_cells == plan.shape[0] * plan.shape[1]
    assert plan.row_offsets.shape == (plan.shape[0],)
    assert plan.col_offsets.shape == (plan.shape[1],)


@given(plans)
def test_windows_in_bounds(plan: ChipPlan) -> None:
    h, w = plan.scene.shape
    ch, cw = plan.chip_shape
    assert ch == min(plan.chip_size, h) and cw == min(plan.chip_size, w)
    assert plan.row_offsets.min() >= 0 and (plan.row_offsets + ch).max() <= h
    assert plan.col_offsets.min() >= 0 and (plan.col_offsets + cw).max() <= w
    assert np.all(np.diff(plan.row_offsets) >= 0) and np.all(np.diff(plan.col_offsets) >= 0)


@given(plans)
def test_every_pixel_in_some_chip(plan: ChipPlan) -> None:
    for offsets, ext, length in (
        (plan.row_offsets, plan.chip_shape[0], plan.scene.height),
        (plan.col_offsets, plan.chip_shape[1], plan.scene.width),
    ):
        covered = np.zeros(length + 1, np.int64)
        np.add.at(covered, offsets, 1)
        np.add.at(covered, offsets + ext, -1)
        assert np.all(np.cumsum(covered)[:length] > 0)


@given(plans)
def test_chip_centred_on_cell_unless_shifted_inward(plan: ChipPlan) -> None:
    h = plan.scene.height
    for r, off in enumerate(plan.row_offsets.tolist()):
        cell_centre = (r + 0.5) * plan.stride
        chip_centre = off + plan.chip_shape[0] / 2
        clamped = off in (0, max(h - plan.chip_size, 0))
        assert clamped or abs(chip_centre - cell_centre) <= 0.5


def test_default_tiles_scene_and_shifts_last_chip_inward() -> None:
    plan = ChipPlan(make_grid((500, 1000)))
    assert plan.shape == (3, 5)
    assert plan.row_offsets.tolist() == [0, 224, 276]
    assert plan.col_offsets.tolist() == [0, 224, 448, 672, 776]
    assert plan.chip_window(2, 4) == (276, 776, 224, 224)
    assert plan.cell_window(2, 4) == (448, 896, 224, 224)


def test_cell_grid_starts_at_scene_origin() -> None:
    plan = ChipPlan(make_grid((500, 1000)), stride=112)
    g = plan.cell_grid
    assert (g.transform.c, g.transform.f) == (300000, 4200000)
    assert g.res == (1120.0, 1120.0)
    assert g.shape == (5, 9)
    left, bottom, right, top = plan.chip_bounds()[0, 0]
    assert (left, top, right, bottom) == (300000, 4200000, 302240, 4197760)


def test_scene_smaller_than_chip() -> None:
    plan = ChipPlan(make_grid((200, 300)))
    assert plan.shape == (1, 2)
    assert plan.chip_shape == (200, 224)
    assert plan.chip_window(0, 1) == (0, 76, 200, 224)


@pytest.mark.parametrize("stride", [0, 225])
def test_stride_out_of_range_is_rejected(stride: int) -> None:
    with pytest.raises(ValueError, match="stride"):
        ChipPlan(make_grid((500, 500)), stride=stride)
