"""``lulcmap evaluate``: a report from a chip dataset; bad input: one line, exit 2, no output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
import zarr

from lulcmap.model.registry import models_dir
from lulcmap.testing.chipdata import (
    block_bounds,
    make_chip_dataset,
    random_fractions,
    write_chip_dataset,
)
from lulcmap.testing.cli import assert_clean_failure
from lulcmap.testing.cli import invoke as run_cli

DEMO = models_dir() / "demo-synthetic"
BLOCKS = [0, 0, 0, 1, 1, 1]


def invoke(*args: object) -> tuple[int, str]:
    return run_cli("evaluate", *args)


def write_dataset(path: Path, *, n2: np.ndarray | None = None, **kwargs: object) -> Path:
    """Six 224-px chips (the demo model's size) in blocks 0 and 1."""
    if n2 is None:
        n2 = random_fractions(len(BLOCKS))
    ds = make_chip_dataset(n2, blocks=BLOCKS, chip_size=224, **kwargs)  # type: ignore[arg-type]
    return write_chip_dataset(ds, path)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("ds") / "chips.zarr")


@pytest.fixture(scope="module")
def split_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model's card with a recorded block split: test block 1, training block 0."""
    card = yaml.safe_load((DEMO / "card.yaml").read_text("utf-8"))
    folder = tmp_path_factory.mktemp("card")
    shutil.copy(DEMO / card["weights"]["file"], folder)  # weights are a bare name next to the card
    card["training"] = {
        "split": {
            "test_blocks": [1],
            "train_blocks": [0],
            "block_bounds": {1: list(block_bounds(1))},
        }
    }
    path = folder / "card.yaml"
    path.write_text(yaml.safe_dump(card), "utf-8")
    return path


def test_evaluate_the_cards_test_blocks(dataset: Path, split_card: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = invoke(dataset, "--model", split_card, "--out", out, "--batch-size", 2)
    assert code == 0, output
    assert "N2 model     MAE" in output and "N2 baseline  MAE" in output
    assert sorted(p.name for p in out.iterdir()) == [
        "metrics.json",
        "report.md",
        "scatter_N1.png",
        "scatter_N2.png",
    ]
    data = json.loads((out / "metrics.json").read_text("utf-8"))
    assert data["selection"]["blocks"] == [1]
    assert data["selection"]["baseline_source"] == "card"
    assert data["counts"] == {
        "evaluated": 3,
        "excluded_no_reference": 0,
        "excluded_no_ancillary": 0,
        "baseline_chips": 3,
        "mean_unmapped_fraction": 0.0,
    }
    assert data["levels"]["N2"]["model"]["n_chips"] == 3
    assert "demo-synthetic" in (out / "report.md").read_text("utf-8")
    # again: refused without --overwrite, done with it
    code, output = invoke(dataset, "--model", split_card, "--out", out, "--quiet")
    assert code == 2 and "--overwrite" in output
    code, output = invoke(dataset, "-m", split_card, "-o", out, "--quiet", "--overwrite")
    assert code == 0 and output == ""


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--model", "demo-synthetic"], ["test blocks (12451858) are in", "--split all"]),
        (["--model", "demo-synthetic", "--blocks", "7"], ["blocks 7 are not in the dataset"]),
        (["--model", "demo-synthetic", "--blocks", "a,b"], ["comma-separated block ids"]),
        (["--model", "demo-synthetic", "--split", "half"], ["--split must be one of"]),
        (["--model", "no-such-model", "--split", "all"], ["unknown model"]),
        (["--model", "demo-synthetic", "--split", "all", "--device", "tpu"], ["--device"]),
    ],
)
def test_bad_options(dataset: Path, tmp_path: Path, args: list[str], needles: list[str]) -> None:
    out = tmp_path / "out"
    code, output = invoke(dataset, *args, "--out", out, "--train-blocks", "0")
    assert_clean_failure(code, output, out, *needles)


def test_card_without_a_split(dataset: Path, tmp_path: Path) -> None:
    card = yaml.safe_load((DEMO / "card.yaml").read_text("utf-8"))
    shutil.copy(DEMO / card["weights"]["file"], tmp_path)
    card["training"] = {}
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(card), "utf-8")
    out = tmp_path / "out"
    code, output = invoke(dataset, "--model", path, "--out", out)
    assert_clean_failure(code, output, out, "records no held-out blocks", "--split all")


def test_dataset_missing_or_not_a_dataset(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = invoke(tmp_path / "nope.zarr", "-m", "demo-synthetic", "-o", out)
    assert_clean_failure(code, output, out, "does not exist", "lulcmap prepare")
    (tmp_path / "empty").mkdir()
    code, output = invoke(tmp_path / "empty", "-m", "demo-synthetic", "-o", out)
    assert_clean_failure(code, output, out, "not a Zarr chip dataset")
    zarr.open_group(str(tmp_path / "other.zarr"), mode="w", zarr_format=2).attrs["x"] = 1
    zarr.consolidate_metadata(str(tmp_path / "other.zarr"))
    code, output = invoke(tmp_path / "other.zarr", "-m", "demo-synthetic", "-o", out)
    assert_clean_failure(code, output, out, "not a lulcmap chip dataset")


def test_missing_ancillary_variables(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "chips.zarr", ancillary=["elevation", "temp_ave"])
    out = tmp_path / "out"
    code, output = invoke(path, "-m", "demo-synthetic", "--split", "all", "-o", out)
    assert_clean_failure(
        code, output, out, "lacks ancillary variables slope, evapotranspiration", "it has:"
    )


def test_no_chip_with_a_reference(tmp_path: Path) -> None:
    n2 = np.full((len(BLOCKS), 10), np.nan)
    path = write_dataset(tmp_path / "chips.zarr", n2=n2)
    out = tmp_path / "out"
    code, output = invoke(
        path, "-m", "demo-synthetic", "--blocks", "1", "--train-blocks", "0", "-o", out
    )
    assert_clean_failure(code, output, out, "has both a reference", "3 wholly unmapped")
