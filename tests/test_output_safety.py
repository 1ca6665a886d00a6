"""Outputs stay inside --out, and --overwrite replaces only lulcmap's own products (issue 15)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from lulcmap.model.registry import models_dir
from lulcmap.testing.cli import assert_clean_failure, invoke, predict_args


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


@pytest.mark.parametrize("stem", ["../../x", "a/b", "a\\b", "..", "ABSOLUTE", "", " "])
def test_stem_must_be_a_bare_name(small_world: dict[str, Path], tmp_path: Path, stem: str) -> None:
    root = tmp_path / "root"
    if stem == "ABSOLUTE":
        stem = str(root / "abs")
    out = root / "a" / "b" / "out"
    root.mkdir()
    code, output = invoke(*predict_args(small_world, out, "--stem", stem))
    assert_clean_failure(code, output, out, "--stem")
    assert _files(root) == set()


# -- a card's weights file is a bare name next to the card ------------------------------------
def _card_with(tmp_path: Path, source: str, edit: str, value: str) -> Path:
    card = yaml.safe_load((models_dir() / source / "card.yaml").read_text())
    block = card
    for key in edit.split(".")[:-1]:
        block = block[key]
    block[edit.split(".")[-1]] = value
    path = tmp_path / "card" / "card.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(card, sort_keys=False))
    return path


@pytest.mark.parametrize("weights", ["../../etc/passwd", "/etc/passwd", "sub\\w.bin", ""])
@pytest.mark.parametrize(
    ("source", "field"),
    [("demo-synthetic", "weights.file"), ("presto-dynamicworld", "encoder.weights.file")],
)
def test_card_weights_file_must_be_a_bare_name(
    small_world: dict[str, Path], tmp_path: Path, weights: str, source: str, field: str
) -> None:
    card = _card_with(tmp_path, source, field, weights)
    out = tmp_path / "out"
    code, output = invoke(*predict_args(small_world, out)[:-1], card)
    assert_clean_failure(code, output, out, "bare file name", field)
    assert "sha256" not in output and not re.search(r"[0-9a-f]{12}", output)


# -- --overwrite replaces only lulcmap's own products -----------------------------------------
def test_predict_overwrite_replaces_a_previous_prediction(
    small_world: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert invoke(*predict_args(small_world, out))[0] == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    code, output = invoke(*predict_args(small_world, out, "--overwrite"))
    assert code == 0, output
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert set(after) == set(before) and all(after[n] != before[n] for n in before)


@pytest.mark.parametrize("name", ["scene_N1.tif", "scene.run.json", "scene.zarr"])
def test_predict_overwrite_refuses_a_user_file(
    small_world: dict[str, Path], tmp_path: Path, name: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    theirs = out / name
    if name.endswith(".zarr"):
        theirs.mkdir()
        (theirs / "notes.txt").write_text("precious")
    else:
        theirs.write_text('{"precious": true}')
    snapshot = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code, output = invoke(*predict_args(small_world, out, "--overwrite"))
    lines = output.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "did not write" in lines[0], output
    assert str(theirs) in lines[0]
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == snapshot


def test_prepare_overwrite_refuses_a_folder_of_unrelated_files(
    small_world: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "chips.zarr"
    out.mkdir()
    for name in ("thesis.docx", "photo.jpg"):
        (out / name).write_text(name)
    args = [
        "prepare",
        small_world["scene"],
        "--reference",
        small_world["reference"],
        "--crosswalk",
        "index",
    ]
    args += ["--dem", small_world["dem"], "--climate", small_world["climate"]]
    code, output = invoke(*args, "--out", out, "--quiet", "--overwrite")
    lines = output.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "did not write" in lines[0], output
    assert "a folder of 2 entries" in lines[0]
    assert sorted(p.name for p in out.iterdir()) == ["photo.jpg", "thesis.docx"]
    assert (out / "thesis.docx").read_text() == "thesis.docx"
