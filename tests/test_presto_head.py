"""``prepare --backbone presto`` and ``train --backbone presto``: the stored features are what
``predict``'s pixel engine computes for the same footprints; a head trained on features that
determine the fractions recovers them; its card predicts through ``lulcmap predict`` (as the
prepared features say it must) and ``evaluate`` accepts it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
import xarray as xr
from typer.testing import CliRunner

from lulcmap.ancillary import compute_ancillary
from lulcmap.chipdata.schema import FEATURES_ATTR
from lulcmap.chips import ChipPlan
from lulcmap.cli.main import app
from lulcmap.config import PrepareConfig
from lulcmap.errors import ConfigError, InputDataError, ModelCardError
from lulcmap.evaluation.runner import run_evaluate
from lulcmap.io.scene import open_scene
from lulcmap.model.card import Radiometry
from lulcmap.model.pixel import cell_features, load_head, load_pixel_model
from lulcmap.model.presto import load_presto
from lulcmap.model.presto_inputs import match_bands
from lulcmap.model.registry import resolve_card
from lulcmap.pixels import CellInputs, run_pixels
from lulcmap.testing import make_chip_dataset, make_grid, random_fractions, write_chip_dataset
from lulcmap.testing.chipfolders import plane_raster
from lulcmap.training.features import encoder_path, sha256_of
from lulcmap.training.options import TrainOptions
from lulcmap.training.outputs import run_train
from lulcmap.training.prepare import prepare_dataset

CRS = "EPSG:32630"
CHIP = 32  # a 64 x 96 px scene: 2 x 3 chips
PPC = 4  # a 2 x 2 lattice: fast
CROSSWALK = "id: test\nlegend: sipna\ncodes:\n  1: Forests\n  2: Annual croplands\n"
runner = CliRunner()


def four_band_world(tmp: Path) -> tuple[Path, Path, Path]:
    """A 4-band uint16 scene (B02, B03, B04, B08; random texture, nodata 0 in one corner), a
    two-class reference on its grid, and the crosswalk."""
    grid = make_grid((64, 96), crs=CRS)
    rng = np.random.default_rng(1)
    data = rng.integers(300, 4000, (4, 64, 96)).astype(np.uint16)
    data[:, :5, :7] = 0
    profile = {"driver": "GTiff", "count": 4, "height": 64, "width": 96, "nodata": 0,
               "dtype": "uint16", "crs": CRS, "transform": grid.transform}  # fmt: skip
    scene = tmp / "scene_20230615.tif"
    with rasterio.open(scene, "w", **profile) as ds:
        ds.write(data)
        for i, name in enumerate(("B02", "B03", "B04", "B08"), start=1):
            ds.set_band_description(i, name)
    codes = np.where(np.arange(96)[None, :] < 40, 1, 2).repeat(64, axis=0).astype(np.uint8)
    profile.update(count=1, dtype="uint8")
    ref = tmp / "reference.tif"
    with rasterio.open(ref, "w", **profile) as ds:
        ds.write(codes[None])
    crosswalk = tmp / "crosswalk.yaml"
    crosswalk.write_text(CROSSWALK)
    return scene, ref, crosswalk


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("presto-prepare")
    scene, ref, crosswalk = four_band_world(tmp)
    cfg = PrepareConfig(
        scenes=(scene,), reference=ref, crosswalk=str(crosswalk), out=tmp / "ds.zarr",
        chip_size=CHIP, stride=CHIP, block_size=(320.0, 320.0), backbone="presto",
        pixels_per_cell=PPC, rgb_bands="B04,B03,B02",
    )  # fmt: skip
    prepare_dataset(cfg)
    return scene, tmp / "ds.zarr"


def test_prepared_features_are_the_pixel_engines(prepared: tuple[Path, Path]) -> None:
    scene_path, path = prepared
    ds = xr.open_zarr(path)
    info = ds.attrs[FEATURES_ATTR]
    assert info["encoder_sha256"] == sha256_of(encoder_path())
    assert info["pixels_per_cell"] == PPC and info["features"] == "mean"
    assert info["scenes"][0]["month"] == 6 and info["terrain"] == "masked"
    assert info["scenes"][0]["bands"] == {"B2": "B02", "B3": "B03", "B4": "B04", "B8": "B08"}
    feats = ds["features"].values
    assert feats.shape == (6, 128) and np.isfinite(feats).all()
    # predict's engine on the same scene and chip plan, its model giving the features themselves
    scene = open_scene(scene_path, radiometry=Radiometry(), output="reflectance", chunk_rows=CHIP)
    plan = ChipPlan(scene.grid, chip_size=CHIP, stride=CHIP)
    presto = load_presto(encoder_path())
    cells = CellInputs(match_bands(scene.band_names), 5, PPC)
    result = run_pixels(scene, plan, cells, lambda *a: cell_features(presto, *a), n_classes=128)
    rows = ds["row_off"].values // CHIP
    cols = ds["col_off"].values // CHIP
    engine = result.fractions[:, rows, cols].T
    np.testing.assert_allclose(feats, engine, rtol=0, atol=1e-5)
    assert np.abs(feats - feats[:1]).max() > 1e-2  # chips differ: not a constant


def test_prepared_features_with_a_dem_are_the_pixel_engines(tmp_path: Path) -> None:
    """With a DEM, each chip's mean elevation and slope feed Presto's SRTM token, as in predict."""
    scene_path, ref, crosswalk = four_band_world(tmp_path)
    dem = plane_raster(tmp_path / "dem.tif", 0.001, half=0.5)
    cfg = PrepareConfig(
        scenes=(scene_path,), reference=ref, crosswalk=str(crosswalk), out=tmp_path / "ds.zarr",
        chip_size=CHIP, stride=CHIP, block_size=(320.0, 320.0), backbone="presto", dem=dem,
        pixels_per_cell=PPC, rgb_bands="B04,B03,B02", features="mean_std", date="2021-01-10",
    )  # fmt: skip
    prepare_dataset(cfg)
    ds = xr.open_zarr(tmp_path / "ds.zarr")
    info = ds.attrs[FEATURES_ATTR]
    assert info["terrain"] == "required" and info["scenes"][0]["month"] == 1
    scene = open_scene(scene_path, radiometry=Radiometry(), output="reflectance", chunk_rows=CHIP)
    plan = ChipPlan(scene.grid, chip_size=CHIP, stride=CHIP)
    anc = compute_ancillary(plan, variables=["elevation", "slope"], dem=dem, climate={})
    cells = CellInputs(
        match_bands(scene.band_names), 0, PPC, elevation=anc["elevation"], slope=anc["slope"]
    )
    presto = load_presto(encoder_path())

    def features(*a: torch.Tensor) -> torch.Tensor:
        return cell_features(presto, *a, with_std=True)

    result = run_pixels(scene, plan, cells, features, n_classes=256)
    engine = result.fractions[:, ds["row_off"].values // CHIP, ds["col_off"].values // CHIP].T
    np.testing.assert_allclose(ds["features"].values, engine, rtol=0, atol=1e-5)
    flat = CellInputs(match_bands(scene.band_names), 0, PPC)  # without the terrain: differs
    other = run_pixels(scene, plan, flat, features, n_classes=256).fractions
    assert np.abs(other[:, 0, 0] - engine[ds["row_off"].values.argmin()]).max() > 1e-3


def synthetic_features(n: int, seed: int = 0) -> tuple[xr.Dataset, np.ndarray]:
    """A chip dataset (32 px chips, 12 blocks) whose features are a fixed linear map of its
    fractions plus a little noise; the attributes say they are Presto's, 2 x 2 lattice."""
    rng = np.random.default_rng(seed)
    n2 = random_fractions(n, alpha=0.3, seed=seed).astype(np.float32)
    ds = make_chip_dataset(n2, blocks=np.arange(n) % 12, chip_size=CHIP, ancillary=())
    mix = rng.normal(0, 1, (n2.shape[1], 128))
    feats = n2 @ mix + rng.normal(0, 0.02, (n, 128))
    ds["features"] = (("chip", "feature"), feats.astype(np.float32))
    ds.attrs[FEATURES_ATTR] = {
        "encoder": "presto", "encoder_file": "presto-default.safetensors",
        "encoder_sha256": sha256_of(encoder_path()), "pixels_per_cell": PPC,
        "features": "mean", "terrain": "masked", "climate": "masked",
        "scenes": [{"bands": {"B2": "B02", "B3": "B03", "B4": "B04", "B8": "B08"}, "month": 6}],
    }  # fmt: skip
    return ds, n2


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    tmp = tmp_path_factory.mktemp("presto-train")
    ds, _ = synthetic_features(600)
    data = write_chip_dataset(ds, tmp / "syn.zarr")
    opt = TrainOptions(backbone="presto", epochs=40, seed=0, head_hidden=(32,), ancillary="none")
    result, _ = run_train(data, out=tmp / "model", options=opt)
    return data, tmp / "model", result


def test_head_recovers_the_fractions(trained: tuple[Path, Path, object]) -> None:
    _, model, result = trained
    history = result.history  # type: ignore[attr-defined]
    assert history[-1].train_loss < 0.5 * history[0].train_loss
    n2 = result.card.metrics["N2"]  # type: ignore[attr-defined]
    mae, base = n2["model"]["mean"]["mae_percent"], n2["baseline"]["mean"]["mae_percent"]
    assert mae < 0.3 * base, (mae, base)
    card = resolve_card(model / "card.yaml")
    assert card.kind == "pixel_encoder" and card.head is not None and card.encoder is not None
    assert card.head.hidden == (32,) and card.encoder.pixels_per_cell == PPC
    assert card.encoder.bands == ("B2", "B3", "B4", "B8") and card.encoder.terrain == "masked"
    assert card.encoder.weights.sha256 == sha256_of(encoder_path())
    assert (model / "weights.safetensors").stat().st_size < 50_000
    load_pixel_model(card)  # the encoder found in models/presto/, both hashes checked


def test_evaluate_accepts_the_head(trained: tuple[Path, Path, object], tmp_path: Path) -> None:
    data, model, result = trained
    ev, paths = run_evaluate(data, model=str(model / "card.yaml"), out=tmp_path / "ev",
                             split="test", device="cpu")  # fmt: skip
    card_n2 = result.card.metrics["N2"]["model"]["mean"]["mae_percent"]  # type: ignore[attr-defined]
    assert ev.model["N2"].to_dict()["mean"]["mae_percent"] == pytest.approx(card_n2, abs=1e-6)
    assert (tmp_path / "ev" / "report.md").exists() and paths


def test_evaluate_refuses_a_dataset_without_features(
    trained: tuple[Path, Path, object], tmp_path: Path
) -> None:
    _, model, _ = trained
    ds, _ = synthetic_features(60)
    plain = write_chip_dataset(ds.drop_vars("features"), tmp_path / "plain.zarr")
    with pytest.raises(ModelCardError, match="--backbone presto"):
        run_evaluate(plain, model=str(model / "card.yaml"), out=tmp_path / "ev", device="cpu")
    with pytest.raises(InputDataError, match="--backbone presto"):
        run_train(plain, out=tmp_path / "m", options=TrainOptions(backbone="presto", epochs=1))


def test_the_card_predicts_what_its_features_say(
    prepared: tuple[Path, Path], trained: tuple[Path, Path, object], tmp_path: Path
) -> None:
    """``lulcmap predict`` with the trained card on the prepared scene gives, per cell, the head
    on the features ``prepare`` stored for that cell's footprint."""
    scene, path = prepared
    _, model, _ = trained
    out = tmp_path / "pred"
    args = ["predict", str(scene), "--model", str(model / "card.yaml"), "--out", str(out),
            "--stride", str(CHIP), "--device", "cpu", "--min-valid", "0"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    pred = xr.open_zarr(out / "scene_20230615.zarr")["N2"].values  # (classes, rows, cols)
    ds = xr.open_zarr(path)
    head = load_head(resolve_card(model / "card.yaml"))
    with torch.no_grad():
        want = torch.softmax(head(torch.from_numpy(ds["features"].values)), -1).numpy()
    rows, cols = ds["row_off"].values // CHIP, ds["col_off"].values // CHIP
    np.testing.assert_allclose(pred[:, rows, cols].T, want, atol=1e-5)


def test_cli_trains_and_evaluates_a_head(
    trained: tuple[Path, Path, object], tmp_path: Path
) -> None:
    data, _, _ = trained
    model = tmp_path / "cli-model"
    args = ["train", str(data), "--backbone", "presto", "--head-hidden", "16,8", "--epochs", "3",
            "--ancillary", "none", "-o", str(model), "-q"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert resolve_card(model / "card.yaml").head.hidden == (16, 8)  # type: ignore[union-attr]
    args = ["evaluate", str(data), "-m", str(model), "--split", "test", "-o", str(tmp_path / "e")]
    result = runner.invoke(app, [*args, "-q"])
    assert result.exit_code == 0, result.output
    bad = runner.invoke(app, ["train", str(data), "--backbone", "presto", "--head-hidden", "x",
                              "-o", str(tmp_path / "bad")])  # fmt: skip
    assert bad.exit_code == 2 and "--head-hidden" in bad.output


def test_encoder_options_need_the_backbone(tmp_path: Path) -> None:
    scene, ref, crosswalk = four_band_world(tmp_path)
    cfg = PrepareConfig(
        scenes=(scene,), reference=ref, crosswalk=str(crosswalk), out=tmp_path / "ds.zarr",
        rgb_bands="B04,B03,B02", date="2021-01-10",
    )  # fmt: skip
    with pytest.raises(ConfigError, match="--date apply to the encoder features"):
        prepare_dataset(cfg)
    assert not (tmp_path / "ds.zarr").exists()
