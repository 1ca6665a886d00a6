"""The ``chips`` command's run: a chip folder through a model into the original's abundance CSVs.

Oracle: lossless chips (PNG, TIFF) read back equal the synthetic world's crops, so the CSVs must
equal the model run directly on those crops.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lulcmap.compat.chips import (
    output_name,
    predict_chips,
    resolve_levels,
    run_chips,
    write_abundance_csvs,
)
from lulcmap.compat.folders import read_chip_folder
from lulcmap.errors import ConfigError, ModelCardError, OutputExistsError
from lulcmap.model.card import ModelCard, Weights
from lulcmap.model.registry import load_model
from lulcmap.testing import World
from lulcmap.testing.chipfolders import chip_windows, write_chip_folder


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    return load_model("demo-synthetic")


def test_csvs_equal_the_model_on_the_crops(world: World, folder: Path, model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    chips = read_chip_folder(folder, columns=model.card.ancillary_names)
    tables = predict_chips(chips, model, batch_size=4)
    assert list(tables) == ["N1", "N2"]
    windows = chip_windows(world)
    order = [int(n.split("_")[1]) for n in chips.filenames]
    crops = np.stack([world.rgb[:, r : r + h, c : c + w] for r, c, h, w in windows[order]])
    means = world.window_ancillary(windows[order])
    anc = np.stack([means[n] for n in model.card.ancillary_names], axis=1).astype(np.float32)
    direct = model(torch.from_numpy(crops), torch.from_numpy(anc)).numpy().astype(np.float64)
    n2 = tables["N2"]
    assert n2["filename"].tolist() == chips.filenames  # the CSV's order
    np.testing.assert_array_equal(n2.iloc[:, 1:].to_numpy(), direct * 100.0)
    paths = write_abundance_csvs(tables, tmp_path / "out")
    back = {lv: pd.read_csv(p) for lv, p in paths.items()}
    legend = model.card.get_legend()
    assert list(back["N1"].columns) == ["filename", *legend.names("N1")]
    assert list(back["N2"].columns) == ["filename", *legend.names("N2")]
    n1 = legend.aggregate(back["N2"].iloc[:, 1:].to_numpy(), axis=1)
    np.testing.assert_array_equal(back["N1"].iloc[:, 1:].to_numpy(), n1)
    np.testing.assert_allclose(back["N1"].iloc[:, 1:].sum(axis=1), 100.0, atol=1e-3)


def test_batches_equal_one_chip_at_a_time(folder: Path, model) -> None:  # type: ignore[no-untyped-def]
    chips = read_chip_folder(folder, columns=model.card.ancillary_names)
    batched = predict_chips(chips, model, batch_size=64)["N2"].iloc[:, 1:].to_numpy()
    single = predict_chips(chips, model, batch_size=1)["N2"].iloc[:, 1:].to_numpy()
    np.testing.assert_allclose(batched, single, rtol=0, atol=1e-4)  # percent


def test_jpeg_chips_are_read(world: World, tmp_path: Path, model) -> None:  # type: ignore[no-untyped-def]
    write_chip_folder(world, tmp_path, [".jpg", ".jpeg", ".JPG", ".png", ".tif", ".jpg"])
    chips = read_chip_folder(tmp_path, columns=model.card.ancillary_names)
    tables = predict_chips(chips, model, levels=["N2"], batch_size=5)
    assert list(tables) == ["N2"] and len(tables["N2"]) == 6
    np.testing.assert_allclose(tables["N2"].iloc[:, 1:].sum(axis=1), 100.0, atol=1e-3)


# -- single-level models ------------------------------------------------------------------------
class N1Model:
    """A stand-in for a published single-level (N1) model: constant N1 fractions."""

    def __init__(self) -> None:
        self.card = ModelCard(
            id="n1-only",
            version="0",
            levels=("N1",),
            weights=Weights(file="-", sha256="0" * 64),
        )

    def __call__(self, images: torch.Tensor, ancillary: torch.Tensor) -> torch.Tensor:
        return torch.tensor([[0.1, 0.2, 0.3, 0.4]]).repeat(images.shape[0], 1)


def test_n1_model_gives_only_n1(folder: Path) -> None:
    chips = read_chip_folder(folder, columns=[])
    tables = predict_chips(chips, N1Model())
    assert list(tables) == ["N1"]
    np.testing.assert_allclose(tables["N1"].iloc[:, 1:].to_numpy()[0], [10, 20, 30, 40])
    assert resolve_levels(None, N1Model().card) == ("N1",)
    with pytest.raises(ConfigError, match="gives only N1"):
        resolve_levels("both", N1Model().card)
    with pytest.raises(ConfigError, match="gives only N1"):
        predict_chips(chips, N1Model(), levels=["N2"])


def test_model_output_of_the_wrong_width(folder: Path) -> None:
    model = N1Model()
    model.card = model.card.model_copy(update={"levels": ("N1", "N2")})
    with pytest.raises(ModelCardError, match="10 classes"):
        predict_chips(read_chip_folder(folder, columns=[]), model)


def test_output_names() -> None:
    assert output_name("N1") == "Abundance estimation results at level N1.csv"


def test_progress_counts_every_chip_once_in_order(folder: Path) -> None:
    seen: list[tuple[int, int]] = []
    chips = read_chip_folder(folder, columns=[])
    predict_chips(chips, N1Model(), batch_size=2, on_progress=lambda *a: seen.append(a))
    assert seen == [(2, 6), (4, 6), (6, 6)]


def test_run_chips_writes_the_csvs_and_keeps_them(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    paths = run_chips(folder, out=out, model=N1Model(), device="cpu")
    assert list(paths) == ["N1"] and paths["N1"] == out / output_name("N1")
    table = pd.read_csv(paths["N1"])
    assert len(table) == 6 and table.columns[0] == "filename"
    with pytest.raises(OutputExistsError, match="already holds Abundance estimation results"):
        run_chips(folder, out=out, model=N1Model(), device="cpu")
