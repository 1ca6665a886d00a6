"""The command line: the main job end to end; bad input is one line, exit 2, no leftovers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate

from lulcmap.legend import load_legend
from lulcmap.model.registry import models_dir
from lulcmap.testing.cli import assert_clean_failure, invoke, predict_args


def test_predict_end_to_end(small_world: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = invoke(*predict_args(small_world, out))
    assert code == 0, output
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "scene.run.json",
        "scene.zarr",
        "scene_N1.tif",
        "scene_N2.tif",
        "scene_chips.parquet",
    ]
    legend = load_legend()
    for level in ("N1", "N2"):
        path = out / f"scene_{level}.tif"
        assert cog_validate(str(path))[0]
        with rasterio.open(path) as ds:
            assert list(ds.descriptions) == legend.names(level)
            assert ds.shape == (2, 3) and ds.nodata == 255
            assert np.all(ds.read().astype(int).sum(axis=0) == 100)
    record = json.loads((out / "scene.run.json").read_text())
    assert record["model"]["id"] == "demo-synthetic" and record["counts"]["cells"] == 6


def test_existing_output_needs_overwrite(small_world: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "scene_N1.tif").write_text("precious")
    code, output = invoke(*predict_args(small_world, out))
    assert code == 2 and "--overwrite" in output
    assert (out / "scene_N1.tif").read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["scene_N1.tif"]
    (out / "scene_N1.tif").unlink()  # --overwrite replaces only lulcmap outputs
    assert invoke(*predict_args(small_world, out))[0] == 0
    code, output = invoke(*predict_args(small_world, out), "--overwrite")
    assert code == 0, output
    assert cog_validate(str(out / "scene_N1.tif"))[0]


def test_missing_scene(small_world: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = predict_args(small_world, out)
    args[1] = tmp_path / "nope.tif"
    assert_clean_failure(*invoke(*args), out, "nope.tif")


def test_scene_not_a_raster(small_world: dict[str, Path], tmp_path: Path) -> None:
    bogus = tmp_path / "scene.tif"
    bogus.write_text("not a raster")
    out = tmp_path / "out"
    args = predict_args(small_world, out)
    args[1] = bogus
    assert_clean_failure(*invoke(*args), out, "scene.tif")


def test_scene_without_crs(small_world: dict[str, Path], tmp_path: Path) -> None:
    with rasterio.open(small_world["scene"]) as src:
        data, profile = src.read(), src.profile
    profile.update(crs=None)
    path = tmp_path / "nocrs.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    out = tmp_path / "out"
    args = predict_args(small_world, out)
    args[1] = path
    assert_clean_failure(*invoke(*args), out, "coordinate reference system")


def test_dem_not_covering_scene(small_world: dict[str, Path], tmp_path: Path) -> None:
    with rasterio.open(small_world["scene"]) as src:
        crs, (left, top) = src.crs, (src.bounds.left, src.bounds.top)
    dem = tmp_path / "dem_small.tif"
    with rasterio.open(
        dem,
        "w",
        driver="GTiff",
        width=50,
        height=50,
        count=1,
        dtype="float32",
        crs=crs,
        transform=from_origin(left, top, 30, 30),
    ) as dst:
        dst.write(np.full((1, 50, 50), 500, np.float32))
    out = tmp_path / "out"
    args = predict_args(small_world, out)
    args[3] = dem
    assert_clean_failure(*invoke(*args), out, "DEM", "cover")


def test_missing_climate_variable_lists_what_was_found(
    small_world: dict[str, Path], tmp_path: Path
) -> None:
    clim = tmp_path / "clim"
    shutil.copytree(small_world["climate"], clim)
    (clim / "temp_min.tif").unlink()
    out = tmp_path / "out"
    args = predict_args(small_world, out)
    args[5] = clim
    assert_clean_failure(*invoke(*args), out, "temp_min", "temp_max", "--climate-var")


def test_rgb_bands_the_scene_lacks(small_world: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert_clean_failure(*invoke(*predict_args(small_world, out), "--rgb-bands", "4,3,2"), out, "4")


def _copy_model(tmp_path: Path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(models_dir() / "demo-synthetic", dst)
    return dst / "card.yaml"


def test_weights_hash_mismatch(small_world: dict[str, Path], tmp_path: Path) -> None:
    card = _copy_model(tmp_path)
    weights = card.parent / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    out = tmp_path / "out"
    assert_clean_failure(*invoke(*predict_args(small_world, out), "--model", card), out, "sha256")


def test_malformed_card(small_world: dict[str, Path], tmp_path: Path) -> None:
    card = _copy_model(tmp_path)
    data = yaml.safe_load(card.read_text())
    data["colour_of_the_sky"] = "blue"
    card.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    assert_clean_failure(
        *invoke(*predict_args(small_world, out), "--model", card), out, "colour_of_the_sky"
    )


def test_unknown_model_name(small_world: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert_clean_failure(
        *invoke(*predict_args(small_world, out), "--model", "nonexistent"), out, "demo-synthetic"
    )


def test_run_config_rejects_unknown_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        "out: o\nsteps:\n  - predict:\n      scene: s.tif\n      out: o\n      strid: 112\n"
    )
    code, output = invoke("run", cfg)
    assert code == 2 and "strid" in output and "unknown key" in output


def test_models_json_lists_demo_model() -> None:
    code, output = invoke("models", "--json")
    assert code == 0
    rows = json.loads(output)
    demo = next(r for r in rows if r["id"] == "demo-synthetic")
    assert demo["pixel_size_m"] == 10 and "elevation" in demo["ancillary"]
    assert demo["legend"] == "sipna" and demo["levels"] == ["N1", "N2"]


def test_real_process_prints_one_line_and_exit_2(tmp_path: Path) -> None:
    """The installed entry point, as a user runs it: no traceback, exit code 2."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lulcmap.cli.main",
            "predict",
            str(tmp_path / "missing.tif"),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "missing.tif" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


def test_cuda_asked_for_without_cuda(
    small_world: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs on machines with CUDA too: torch is told it has none."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "out"
    assert_clean_failure(*invoke(*predict_args(small_world, out), "--device", "cuda"), out, "CUDA")


def test_weights_that_do_not_fit_the_card(small_world: dict[str, Path], tmp_path: Path) -> None:
    card = _copy_model(tmp_path)
    data = yaml.safe_load(card.read_text())
    data["architecture"] = {"widths": [16, 32, 64, 96]}  # not what the weights were trained as
    card.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    assert_clean_failure(
        *invoke(*predict_args(small_world, out), "--model", card), out, "do not fit", "architecture"
    )


def test_stride_larger_than_the_chip(small_world: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = invoke(*predict_args(small_world, out), "--stride", "300")
    assert_clean_failure(code, output, out, "--stride")


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or __import__("platform").libc_ver()[0] != "glibc",
    reason="tune_malloc tunes glibc's allocator only",
)
def test_tune_malloc_applies_on_glibc() -> None:
    """All three mallopt calls succeed (in a process of its own: they are process-wide)."""
    code = "from lulcmap.inference import tune_malloc; print(tune_malloc())"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "True"


def test_every_command_tunes_the_allocator_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's callback runs before any command, so worker threads start tuned."""
    import lulcmap.cli.main as cli_main

    calls: list[int] = []
    monkeypatch.setattr(cli_main, "tune_malloc", lambda: calls.append(1) or True)
    code, output = invoke("models")
    assert code == 0, output
    assert calls == [1]
