"""The one chip stream: every chip row read once, its chips and valid fractions as a brute-force
crop of the scene says, and a read-ahead thread that passes errors on and stops when left."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

from lulcmap.chips import ChipPlan
from lulcmap.stream import chip_rows, pad_chips, read_ahead
from lulcmap.testing import class_code_scene
from test_inference import ArraySource, patchy_classes  # pytest puts tests/ on sys.path


def test_every_chip_row_reading_each_scene_row_once() -> None:
    classes = patchy_classes((470, 130))
    source = ArraySource(class_code_scene(classes), np.ones(classes.shape, bool))
    plan = ChipPlan(source.grid, chip_size=64, stride=40)
    rows = list(chip_rows(source, plan))
    assert [r.row for r in rows] == list(range(plan.shape[0]))
    for r in rows:
        off = int(plan.row_offsets[r.row])
        assert r.row_off == off
        np.testing.assert_array_equal(r.rgb, source.rgb[:, off : off + 64])
        assert r.valid.shape == (64, 130)
    assert (source.rows_read == 1).all()


@pytest.mark.parametrize(("chip", "stride"), [(64, 10), (64, 17), (32, 8)])
def test_distinct_rows_are_the_first_of_each_strip(chip: int, stride: int) -> None:
    classes = patchy_classes((150, 90))
    source = ArraySource(class_code_scene(classes), np.ones(classes.shape, bool))
    plan = ChipPlan(source.grid, chip_size=chip, stride=stride)
    offs, first = np.unique(plan.row_offsets, return_index=True)
    rows = list(chip_rows(source, plan, distinct=True))
    assert [r.row for r in rows] == first.tolist()
    assert [r.row_off for r in rows] == offs.tolist()
    assert len(offs) < plan.shape[0]  # the edges' clamped rows were left out
    assert (source.rows_read == 1).all()


def test_valid_fractions_and_chips_equal_the_crops() -> None:
    rng = np.random.default_rng(3)
    classes = patchy_classes((100, 170))
    valid = rng.random(classes.shape) < 0.7
    source = ArraySource(class_code_scene(classes), valid)
    plan = ChipPlan(source.grid, chip_size=48, stride=20)
    for r in chip_rows(source, plan):
        vf = r.valid_fractions()
        assert vf.dtype == np.float64 and vf.shape == (plan.shape[1],)
        for c in range(plan.shape[1]):
            r0, c0, h, w = plan.chip_window(r.row, c)
            assert vf[c] == valid[r0 : r0 + h, c0 : c0 + w].mean()
            np.testing.assert_array_equal(r.chip(c), source.rgb[:, r0 : r0 + h, c0 : c0 + w])
        cols = np.array([0, 3, 5])
        np.testing.assert_array_equal(r.valid_fractions(cols), vf[cols])
        np.testing.assert_array_equal(r.chips(cols), np.stack([r.chip(c) for c in cols]))
        assert r.chips(np.array([], np.int64)).shape == (0, 3, 48, 48)


def test_a_scene_smaller_than_a_chip_is_mirrored() -> None:
    chips = np.arange(2 * 3 * 5 * 7, dtype=np.uint8).reshape(2, 3, 5, 7)
    padded = pad_chips(chips, 9)
    assert padded.shape == (2, 3, 9, 9)
    np.testing.assert_array_equal(padded[:, :, 2:7, 1:8], chips)  # centred
    np.testing.assert_array_equal(padded[:, :, 1, 1:8], chips[:, :, 1])  # reflected
    one_row = pad_chips(chips[:, :, :1, :4], 4)
    assert (one_row == chips[:, :, :1, :4]).all()  # a single row is repeated
    full = chips[:, :, :5, :5]
    assert pad_chips(full, 5) is full


def test_read_ahead_keeps_the_order_and_passes_errors_on() -> None:
    assert list(read_ahead(range(100), 3)) == list(range(100))

    def broken() -> Iterator[int]:
        yield 1
        raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        list(read_ahead(broken(), 2))


def test_read_ahead_stops_its_thread_when_left() -> None:
    produced: list[int] = []

    def endless() -> Iterator[int]:
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    before = threading.active_count()
    items = read_ahead(endless(), 2)
    assert next(items) == 0
    items.close()
    assert threading.active_count() == before
    assert len(produced) < 10
