"""``lulcmap train``: a model folder that ``evaluate`` and ``predict`` take; bad input: one line,
exit 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from lulcmap.testing.chipdata import make_chip_dataset, random_fractions, write_chip_dataset
from lulcmap.testing.cli import assert_clean_failure, invoke

FAST = ["--epochs", "2", "--batch-size", "8", "--widths", "8,8,16,16", "--device", "cpu"]


def write_dataset(path: Path, blocks: list[int]) -> Path:
    ds = make_chip_dataset(random_fractions(len(blocks)), blocks=blocks, chip_size=32)
    return write_chip_dataset(ds, path)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 chips of 32 px in 6 blocks."""
    return write_dataset(tmp_path_factory.mktemp("ds") / "chips.zarr", list(np.repeat(range(6), 8)))


@pytest.fixture(scope="module")
def model_dir(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models") / "tiny"
    code, output = invoke("train", dataset, "--out", out, "--licence", "MIT", *FAST)
    assert code == 0, output
    assert "trained tiny on" in output and "N2 model     MAE" in output, output
    return out


def test_train_writes_a_model_folder(model_dir: Path) -> None:
    assert sorted(p.name for p in model_dir.iterdir()) == [
        "card.yaml",
        "loss_curve.png",
        "training_log.csv",
        "training_log.json",
        "weights.safetensors",
    ]
    card = yaml.safe_load((model_dir / "card.yaml").read_text("utf-8"))
    assert card["id"] == "tiny" and card["licence"] == "MIT"
    assert card["architecture"]["widths"] == [8, 8, 16, 16]
    log = json.loads((model_dir / "training_log.json").read_text("utf-8"))
    assert [r["epoch"] for r in log["epochs"]] == [1, 2]
    assert (model_dir / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert (model_dir / "training_log.csv").read_text().startswith("epoch,lr,train_loss")


def test_evaluate_split_test_gives_the_cards_metrics(
    dataset: Path, model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval"
    code, output = invoke(
        "evaluate", dataset, "--model", model_dir, "--split", "test", "--out", out
    )
    assert code == 0, output
    metrics = json.loads((out / "metrics.json").read_text("utf-8"))
    card = yaml.safe_load((model_dir / "card.yaml").read_text("utf-8"))
    assert metrics["selection"]["blocks"] == card["training"]["split"]["test_blocks"]
    assert metrics["selection"]["baseline_source"] == "card"
    for level in ("N1", "N2"):
        for who in ("model", "baseline"):
            got, want = metrics["levels"][level][who]["mean"], card["metrics"][level][who]["mean"]
            assert got["mae_percent"] == pytest.approx(want["mae_percent"], rel=1e-6)
            assert got["rmse_percent"] == pytest.approx(want["rmse_percent"], rel=1e-6)


def test_predict_takes_the_model_folder(
    model_dir: Path, small_world: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "pred"
    code, output = invoke(
        "predict", small_world["scene"], "--dem", small_world["dem"], "--climate",
        small_world["climate"], "--model", model_dir / "card.yaml", "--stride", 32, "--out", out,
        "--quiet",
    )  # fmt: skip
    assert code == 0, output
    assert (out / "scene_N2.tif").is_file() and (out / "scene.run.json").is_file()


def test_same_seed_same_weights_from_the_cli(
    dataset: Path, model_dir: Path, tmp_path: Path
) -> None:
    code, output = invoke("train", dataset, "--out", tmp_path / "again", "--quiet", *FAST)
    assert code == 0 and output == "", output
    first = yaml.safe_load((model_dir / "card.yaml").read_text("utf-8"))["weights"]["sha256"]
    again = yaml.safe_load((tmp_path / "again" / "card.yaml").read_text("utf-8"))
    assert again["weights"]["sha256"] == first


def test_ancillary_none(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "noanc"
    code, output = invoke("train", dataset, "--out", out, "--ancillary", "none", "--quiet", *FAST)
    assert code == 0, output
    card = yaml.safe_load((out / "card.yaml").read_text("utf-8"))
    assert card["ancillary"] == []


def test_too_few_blocks(tmp_path: Path) -> None:
    ds = write_dataset(tmp_path / "two.zarr", [0, 0, 0, 1, 1, 1])
    out = tmp_path / "m"
    code, output = invoke("train", ds, "--out", out, *FAST)
    assert_clean_failure(
        code, output, out, "6 usable chips in 2 spatial blocks", "--block-size", "--test-blocks"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--test-blocks", "9"], "--test-blocks 9 hold no usable chip"),
        (["--ancillary", "prec_jan"], "lacks prec_jan"),
        (["--widths", "8,8"], "--widths expects 4 positive integers"),
        (["--test-fraction", "1.5"], "--test-fraction"),
        (["--device", "tpu"], "device"),
    ],
)
def test_bad_options(dataset: Path, tmp_path: Path, args: list[str], needle: str) -> None:
    out = tmp_path / "m"
    code, output = invoke("train", dataset, "--out", out, *FAST, *args)
    assert_clean_failure(code, output, out, needle)


def test_existing_model_is_refused_before_training(dataset: Path, model_dir: Path) -> None:
    before = (model_dir / "card.yaml").stat().st_mtime_ns
    code, output = invoke("train", dataset, "--out", model_dir, *FAST)
    assert code == 2 and "--overwrite" in output and output.count("\n") == 1, output
    assert (model_dir / "card.yaml").stat().st_mtime_ns == before


def test_missing_dataset(tmp_path: Path) -> None:
    out = tmp_path / "m"
    code, output = invoke("train", tmp_path / "nope.zarr", "--out", out)
    assert_clean_failure(code, output, out, "does not exist", "lulcmap prepare")


def test_train_on_two_datasets_holding_one_out(dataset: Path, tmp_path: Path) -> None:
    other = write_dataset(tmp_path / "other.zarr", [40] * 8)
    out = tmp_path / "m"
    code, output = invoke(
        "train", dataset, "--test-dataset", other, "--val-blocks", "5", "--out", out, *FAST
    )
    assert code == 0, output
    split = yaml.safe_load((out / "card.yaml").read_text())["training"]["split"]
    assert split["test_blocks"] == [40] and split["val_blocks"] == [5]
    code, output = invoke(
        "evaluate", dataset, other, "--model", out, "--out", tmp_path / "e", "--quiet"
    )
    assert code == 0, output
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert metrics["counts"]["evaluated"] == 8 and metrics["counts"]["baseline_chips"] > 0
    code, output = invoke(
        "train", dataset, "--test-dataset", other, "--test-blocks", "1", "--out", out / "x", *FAST
    )
    assert_clean_failure(code, output, out / "x", "--test-blocks or --test-dataset, not both")
