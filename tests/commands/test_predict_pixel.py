"""``lulcmap predict`` with a pixel-encoder model (the zero-shot default), end to end through the
command line: its outputs, its run record, the honest-default warnings and the bad-input errors
(one line, exit 2, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
import yaml
from affine import Affine
from typer.testing import CliRunner

from lulcmap.cli.main import app
from lulcmap.commands.predict import output_paths
from lulcmap.config import PredictConfig
from lulcmap.legend import LEVELS
from lulcmap.model.registry import models_dir, resolve_card

runner = CliRunner()
ZERO_SHOT = models_dir() / "presto-dynamicworld" / "card.yaml"
ALWAYS_ZERO = ("Greenhouses", "Woody croplands", "Combinations of croplands and natural vegetation")


def four_band_scene(
    path: Path, shape: tuple[int, int] = (260, 300), names: tuple[str, ...] | None = None
) -> Path:
    """A uint16 Sentinel-2-like scene: vegetation on the left, bare soil on the right."""
    names = ("B02", "B03", "B04", "B08") if names is None else names
    h, w = shape
    data = np.empty((len(names), h, w), np.uint16)
    veg, bare = [500, 800, 600, 3500], [1500, 1800, 2000, 2500]
    for i in range(len(names)):
        data[i, :, : w // 2], data[i, :, w // 2 :] = veg[i], bare[i]
    transform = Affine(10, 0, 400000, 0, -10, 4100000)
    profile = {"driver": "GTiff", "count": len(names), "height": h, "width": w, "nodata": 0,
               "dtype": "uint16", "crs": "EPSG:32630", "transform": transform}  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
        for i, name in enumerate(names, start=1):
            if name:
                ds.set_band_description(i, name)
    return path


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["predict", *args])
    return result.exit_code, result.output


def _one_line_error(code: int, output: str, out: Path, *needles: str) -> None:
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    assert code == 2, output
    text = " ".join(lines)
    assert lines[0].startswith("lulcmap: error:"), output
    for needle in needles:
        assert needle in text, (needle, output)
    assert not out.exists() or not any(out.iterdir())


def test_zero_shot_default_model_end_to_end(tmp_path: Path) -> None:
    scene = four_band_scene(tmp_path / "scene_20230615.tif")
    out = tmp_path / "out"
    code, output = _run(str(scene), "--out", str(out), "--pixels-per-cell", "4", "--device", "cpu")
    assert code == 0, output
    assert "model presto-dynamicworld" in output and "trained on no labels" in output
    chip_outputs = {p.name for p in output_paths(out, "scene_20230615", LEVELS)}
    assert {p.name for p in out.iterdir()} == chip_outputs  # as a chip model writes
    ds = xr.open_zarr(out / "scene_20230615.zarr")
    n2 = ds["N2"].values
    assert n2.shape[1:] == (2, 2) and np.isfinite(n2).all()
    np.testing.assert_allclose(n2.sum(axis=0), 1, atol=1e-5)
    names = list(ds["class_n2"].values)
    for name in ALWAYS_ZERO:
        assert np.all(n2[names.index(name)] == 0), name
    record = json.loads((out / "scene_20230615.run.json").read_text())
    card = resolve_card("presto-dynamicworld")
    assert record["model"]["id"] == "presto-dynamicworld"
    assert record["model"]["kind"] == "pixel_encoder"
    px = record["pixel_encoder"]
    assert px["encoder_sha256"] == card.encoder.weights.sha256  # type: ignore[union-attr]
    assert px["month_source"] == "scene metadata or file name" and px["month"] == 6
    assert px["pixels_per_cell"] == 4 and px["bands"] == {"B2": "B02", "B3": "B03", "B4": "B04",
                                                          "B8": "B08"}  # fmt: skip
    assert any("SRTM masked" in n for n in px["notes"])


def test_date_option_and_bands_option(tmp_path: Path) -> None:
    scene = four_band_scene(tmp_path / "scene.tif", (60, 60), names=("", "", "", ""))
    out = tmp_path / "out"
    code, output = _run(str(scene), "--out", str(out), "--bands", "B02,B03,B04,B08",
                        "--date", "2021-01-20", "--pixels-per-cell", "4")  # fmt: skip
    assert code == 0, output
    px = json.loads((out / "scene.run.json").read_text())["pixel_encoder"]
    assert px["month_source"] == "--date" and px["month"] == 1
    assert px["bands"]["B8"] == "B08"


def test_month_not_found_says_how_to_pass_date(tmp_path: Path) -> None:
    scene = four_band_scene(tmp_path / "scene.tif", (40, 40))
    out = tmp_path / "out"
    _one_line_error(*_run(str(scene), "--out", str(out)), out, "--date YYYY-MM-DD")


def test_bands_option_must_name_every_band(tmp_path: Path) -> None:
    scene = four_band_scene(tmp_path / "scene_20230615.tif", (40, 40), names=("", "", "", ""))
    out = tmp_path / "out"
    _one_line_error(*_run(str(scene), "--out", str(out), "--bands", "B02,B03"), out, "--bands")


def _card(tmp_path: Path, **encoder: object) -> Path:
    data = yaml.safe_load(ZERO_SHOT.read_text("utf-8"))
    data["encoder"].update(encoder)
    data["id"] = "test-pixel"
    path = tmp_path / "card" / "card.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(data))
    return path


def test_scene_without_the_cards_bands_names_needed_and_found(tmp_path: Path) -> None:
    card = _card(tmp_path, bands=["B2", "B3", "B4", "B8"])
    scene = four_band_scene(tmp_path / "s_20230615.tif", (40, 40), names=("B02", "B03", "B04"))
    out = tmp_path / "out"
    code, output = _run(str(scene), "--out", str(out), "--model", str(card))
    _one_line_error(code, output, out, "needs bands B2, B3, B4, B8", "lacks B8", "B02, B03, B04")


def test_scene_without_any_presto_band(tmp_path: Path) -> None:
    scene = four_band_scene(tmp_path / "s_20230615.tif", (40, 40), names=("x", "y", "z", "w"))
    out = tmp_path / "out"
    _one_line_error(*_run(str(scene), "--out", str(out)), out, "x, y, z, w", "--bands")


@pytest.mark.parametrize(
    ("encoder", "needle"),
    [({"climate": "monthly"}, "climate"), ({"terrain": "required"}, "--dem")],
)
def test_card_asking_for_inputs_not_given(
    tmp_path: Path, encoder: dict[str, object], needle: str
) -> None:
    card = _card(tmp_path, **encoder)
    scene = four_band_scene(tmp_path / "s_20230615.tif", (40, 40))
    out = tmp_path / "out"
    _one_line_error(*_run(str(scene), "--out", str(out), "--model", str(card)), out, needle)


def test_non_square_lattice_is_refused(tmp_path: Path) -> None:
    scene = four_band_scene(tmp_path / "s_20230615.tif", (40, 40))
    out = tmp_path / "out"
    args = (str(scene), "--out", str(out), "--pixels-per-cell", "10")
    _one_line_error(*_run(*args), out, "square")


def test_default_model_is_the_zero_shot_one() -> None:
    assert PredictConfig.model_fields["model"].default == "presto-dynamicworld"


def _untagged_copy(src: Path, dst: Path) -> Path:
    with rasterio.open(src) as ds:
        profile, data, desc = ds.profile, ds.read(), ds.descriptions
    with rasterio.open(dst, "w", **profile) as ds:
        ds.write(data)
        ds.descriptions = desc
    return dst


def test_synthetic_model_warns_on_anything_but_a_synthetic_world(
    small_world: dict[str, Path], tmp_path: Path
) -> None:
    args = ["--model", "demo-synthetic", "--dem", str(small_world["dem"]),
            "--climate", str(small_world["climate"]), "--device", "cpu"]  # fmt: skip
    code, output = _run(str(small_world["scene"]), "--out", str(tmp_path / "a"), *args)
    assert code == 0, output
    assert "synthetic data only" in output  # the summary line: what it was trained on
    assert "mean nothing" not in output  # a synthetic world: no warning
    real = _untagged_copy(small_world["scene"], tmp_path / "real.tif")
    code, output = _run(str(real), "--out", str(tmp_path / "b"), *args)
    assert code == 0, output
    warnings = [ln for ln in output.splitlines() if "mean nothing" in ln]
    assert len(warnings) == 1 and "demo-synthetic" in warnings[0]


def test_models_table_marks_default_and_fits_100_columns() -> None:
    result = runner.invoke(app, ["models"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert max(len(ln) for ln in lines) <= 100
    assert "trained on" in result.output
    assert any("* presto-dynamicworld" in ln for ln in lines)
    assert any("demo-synthetic" in ln and "synthetic data only" in ln for ln in lines)
