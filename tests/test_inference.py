"""The streaming engine stitches exactly what an oracle model says, for any chip size and stride."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from affine import Affine
from rasterio.crs import CRS

from lulcmap.chips import ChipPlan
from lulcmap.errors import ModelCardError
from lulcmap.grid import Grid
from lulcmap.inference import EngineOptions, run_inference
from lulcmap.model.runtime import RunOptions
from lulcmap.testing import OracleModel, class_code_scene


class ArraySource:
    """An in-memory scene that records which rows were decoded."""

    def __init__(self, rgb: np.ndarray, valid: np.ndarray) -> None:
        self.rgb, self.valid = rgb, valid
        self.grid = Grid(CRS.from_epsg(32630), Affine(10, 0, 0, 0, -10, 0), valid.shape)
        self.rows_read = np.zeros(valid.shape[0], np.int64)

    def read_strip(self, row_off: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        self.rows_read[row_off : row_off + height] += 1
        return self.rgb[:, row_off : row_off + height], self.valid[row_off : row_off + height]


def patchy_classes(shape: tuple[int, int], n: int = 10, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, n, (shape[0] // 16 + 1, shape[1] // 16 + 1))
    classes = np.kron(coarse, np.ones((16, 16), np.int64))[: shape[0], : shape[1]]
    noise = rng.random(shape) < 0.05
    classes[noise] = rng.integers(0, n, noise.sum())
    return classes.astype(np.uint8)


def brute_force(classes: np.ndarray, plan: ChipPlan, n: int) -> np.ndarray:
    rows, cols = plan.shape
    out = np.zeros((n, rows, cols))
    for r in range(rows):
        for c in range(cols):
            r0, c0, h, w = plan.chip_window(r, c)
            counts = np.bincount(classes[r0 : r0 + h, c0 : c0 + w].ravel(), minlength=n)
            out[:, r, c] = counts / counts.sum()
    return out


@pytest.mark.parametrize(
    ("chip", "stride", "batch"),
    [(64, 64, 7), (64, 32, 16), (64, 17, 64), (224, 224, 5), (224, 100, 64)],
)
def test_stitched_map_equals_oracle_truth(chip: int, stride: int, batch: int) -> None:
    classes = patchy_classes((470, 530))
    source = ArraySource(class_code_scene(classes), np.ones(classes.shape, bool))
    plan = ChipPlan(source.grid, chip_size=chip, stride=stride)
    anc = np.zeros((*plan.shape, 0))
    result = run_inference(
        source,
        plan,
        anc,
        OracleModel(10),
        n_classes=10,
        options=EngineOptions(batch_size=batch, prefetch=2),
    )
    np.testing.assert_allclose(result.fractions, brute_force(classes, plan, 10), atol=1e-6)
    assert result.n_predicted == plan.n_cells
    # the rolling buffer decodes every scene row exactly once, whatever the stride
    assert source.rows_read.min() == 1 and source.rows_read.max() == 1


def test_low_valid_chips_become_nodata() -> None:
    classes = patchy_classes((448, 448))
    valid = np.ones(classes.shape, bool)
    valid[:224, :224] = False  # the top-left chip is empty
    valid[224:, 224:][:, :100] = False  # the bottom-right chip is 100/224 = 45 % invalid
    source = ArraySource(class_code_scene(classes), valid)
    plan = ChipPlan(source.grid)
    result = run_inference(
        source,
        plan,
        np.zeros((2, 2, 0)),
        OracleModel(10),
        n_classes=10,
        options=EngineOptions(min_valid_fraction=0.6),
    )
    np.testing.assert_allclose(result.valid_fraction, [[0, 1], [1, 124 / 224]], atol=1e-6)
    assert np.isnan(result.fractions[:, 0, 0]).all() and np.isnan(result.fractions[:, 1, 1]).all()
    assert np.isfinite(result.fractions[:, [0, 1], [1, 0]]).all()
    assert (result.n_predicted, result.n_low_valid) == (2, 2)


def test_missing_ancillary_cells_are_not_predicted() -> None:
    classes = patchy_classes((448, 448))
    source = ArraySource(class_code_scene(classes), np.ones(classes.shape, bool))
    anc = np.ones((2, 2, 3))
    anc[1, 0, 2] = np.nan
    result = run_inference(source, ChipPlan(source.grid), anc, OracleModel(10), n_classes=10)
    assert np.isnan(result.fractions[:, 1, 0]).all()
    assert result.n_no_ancillary == 1 and result.n_predicted == 3


def test_scene_smaller_than_chip_is_mirrored_to_full_chip() -> None:
    classes = patchy_classes((200, 300))
    source = ArraySource(class_code_scene(classes), np.ones(classes.shape, bool))
    plan = ChipPlan(source.grid)
    seen: list[tuple[int, ...]] = []

    def model(images: torch.Tensor, anc: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(images.shape))
        return OracleModel(10)(images, anc)

    result = run_inference(source, plan, np.zeros((1, 2, 0)), model, n_classes=10)
    assert seen == [(2, 3, 224, 224)]
    assert np.all(result.valid_fraction == 1)
    np.testing.assert_allclose(result.fractions.sum(axis=0), 1, atol=1e-6)


def test_reader_errors_reach_the_caller() -> None:
    class Broken(ArraySource):
        def read_strip(self, row_off: int, height: int) -> tuple[np.ndarray, np.ndarray]:
            if row_off > 0:
                raise OSError("disk on fire")
            return super().read_strip(row_off, height)

    classes = patchy_classes((700, 300))
    source = Broken(class_code_scene(classes), np.ones(classes.shape, bool))
    with pytest.raises(OSError, match="disk on fire"):
        run_inference(
            source, ChipPlan(source.grid), np.zeros((4, 2, 0)), OracleModel(10), n_classes=10
        )


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_concurrent_model_calls_give_the_same_map(workers: int) -> None:
    classes = patchy_classes((500, 700))
    source = ArraySource(class_code_scene(classes), np.ones(classes.shape, bool))
    plan = ChipPlan(source.grid, chip_size=64, stride=48)
    threads_before = torch.get_num_threads()
    result = run_inference(
        source,
        plan,
        np.zeros((*plan.shape, 0)),
        OracleModel(10),
        n_classes=10,
        options=EngineOptions(batch_size=9, workers=workers),
    )
    np.testing.assert_allclose(result.fractions, brute_force(classes, plan, 10), atol=1e-6)
    assert torch.get_num_threads() == threads_before  # the engine gives the threads back


def test_ancillary_on_the_wrong_grid_is_an_error() -> None:
    classes = patchy_classes((448, 448))
    source = ArraySource(class_code_scene(classes), np.ones(classes.shape, bool))
    with pytest.raises(ValueError, match="output grid"):
        run_inference(
            source, ChipPlan(source.grid), np.zeros((3, 2, 1)), OracleModel(10), n_classes=10
        )


def test_model_errors_reach_the_caller_and_stop_the_reader() -> None:
    calls = []

    def broken(images: torch.Tensor, ancillary: torch.Tensor) -> torch.Tensor:
        calls.append(len(images))
        raise RuntimeError("out of cheese")

    classes = patchy_classes((2000, 300))
    source = ArraySource(class_code_scene(classes), np.ones(classes.shape, bool))
    plan = ChipPlan(source.grid, chip_size=32, stride=32)
    with pytest.raises(RuntimeError, match="out of cheese"):
        run_inference(
            source,
            plan,
            np.zeros((*plan.shape, 0)),
            broken,
            n_classes=10,
            options=EngineOptions(batch_size=8, prefetch=1),
        )
    assert source.rows_read.sum() < classes.shape[0]  # the reader stopped early


def test_a_model_output_of_the_wrong_width_is_named() -> None:
    classes = patchy_classes((448, 448))
    source = ArraySource(class_code_scene(classes), np.ones(classes.shape, bool))
    with pytest.raises(ModelCardError, match=r"model oracle returned .* \(4, 10\) .* 12 classes"):
        run_inference(
            source, ChipPlan(source.grid), np.zeros((2, 2, 0)), OracleModel(10), n_classes=12
        )


def test_engine_options_carry_the_run_options() -> None:
    run = RunOptions(device="cuda", workers=None, bf16=True)
    opts = EngineOptions.for_run(run, batch_size=7, min_valid_fraction=0.25)
    assert (opts.batch_size, opts.min_valid_fraction, opts.run) == (7, 0.25, run)
