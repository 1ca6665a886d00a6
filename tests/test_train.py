"""``train_model``: the loss falls, the card loads, same seed -> same weights, the split, the
augmentation keeps the targets."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from lulcmap.config import PrepareConfig
from lulcmap.errors import ConfigError, InputDataError
from lulcmap.model.card import read_card
from lulcmap.model.registry import load_model
from lulcmap.testing import OracleModel, class_code_scene, synthetic_world, write_world
from lulcmap.testing.chipdata import make_chip_dataset, write_chip_dataset
from lulcmap.training.augment import N_TRANSFORMS, dihedral, dihedral_each, random_dihedral
from lulcmap.training.loop import ChipArrays, LossSpec, evaluate_loss
from lulcmap.training.outputs import run_train
from lulcmap.training.prepare import prepare_dataset
from lulcmap.training.split import choose_blocks, footprints, overlapping, split_chips
from lulcmap.training.train import TrainOptions, train_model

SMALL = (8, 8, 16, 16)
"""Channels of a tiny LulcNet: these tests check the machinery, not the accuracy."""


def options(**kw: object) -> TrainOptions:
    base: dict[str, object] = {"epochs": 2, "batch_size": 16, "widths": SMALL, "device": "cpu"}
    return TrainOptions.model_validate({**base, **kw})


@pytest.fixture(scope="module")
def world_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic world prepared as 32-px chips at stride 16 (overlapping) in 12 blocks."""
    tmp = tmp_path_factory.mktemp("train_world")
    paths = write_world(synthetic_world((192, 384), seed=3), tmp, reference=True)
    cfg = PrepareConfig(
        scenes=(paths["scene"],),
        reference=paths["reference"],
        crosswalk="index",
        dem=paths["dem"],
        climate=paths["climate"],
        out=tmp / "chips.zarr",
        chip_size=32,
        stride=16,
        block_size=(640.0, 960.0),
    )
    prepare_dataset(cfg)
    return tmp / "chips.zarr"


@pytest.fixture(scope="module")
def trained(world_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    out = tmp_path_factory.mktemp("model") / "world-model"
    result, paths = run_train(world_dataset, out=out, options=options(epochs=4, seed=1))
    return result, paths


def test_training_lowers_the_loss(world_dataset: Path) -> None:
    ds = xr.open_zarr(world_dataset)
    result = train_model(ds, options=options(epochs=4, seed=1))
    history = result.history
    assert history[-1].train_loss < history[0].train_loss
    assert history[-1].val_loss is not None and history[0].val_loss is not None
    assert min(r.val_loss for r in history if r.val_loss) < history[0].val_loss * 1.0001
    split = result.card.training["split"]
    chips = np.asarray(ds["block"].values)
    train = np.flatnonzero(np.isin(chips, split["train_blocks"]))
    data = ChipArrays(
        ds["image"].values[train],
        ds["ancillary"].values[train].astype(np.float32),
        ds["n2"].values[train].astype(np.float32),
    )
    untrained = train_model(ds, options=options(epochs=1, lr=1e-12, seed=1)).net
    before = evaluate_loss(untrained, data, LossSpec(), device=torch.device("cpu"))[0]
    after = evaluate_loss(result.net, data, LossSpec(), device=torch.device("cpu"))[0]
    assert after < before


def test_written_card_loads_and_predicts(trained: tuple) -> None:
    result, paths = trained
    assert sorted(p.name for p in paths.values()) == [
        "card.yaml",
        "loss_curve.png",
        "training_log.csv",
        "training_log.json",
        "weights.safetensors",
    ]
    card = read_card(paths["card"])
    assert card.id == "world-model" and card.levels == ("N1", "N2")
    assert card.input.chip_size == 32 and card.input.pixel_size_m == 10.0
    assert card.ancillary_names == ["elevation", "slope", "evapotranspiration", "precipitation",
                                    "temp_ave", "temp_max", "temp_min"]  # fmt: skip
    split = card.training["split"]
    assert set(split) >= {"test_blocks", "train_blocks", "val_blocks", "block_bounds", "crs"}
    blocks = {*split["test_blocks"], *split["val_blocks"], *split["train_blocks"]}
    assert len(blocks) == 12 and card.metrics["N2"]["model"]["n_chips"] > 0
    model = load_model(paths["card"])
    images = torch.from_numpy(np.random.default_rng(0).integers(1, 255, (3, 3, 32, 32), np.uint8))
    anc = torch.tensor([[a.mean for a in card.ancillary]] * 3, dtype=torch.float32)
    out = model(images, anc).numpy()
    assert out.shape == (3, 10)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)
    with torch.inference_mode():
        again = result.net(images, anc)[0].numpy()
    np.testing.assert_allclose(out, again, atol=1e-6)


def test_card_statistics_are_the_training_chips(trained: tuple, world_dataset: Path) -> None:
    result, _ = trained
    ds = xr.open_zarr(world_dataset)
    block = ds["block"].values
    split = result.card.training["split"]
    counts = result.card.training["counts"]
    train = np.flatnonzero(np.isin(block, split["train_blocks"]))
    fp = footprints(ds)
    held_out = np.isin(block, [*split["test_blocks"], *split["val_blocks"]])
    kept = train[~overlapping(fp[train], fp[held_out])]
    assert len(kept) == counts["train"] and counts["dropped_overlap_train"] > 0
    anc = ds["ancillary"].values[kept]
    for i, var in enumerate(result.card.ancillary):
        assert var.mean == pytest.approx(anc[:, i].mean(), rel=1e-5)
        assert var.std == pytest.approx(anc[:, i].std(), rel=1e-5)
    images = ds["image"].values[kept] / 255.0
    np.testing.assert_allclose(result.card.input.image_mean, images.mean(axis=(0, 2, 3)), atol=1e-6)


def test_same_seed_same_weights(world_dataset: Path) -> None:
    digests = [
        hashlib.sha256(train_model(world_dataset, options=options(seed=s)).weights).hexdigest()
        for s in (5, 5, 6)
    ]
    assert digests[0] == digests[1] != digests[2]


def test_without_ancillary(world_dataset: Path, tmp_path: Path) -> None:
    _, paths = run_train(world_dataset, out=tmp_path / "m", options=options(ancillary="none"))
    card = read_card(paths["card"])
    assert card.ancillary == () and "none" in card.description
    model = load_model(paths["card"])
    assert model.net.n_ancillary == 0
    out = model(torch.full((2, 3, 32, 32), 90, dtype=torch.uint8), torch.zeros((2, 0)))
    assert out.shape == (2, 10)


def test_ancillary_subset_and_unknown_name(world_dataset: Path) -> None:
    result = train_model(world_dataset, options=options(epochs=1, ancillary=("slope", "elevation")))
    assert result.card.ancillary_names == ["slope", "elevation"]
    with pytest.raises(ConfigError, match=r"lacks prec_jan.*it has elevation, slope"):
        train_model(world_dataset, options=options(ancillary=("prec_jan",)))


# -- the split ----------------------------------------------------------------------------------
def test_choose_blocks_is_seeded_and_complete() -> None:
    blocks = list(range(10))
    a = choose_blocks(blocks, test_fraction=0.2, val_fraction=0.25, test_blocks=None, seed=3)
    assert a == choose_blocks(
        blocks, test_fraction=0.2, val_fraction=0.25, test_blocks=None, seed=3
    )
    test, val, train = a
    assert (len(test), len(val), len(train)) == (2, 2, 6)
    assert sorted([*test, *val, *train]) == blocks
    named = choose_blocks(blocks, test_fraction=0.2, val_fraction=0.0, test_blocks=[7], seed=0)
    assert named == ((7,), (), tuple(b for b in blocks if b != 7))
    with pytest.raises(ValueError, match=r"no block to train on|at least one for training"):
        choose_blocks([1, 2], test_fraction=0.2, val_fraction=0.2, test_blocks=None, seed=0)


def test_overlapping_chips_never_straddle_the_split() -> None:
    """Chips at half-chip stride across a block edge: no training chip shares area with a test
    chip."""
    n2 = np.full((40, 10), 0.1)
    ds = make_chip_dataset(n2, blocks=[0] * 20 + [1] * 20, chip_size=32)
    size = 320.0
    x = np.arange(40) * size / 2 + 18_000 - 10 * size  # centres march across the block edge
    ds["left"][:] = x - size / 2
    ds["right"][:] = x + size / 2
    ds["bottom"][:] = 0.0
    ds["top"][:] = size
    split = split_chips(ds, np.ones(40, bool), val_fraction=0.0, test_blocks=[1])
    fp = footprints(ds)
    assert not overlapping(fp[split.train], fp[split.test]).any()
    assert split.dropped_overlap["train"] == 1 and len(split.train) == 19  # only the last one
    assert len(split.test) == 20


def test_too_few_blocks_is_a_one_line_error() -> None:
    ds = make_chip_dataset(np.full((6, 10), 0.1), blocks=[0, 0, 0, 1, 1, 1], chip_size=32)
    with pytest.raises(InputDataError) as err:
        split_chips(ds, np.ones(6, bool))
    msg = str(err.value)
    assert "6 usable chips in 2 spatial blocks" in msg and "--block-size 9000x7500" in msg
    assert "--test-blocks" in msg and "\n" not in msg
    with pytest.raises(ConfigError, match="--test-blocks 9 hold no usable chip"):
        split_chips(ds, np.ones(6, bool), test_blocks=[9])


def test_unmapped_chips_are_left_out_and_counted() -> None:
    rng = np.random.default_rng(0)
    n2 = rng.dirichlet(np.ones(10), 40)
    unmapped = np.where(np.arange(40) % 4 == 0, 0.5, 0.0)
    ds = make_chip_dataset(n2, blocks=np.repeat(np.arange(5), 8), chip_size=32,
                           unmapped_fraction=unmapped)  # fmt: skip
    ds["n2"][3] = np.nan  # a chip without a mapped reference
    ds["ancillary"][5, 0] = np.nan
    result = train_model(ds, options=options(epochs=1, max_unmapped=0.2))
    counts = result.card.training["counts"]
    assert counts["excluded_unmapped"] == 10
    assert counts["excluded_no_reference"] == 1 and counts["excluded_no_ancillary"] == 1
    assert counts["train"] + counts["val"] + counts["test"] == 28


# -- augmentation -------------------------------------------------------------------------------
def test_flips_and_rotations_keep_an_oracles_fractions() -> None:
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 10, (4, 24, 24))
    codes[:, :8] = 3  # not symmetric: the transforms really move pixels
    chips = torch.from_numpy(np.stack([class_code_scene(c) for c in codes]))
    oracle = OracleModel(chip_size=24)
    truth = oracle(chips, torch.zeros((4, 0)))
    seen = set()
    for k in range(N_TRANSFORMS):
        turned = dihedral(chips, k)
        seen.add(turned[0, 0].numpy().tobytes())
        torch.testing.assert_close(oracle(turned, torch.zeros((4, 0))), truth)
    assert len(seen) == N_TRANSFORMS  # eight distinct orientations
    mixed = random_dihedral(chips, np.random.default_rng(0))
    torch.testing.assert_close(oracle(mixed, torch.zeros((4, 0))), truth)
    one = dihedral_each(chips, np.array([5, 5, 5, 5]))
    torch.testing.assert_close(one, dihedral(chips, 5))
    # each transform is a symmetry of the square: applying rotation k then its inverse is identity
    torch.testing.assert_close(dihedral(dihedral(chips, 1), 3), chips)
    torch.testing.assert_close(dihedral(dihedral(chips, 6), 6), chips)


# -- the shipped Zion model ---------------------------------------------------------------------
def test_shipped_zion_card_loads_and_records_its_split() -> None:
    model = load_model("zion-landsat-nlcd")
    card = model.card
    assert card.input.pixel_size_m == 10.0 and card.input.chip_size == 224
    assert card.ancillary_names == ["elevation", "slope", "temp_ave", "prec_jan"]
    assert "NOT Sentinel-2" in card.description
    split = card.training["split"]
    assert split["crs"] == "EPSG:32612" and split["block_size_m"] == [6000.0, 6000.0]
    bounds = split["block_bounds"]
    assert all(int(b) in {int(k) for k in bounds} for b in split["test_blocks"])
    n2 = card.metrics["N2"]
    assert n2["model"]["mean"]["mae_percent"] < n2["baseline"]["mean"]["mae_percent"]


@pytest.mark.realdata
def test_zion_scene_script_stacks_bands_inside_the_dem(data_dir: Path, tmp_path: Path) -> None:
    """pipelines/zion_scene.py: a B4, B3, B2 VRT that lulcmap opens and the SRTM covers."""
    import subprocess
    import sys

    import rasterio

    from lulcmap.io.rasters import check_covers
    from lulcmap.io.scene import open_scene
    from lulcmap.model.card import Radiometry

    zion = data_dir / "zion"
    if not zion.is_dir():
        pytest.skip("zion data not found")
    script = Path(__file__).resolve().parents[1] / "pipelines" / "zion_scene.py"
    vrt = tmp_path / "rgb.vrt"
    args = [sys.executable, str(script), str(zion), "--within", str(zion / "srtm.tif")]
    subprocess.run([*args, "--out", str(vrt)], check=True, capture_output=True)
    scene = open_scene(vrt, rgb_bands="B4,B3,B2", radiometry=Radiometry(), scale=2e-5, offset=-0.1)
    assert scene.grid.shape == (1384, 1113) and scene.grid.res == (30.0, 30.0)
    rgb, valid = scene.read_strip(0, 64)
    with rasterio.open(zion / "landsat_b4.tif") as b4:
        dn = b4.read(1, window=((23, 24), (6, 1119)))[0]
    expected = np.clip(np.round((dn * 2e-5 - 0.1) / 0.3 * 255), 1, 255)
    np.testing.assert_array_equal(rgb[0, 0], expected)
    assert valid.all()
    scene.close()
    with rasterio.open(zion / "srtm.tif") as dem:
        check_covers(dem, scene.grid.bounds, scene.grid.crs, what="DEM")


# -- several datasets -----------------------------------------------------------------------------
def _store(ds: xr.Dataset, path: Path) -> Path:
    ds.attrs["scenes"] = [{"path": path.name}]
    ds["scene_index"] = ("chip", np.zeros(ds.sizes["chip"], np.int16))
    return write_chip_dataset(ds, path)


def test_datasets_open_together_and_hold_out_whole(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    a = _store(make_chip_dataset(rng.dirichlet(np.ones(10), 24), blocks=np.repeat([0, 1, 2], 8),
                                 chip_size=32), tmp_path / "a.zarr")  # fmt: skip
    b = _store(make_chip_dataset(rng.dirichlet(np.ones(10), 8), blocks=[5] * 8, chip_size=32,
                                 seed=2), tmp_path / "b.zarr")  # fmt: skip
    from lulcmap.chipdata import open_chip_datasets

    both = open_chip_datasets([a, b])
    assert both.sizes["chip"] == 32 and both["dataset"].values.tolist() == [0] * 24 + [1] * 8
    assert both["scene_index"].values.tolist() == [0] * 24 + [1] * 8  # into the joined list
    assert [s["path"] for s in both.attrs["scenes"]] == ["a.zarr", "b.zarr"]
    # b held out whole: its block is the test block, a's blocks train and validate
    result = train_model(a, options=options(epochs=1, test_datasets=(b,), val_blocks=(2,)))
    split = result.card.training["split"]
    assert split["test_blocks"] == [5] and split["val_blocks"] == [2]
    assert split["train_blocks"] == [0, 1] and result.card.metrics["N2"]["model"]["n_chips"] == 8
    with pytest.raises(ConfigError, match="not both"):
        train_model(a, options=options(test_datasets=(b,), test_blocks=(0,)))
    with pytest.raises(ConfigError, match="given both to train on and as a test dataset"):
        train_model([a, b], options=options(test_datasets=(b,)))


def test_datasets_that_differ_are_refused(tmp_path: Path) -> None:
    n2 = np.full((4, 10), 0.1)
    a = _store(make_chip_dataset(n2, chip_size=32), tmp_path / "a.zarr")
    b = make_chip_dataset(n2, chip_size=32)
    b.attrs["pixel_size_m"] = 20.0
    from lulcmap.chipdata import open_chip_datasets

    with pytest.raises(InputDataError, match=r"differ in pixel_size_m.*same options"):
        open_chip_datasets([a, _store(b, tmp_path / "b.zarr")])
    c = make_chip_dataset(n2, chip_size=32, ancillary=("elevation",))
    with pytest.raises(InputDataError, match="different variable"):
        open_chip_datasets([a, _store(c, tmp_path / "c.zarr")])


def test_named_validation_blocks() -> None:
    test, val, train = choose_blocks(
        range(6), test_fraction=0.2, val_fraction=0.5, test_blocks=[0], val_blocks=[4, 5], seed=0
    )
    assert (test, val, train) == ((0,), (4, 5), (1, 2, 3))
