"""``predict`` on a climate grid in kelvin for a °C model: one warning line, or with ``--strict``
one error line, exit 2 and nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from lulcmap.testing.cli import assert_clean_failure, invoke

MODEL = "demo-synthetic"  # a °C model whose card gives its statistics
RANGE_WARNING = f"model {MODEL}'s range"


@pytest.fixture(scope="module")
def kelvin_world(
    small_world: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The small world with ``climate/temp_ave.tif`` converted from °C to kelvin."""
    climate = tmp_path_factory.mktemp("kelvin") / "climate"
    shutil.copytree(small_world["climate"], climate)
    with rasterio.open(climate / "temp_ave.tif", "r+") as ds:
        values = ds.read(1)
        valid = values != ds.nodata
        ds.write(np.where(valid, values + 273.15, values).astype(values.dtype), 1)
    return {**small_world, "climate": climate}


def args(world: dict[str, Path], out: Path, *more: str) -> list[object]:
    return [
        "predict",
        world["scene"],
        "--dem",
        world["dem"],
        "--climate",
        world["climate"],
        "--model",
        MODEL,
        "--out",
        out,
        "--device",
        "cpu",
        *more,
    ]


def warnings(output: str) -> list[str]:
    return [ln for ln in output.splitlines() if ln.startswith("lulcmap: WARNING:")]


def test_kelvin_grid_gives_one_warning_and_maps(
    kelvin_world: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, output = invoke(*args(kelvin_world, out))
    assert code == 0, output
    about_temp = [ln for ln in output.splitlines() if "temp_ave" in ln]
    assert len(about_temp) == 1, output
    (line,) = about_temp
    assert line.startswith("lulcmap: WARNING: temp_ave: values 29") and line in warnings(output)
    assert f"outside {RANGE_WARNING} 0.98" in line and "29.24 degC" in line
    assert "looks like kelvin" in line and "convert the grid to degC" in line
    assert [ln for ln in warnings(output) if RANGE_WARNING in ln] == [line]  # no other variable
    record = json.loads((out / "scene.run.json").read_text())
    (finding,) = record["ancillary_checks"]["findings"]
    assert finding["variable"] == "temp_ave" and finding["kind"] == "wrong_unit"
    assert 290 < finding["observed"][0] <= finding["observed"][1] < 292
    assert "temp_ave" in record["ancillary_checks"]["checked"]
    assert (out / "scene_N2.tif").is_file() and (out / "scene_N1.tif").is_file()


def test_strict_refuses_the_kelvin_grid(kelvin_world: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = invoke(*args(kelvin_world, out, "--strict"))
    assert_clean_failure(code, output, out, "temp_ave", "looks like kelvin", "--strict")


def test_grids_in_range_give_no_warning(small_world: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = invoke(*args(small_world, out, "--strict"))
    assert code == 0, output
    assert not [ln for ln in warnings(output) if RANGE_WARNING in ln], output
    record = json.loads((out / "scene.run.json").read_text())
    assert record["ancillary_checks"]["findings"] == []
    assert record["options"]["strict"] is True
