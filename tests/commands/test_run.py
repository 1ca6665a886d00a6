"""``lulcmap run`` pipelines: loading (steps, loops, placeholders, paths, errors) and a whole
world -> prepare -> train -> evaluate run on tiny synthetic worlds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from lulcmap.cli.main import app
from lulcmap.commands.run import load_run_config
from lulcmap.commands.world import world_origin
from lulcmap.errors import ConfigError
from lulcmap.model.card import read_card

runner = CliRunner()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


PIPELINE = """
vars: {data: inputs, tag: a}
out: work
steps:
  - for: {seed: [3, 5]}
    world: {seed: "{seed}", size: 64, out: "{out}/world-{seed}-{tag}"}
  - prepare:
      scenes: ["{data}/scene.tif"]
      reference: "{data}/ref.gpkg"
      crosswalk: index
      climate_vars: {temp_ave: "{data}/t.tif"}
      out: "{out}/d.zarr"
  - evaluate: {datasets: ["{out}/d.zarr"], model: demo-synthetic, out: "{out}/eval"}
"""


def test_steps_loops_placeholders_and_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg_path = write(tmp_path / "pipes" / "p.yaml", PIPELINE)
    monkeypatch.chdir(tmp_path)
    cfg = load_run_config(cfg_path)
    kinds = [s.kind for s in cfg.steps]
    assert kinds == ["world", "world", "prepare", "evaluate"]
    worlds = [s.config for s in cfg.steps[:2]]
    assert [w.seed for w in worlds] == [3, 5]  # "{seed}" became a number
    # relative paths are taken from the config's folder and shown from the current folder
    assert worlds[1].out == Path("pipes/work/world-5-a")
    prep = cfg.steps[2].config
    assert prep.scenes == (Path("pipes/inputs/scene.tif"),)
    assert prep.climate_vars == {"temp_ave": Path("pipes/inputs/t.tif")}
    assert cfg.steps[3].config.model == "demo-synthetic"  # a model id is not a path
    # --out and --var override; a --var naming an existing folder is taken from here
    (tmp_path / "elsewhere").mkdir()
    cfg = load_run_config(cfg_path, out=tmp_path / "o", variables={"data": "elsewhere", "tag": "b"})
    assert cfg.steps[1].config.out == Path("o/world-5-b")
    assert cfg.steps[2].config.scenes == (Path("elsewhere/scene.tif"),)
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")  # kept as given, not resolved
    cfg = load_run_config(cfg_path, variables={"data": "link"})
    assert cfg.steps[2].config.scenes == (Path("link/scene.tif"),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("out: o\nsteps:\n  - prepare: {scenes: [s.tif], strid: 1}\n", "accepted: scenes"),
        ("out: o\nsteps:\n  - world: {seed: 1, out: '{nope}'}\n", "unknown placeholder {nope}"),
        ("out: o\nsteps:\n  - bake: {seed: 1}\n", "accepted: world, prepare, train"),
        ("out: o\nsteps:\n  - {}\n", "a step is one of world, prepare"),
        ("out: o\nsteps:\n  - for: {seed: 3}\n    world: {seed: 1, out: x}\n", "must map names"),
        ("out: o\nsteps: []\n", "needs `steps:`"),
        (  # the former demo form is refused with the keys a config accepts
            "out: o\npredict: {scene: s.tif, out: o}\nsteps:\n  - world: {seed: 1, out: x}\n",
            "accepted: vars, out, steps",
        ),
    ],
)
def test_config_errors_are_one_line(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path / "p.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_run_config(path)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_unknown_var_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.yaml", "vars: {a: 1}\nout: o\nsteps:\n  - world: {seed: 1, out: x}\n"
    )
    with pytest.raises(ConfigError, match="no such variable"):
        load_run_config(path, variables={"b": "2"})


def test_world_origin_puts_each_seed_in_its_own_block() -> None:
    extent = 64 * 10.0
    cells = {tuple(np.floor(np.array(world_origin(s, 64)) / extent)) for s in range(48)}
    assert len(cells) == 48  # no two worlds share a block-sized cell
    x, y = world_origin(3, 64)
    assert x % extent == 0 and y % extent == 0


TRAIN_PIPELINE = """
out: work
steps:
  - for: {seed: [1, 2, 3]}
    world: {seed: "{seed}", size: 96, out: "{out}/world-{seed}"}
  - for: {seed: [1, 2, 3]}
    prepare:
      scenes: ["{out}/world-{seed}/scene.tif"]
      reference: "{out}/world-{seed}/reference.tif"
      crosswalk: index
      dem: "{out}/world-{seed}/dem.tif"
      climate: "{out}/world-{seed}/climate"
      chip_size: 32
      stride: 32
      block_size: [960, 960]
      out: "{out}/world-{seed}.zarr"
  - train:
      datasets: ["{out}/world-1.zarr"]
      val_datasets: ["{out}/world-2.zarr"]
      test_datasets: ["{out}/world-3.zarr"]
      out: "{out}/model"
      epochs: 2
      batch_size: 8
      widths: [8, 8, 16, 16]
      device: cpu
  - evaluate:
      datasets: ["{out}/world-1.zarr", "{out}/world-3.zarr"]
      model: "{out}/model"
      split: test
      out: "{out}/eval"
"""


def test_run_world_prepare_train_evaluate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = write(tmp_path / "p.yaml", TRAIN_PIPELINE)
    result = runner.invoke(app, ["run", str(cfg), "--quiet"])
    assert result.exit_code == 0, result.output
    work = tmp_path / "work"
    blocks = [
        set(xr.open_zarr(work / f"world-{s}.zarr")["block"].values.tolist()) for s in (1, 2, 3)
    ]
    assert all(len(b) == 1 for b in blocks) and len(set.union(*blocks)) == 3  # a block per world
    card = read_card(work / "model" / "card.yaml")
    split = card.training["split"]
    assert split["test_blocks"] == sorted(blocks[2]) and split["val_blocks"] == sorted(blocks[1])
    assert split["train_blocks"] == sorted(blocks[0])
    assert len(card.training["dataset"]["datasets"]) == 3
    report = (work / "eval" / "report.md").read_text()
    n_test = xr.open_zarr(work / "world-3.zarr").sizes["chip"]
    assert card.metrics["N2"]["model"]["n_chips"] == n_test
    assert f"{n_test} chips" in report or str(n_test) in report
    # a second run refuses before doing anything, and says how to go on
    before = sorted(p.name for p in work.iterdir())
    again = runner.invoke(app, ["run", str(cfg)])
    assert again.exit_code == 2 and "step 1 (world) would replace" in again.output
    assert "--overwrite" in again.output and sorted(p.name for p in work.iterdir()) == before


def test_the_demo_is_an_ordinary_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``lulcmap demo`` runs pipelines/demo.yaml through the runner (here on a smaller world) and
    prints what it always printed: the outputs, then the MAE per level."""
    from lulcmap.commands import run as run_module
    from lulcmap.commands.run import demo_config
    from lulcmap.resources import shipped_dir

    assert [s.kind for s in demo_config(tmp_path / "d").steps] == ["world", "predict", "score"]
    shipped = (shipped_dir("pipelines") / "demo.yaml").read_text()
    assert "size: 2240" in shipped
    write(tmp_path / "pipelines" / "demo.yaml", shipped.replace("size: 2240", "size: 448"))
    monkeypatch.setattr(run_module, "shipped_dir", lambda name: tmp_path / name)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["demo", "--out", "d"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("wrote 5 outputs in ") and lines[1] == "  d/scene_N1.tif"
    maes = [ln for ln in lines if "MAE against the synthetic truth" in ln]
    assert [m.split()[0] for m in maes] == ["N1", "N2"]
    assert all(0 < float(m.split(": ")[1].rstrip(" %")) < 10 for m in maes)
    inputs = sorted(p.name for p in (tmp_path / "d" / "inputs").iterdir())
    assert inputs == ["climate", "dem.tif", "scene.tif", "truth_N1.tif", "truth_N2.tif"]
    again = runner.invoke(app, ["demo", "--out", "d"])  # refused before any work
    assert again.exit_code == 2 and "step 1 (world) would replace d/inputs" in again.output
    assert runner.invoke(app, ["demo", "--out", "d", "--overwrite", "--quiet"]).exit_code == 0
