"""``lulcmap chips`` and ``lulcmap ancillary``: the original's file formats, byte for byte where
they can be, and every input check as one line, exit 2, nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from lulcmap.compat.chips import output_name
from lulcmap.compat.folders import ANCILLARY_COLUMNS
from lulcmap.compat.layout import ANCILLARY_CSV, IMAGES_FOLDER
from lulcmap.legend import load_legend
from lulcmap.model.registry import models_dir
from lulcmap.testing import synthetic_world
from lulcmap.testing.chipfolders import plane, plane_raster, write_chip_folder
from lulcmap.testing.cli import assert_clean_failure, invoke

LEVELS = ("N1", "N2")


@pytest.fixture(scope="module")
def seed_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The original layout built from a synthetic world: JPG, PNG and TIFF chips."""
    root = tmp_path_factory.mktemp("seed") / "in"
    world = synthetic_world((448, 672), seed=5)
    write_chip_folder(world, root, [".jpg", ".png", ".tif", ".jpg", ".png", ".tif"])
    return root


@pytest.fixture
def folder(seed_folder: Path, tmp_path: Path) -> Path:
    """A writable copy of the synthetic layout, for tests that break it."""
    return Path(shutil.copytree(seed_folder, tmp_path / "in"))


# -- chips --------------------------------------------------------------------------------------
@pytest.mark.realdata
def test_sample_folder_reproduces_the_sample_format(data_dir: Path, tmp_path: Path) -> None:
    sample = data_dir / "lifewatch-sample"
    if not sample.exists():
        pytest.skip(f"{sample} not found")
    out = tmp_path / "out"
    code, output = invoke("chips", sample, "--out", out, "--quiet")
    assert code == 0, output
    assert sorted(p.name for p in out.iterdir()) == [output_name(lv) for lv in LEVELS]
    for level in LEVELS:
        mine = (out / output_name(level)).read_bytes()
        theirs = (sample / "output" / output_name(level)).read_bytes()
        assert mine.splitlines()[0] == theirs.splitlines()[0]  # header, byte for byte
        assert mine.count(b"\r") == theirs.count(b"\r") == 0 and mine.endswith(b"\n")
        names = [line.rsplit(b'",', 1)[0] + b'"' for line in mine.splitlines()[1:]]
        assert names == [line.rsplit(b'",', 1)[0] + b'"' for line in theirs.splitlines()[1:]]
        table, ref = (
            pd.read_csv(out / output_name(level)),
            pd.read_csv(sample / "output" / output_name(level)),
        )
        assert list(table.columns) == list(ref.columns)
        assert table["filename"].tolist() == ref["filename"].tolist()
        assert all(table[c].dtype == np.float64 for c in table.columns[1:])
        np.testing.assert_allclose(table.iloc[:, 1:].sum(axis=1), 100.0, atol=1e-3)
        print(mine.decode())


def test_synthetic_folder_both_levels(seed_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = invoke("chips", seed_folder, "--out", out, "--batch-size", 4, "--quiet")
    assert code == 0, output
    legend = load_legend()
    csv_names = pd.read_csv(seed_folder / ANCILLARY_CSV)["filename"].tolist()
    tables = {lv: pd.read_csv(out / output_name(lv)) for lv in LEVELS}
    for lv, table in tables.items():
        assert list(table.columns) == ["filename", *legend.names(lv)]
        assert table["filename"].tolist() == csv_names
        np.testing.assert_allclose(table.iloc[:, 1:].sum(axis=1), 100.0, atol=1e-3)
        text = (out / output_name(lv)).read_text()
        assert text.splitlines()[1].startswith('"Chip_5__(+38.0005,-5.0005).tif",')
    n1 = legend.aggregate(tables["N2"].iloc[:, 1:].to_numpy(), axis=1)
    np.testing.assert_array_equal(tables["N1"].iloc[:, 1:].to_numpy(), n1)


def test_one_level_and_explicit_paths(seed_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["--images", seed_folder / IMAGES_FOLDER, "--ancillary", seed_folder / ANCILLARY_CSV]
    code, output = invoke("chips", *args, "--out", out, "--level", "n2", "--quiet")
    assert code == 0, output
    assert [p.name for p in out.iterdir()] == [output_name("N2")]


def test_existing_outputs_need_overwrite(seed_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / output_name("N1")).write_text("precious")
    code, output = invoke("chips", seed_folder, "--out", out, "--quiet")
    assert code == 2 and "--overwrite" in output
    assert [p.name for p in out.iterdir()] == [output_name("N1")]
    assert (out / output_name("N1")).read_text() == "precious"
    code, output = invoke("chips", seed_folder, "--out", out, "--quiet", "--overwrite")
    assert code == 2 and "did not write" in output  # --overwrite replaces only lulcmap outputs
    assert (out / output_name("N1")).read_text() == "precious"
    (out / output_name("N1")).unlink()
    assert invoke("chips", seed_folder, "--out", out, "--quiet")[0] == 0
    code, output = invoke("chips", seed_folder, "--out", out, "--quiet", "--overwrite")
    assert code == 0, output
    assert (out / output_name("N1")).read_text().startswith("filename,Artificial,")


def _break_csv(folder: Path, edit) -> None:  # type: ignore[no-untyped-def]
    csv = folder / ANCILLARY_CSV
    table = pd.read_csv(csv, dtype=str)
    edit(table).to_csv(csv, index=False)


def _first_image(folder: Path, suffix: str = ".png") -> Path:
    return sorted((folder / IMAGES_FOLDER).glob(f"*{suffix}"))[0]


def _set(table: pd.DataFrame, row: int, col: str, value: str) -> pd.DataFrame:
    table.loc[row, col] = value
    return table


@pytest.mark.parametrize(
    ("breakage", "needles"),
    [
        (lambda f: Image.new("RGB", (224, 200)).save(_first_image(f)), ["Chip_", "224x200 px"]),
        (lambda f: Image.new("RGBA", (224, 224)).save(_first_image(f)), ["4 band", "8-bit RGB"]),
        (lambda f: Image.new("RGB", (224, 224)).save(f / IMAGES_FOLDER / "x.png"), ["x.png"]),
        (lambda f: _first_image(f, ".jpg").unlink(), ["1 row(s)", "Chip_"]),
        (lambda f: _break_csv(f, lambda t: t.drop(columns=["slope", "temp_min"])),
         ["temp_min, slope", "lacks"]),
        (lambda f: _break_csv(f, lambda t: _set(t, 1, "elevation", "n/a")),
         ["elevation", "row 2", "Chip_4", "'n/a'"]),
        (lambda f: _break_csv(f, lambda t: _set(t, 0, "precipitation", "")),
         ["precipitation", "row 1"]),
        (lambda f: _break_csv(f, lambda t: pd.concat([t, t.iloc[:1]])), ["more than once"]),
        (lambda f: [p.unlink() for p in (f / IMAGES_FOLDER).iterdir()], ["holds no chips"]),
        (lambda f: (f / ANCILLARY_CSV).write_text(
            (f / ANCILLARY_CSV).read_text().replace(",", ";")), ["';'"]),
        (lambda f: (f / ANCILLARY_CSV).unlink(), [ANCILLARY_CSV, "--ancillary"]),
    ],
    ids=["size", "bands", "image-without-row", "row-without-image", "missing-columns",
         "non-numeric", "empty-value", "duplicate-row", "empty-folder", "semicolons", "no-csv"],
)  # fmt: skip
def test_input_checks(folder: Path, tmp_path: Path, breakage, needles) -> None:  # type: ignore[no-untyped-def]
    breakage(folder)
    out = tmp_path / "out"
    assert_clean_failure(*invoke("chips", folder, "--out", out, "--quiet"), out, *needles)


def test_no_input_given(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert_clean_failure(*invoke("chips", "--out", out), out, "INPUT_DIR", "--images")


def test_level_the_model_cannot_give(seed_folder: Path, tmp_path: Path) -> None:
    model = Path(shutil.copytree(models_dir() / "demo-synthetic", tmp_path / "model"))
    card = yaml.safe_load((model / "card.yaml").read_text())
    card["levels"] = ["N1"]
    (model / "card.yaml").write_text(yaml.safe_dump(card))
    out = tmp_path / "out"
    args = ["chips", seed_folder, "--out", out, "--model", model / "card.yaml"]
    assert_clean_failure(*invoke(*args, "--level", "N2"), out, "only N1", "--level N1")
    assert_clean_failure(*invoke(*args, "--level", "N3"), out, "N1, N2 or both")


# -- ancillary ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def plane_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("plane")
    paths = {"dem": plane_raster(root / "dem.tif", 0.0005)}
    for name in ANCILLARY_COLUMNS[:5]:
        paths[name] = plane_raster(root / "clim" / f"{name}.tif", 0.01)
    paths["climate"] = root / "clim"
    images = root / "in" / IMAGES_FOLDER
    images.mkdir(parents=True)
    for name in ("a__(+38.300000,-5.300000).jpg", "b__(+38.200000,-5.100000).png"):
        Image.new("RGB", (224, 224)).save(images / name)
    paths["input"] = root / "in"
    return paths


def test_ancillary_with_a_climate_folder(plane_inputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "anc.csv"
    code, output = invoke(
        "ancillary", plane_inputs["input"], "--dem", plane_inputs["dem"],
        "--climate", plane_inputs["climate"], "--out", out, "--quiet",
    )  # fmt: skip
    assert code == 0, output
    text = out.read_text()
    assert text.splitlines()[0] == "filename," + ",".join(ANCILLARY_COLUMNS)
    assert text.splitlines()[1].startswith('"a__(+38.300000,-5.300000).jpg",')
    table = pd.read_csv(out)
    expected = plane([38.3, 38.2], [-5.3, -5.1])
    for col in [*ANCILLARY_COLUMNS[:5], "elevation"]:
        np.testing.assert_allclose(table[col], expected, atol=0.5)


def test_ancillary_from_a_csv_with_some_climate(
    plane_inputs: dict[str, Path], tmp_path: Path
) -> None:
    points = tmp_path / "points.csv"
    pd.DataFrame(
        {"filename": ["p1.jpg", "p2.jpg"], "lat": [38.1, 38.4], "lon": [-5.2, -5.4]}
    ).to_csv(points, index=False)
    out = tmp_path / "anc.csv"
    code, output = invoke(
        "ancillary", points, "--dem", plane_inputs["dem"], "--out", out,
        "--climate-var", f"tmax={plane_inputs['temp_max']}",
    )  # fmt: skip
    assert code == 0, output
    assert "left out" in output and "temp_min" in output
    table = pd.read_csv(out)
    assert list(table.columns) == ["filename", "temp_max", "elevation", "slope"]
    np.testing.assert_allclose(table["temp_max"], plane([38.1, 38.4], [-5.2, -5.4]), atol=0.5)


def test_ancillary_errors(plane_inputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "anc.csv"
    base = ["ancillary", plane_inputs["input"], "--dem", plane_inputs["dem"], "--out", out]
    clim = tmp_path / "clim"
    shutil.copytree(plane_inputs["climate"], clim)
    (clim / "temp_min.tif").unlink()
    assert_clean_failure(*invoke(*base, "--climate", clim), out, "temp_min", "--climate-var")
    far = tmp_path / "far.csv"
    pd.DataFrame({"filename": ["x.jpg"], "lat": [40.0], "lon": [-5.3]}).to_csv(far, index=False)
    base[1] = far
    assert_clean_failure(*invoke(*base), out, "does not cover 1 of 1", "x.jpg")
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"filename": ["y.jpg"], "lat": [-5.3], "lon": [238.3]}).to_csv(bad, index=False)
    base[1] = bad
    assert_clean_failure(*invoke(*base), out, "y.jpg", "not degrees")
    out.write_text("precious")
    base[1] = plane_inputs["input"]
    code, output = invoke(*base)
    assert code == 2 and "--overwrite" in output and out.read_text() == "precious"


@pytest.mark.realdata
def test_ancillary_on_the_sample(data_dir: Path, tmp_path: Path) -> None:
    dem, sample = data_dir / "srtm3-andalusia.tif", data_dir / "lifewatch-sample"
    if not dem.exists() or not sample.exists():
        pytest.skip(f"{dem} or {sample} not found")
    out = tmp_path / "anc.csv"
    code, output = invoke("ancillary", sample, "--dem", dem, "--out", out, "--quiet")
    assert code == 0, output
    mine, ref = pd.read_csv(out), pd.read_csv(sample / ANCILLARY_CSV)
    assert mine["filename"].tolist() == ref["filename"].tolist()
    np.testing.assert_allclose(mine["elevation"], ref["elevation"], atol=5.0)
