"""The same job through the command line, the Python API and a YAML pipeline gives the same
outputs: equal COG and Zarr arrays, equal run-record options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import xarray as xr

import lulcmap
from lulcmap.config import PredictConfig
from lulcmap.resources import short_path
from lulcmap.testing.cli import invoke


def _options(out: Path) -> dict[str, Any]:
    """The run record's options but the output folder."""
    options = json.loads((out / "scene.run.json").read_text())["options"]
    assert Path(options.pop("out")) == Path(out.name)
    return options


def _cogs(out: Path) -> dict[str, np.ndarray]:
    arrays = {}
    for level in ("N1", "N2"):
        with rasterio.open(out / f"scene_{level}.tif") as ds:
            arrays[level] = ds.read()
    return arrays


def test_cli_api_and_pipeline_give_the_same_outputs(
    small_world: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    w = {k: short_path(v) for k, v in small_world.items()}  # as a pipeline records them
    knobs = {"stride": 112, "min_valid_fraction": 0.4, "batch_size": 5, "device": "cpu"}
    knobs["model"] = "demo-synthetic"
    # 1. the command line
    code, output = invoke(
        "predict", w["scene"], "--dem", w["dem"], "--climate", w["climate"], "--out", "cli",
        "--stride", 112, "--min-valid-fraction", 0.4, "--batch-size", 5, "--device", "cpu",
        "--quiet", "--model", "demo-synthetic",
    )  # fmt: skip
    assert code == 0, output
    # 2. the Python API: the config the command line validates, run through the same command
    cfg = PredictConfig(scene=w["scene"], dem=w["dem"], climate=w["climate"], out="api", **knobs)
    paths = lulcmap.run_predict(cfg)
    assert sorted(p.name for p in paths.values()) == sorted(p.name for p in Path("cli").iterdir())
    # 3. a YAML pipeline
    step = {"scene": w["scene"], "dem": w["dem"], "climate": w["climate"], "out": "{out}"}
    text = json.dumps({"out": "yaml", "steps": [{"predict": {**step, **knobs}}]})
    (tmp_path / "p.yaml").write_text(text)  # JSON is YAML
    code, output = invoke("run", tmp_path / "p.yaml", "--quiet")
    assert code == 0, output

    outs = [tmp_path / "cli", tmp_path / "api", tmp_path / "yaml"]
    expected = _options(outs[0])
    assert expected["stride"] == 112 and expected["batch_size"] == 5
    cogs = _cogs(outs[0])
    zarr = xr.open_zarr(outs[0] / "scene.zarr").load()
    for out in outs[1:]:
        assert _options(out) == expected, out
        for level, values in _cogs(out).items():
            np.testing.assert_array_equal(values, cogs[level])
        xr.testing.assert_identical(xr.open_zarr(out / "scene.zarr").load(), zarr)
    # and lulcmap.predict, the function behind all three, returns what they wrote
    ds = lulcmap.predict(
        w["scene"], dem=w["dem"], climate=w["climate"], **{k: v for k, v in knobs.items()}
    )
    np.testing.assert_array_equal(ds["N2"].values, zarr["N2"].values)
