"""The original workflow's chip folder: lossless chips read back as the world's crops, and every
input check of the original as a one-line error that says where."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from lulcmap.compat.folders import read_chip, read_chip_folder
from lulcmap.compat.layout import ANCILLARY_CSV, IMAGES_FOLDER
from lulcmap.errors import ConfigError, InputDataError, InputNotFoundError
from lulcmap.testing import World
from lulcmap.testing.chipfolders import chip_windows


def test_lossless_chips_read_back_as_the_world_crops(world: World, folder: Path) -> None:
    chips = read_chip_folder(folder)
    windows = chip_windows(world)
    for path in chips.files:
        i = int(path.name.split("_")[1])
        r, c, h, w = windows[i]
        np.testing.assert_array_equal(read_chip(path), world.rgb[:, r : r + h, c : c + w])


def test_rows_follow_the_csv(folder: Path) -> None:
    chips = read_chip_folder(folder, columns=["slope", "elevation"])
    csv = pd.read_csv(folder / ANCILLARY_CSV)
    assert chips.filenames == csv["filename"].tolist()
    assert [p.name for p in chips.files] == chips.filenames
    assert list(chips.table.columns) == ["filename", "elevation", "slope"]  # the original's order


def test_explicit_images_and_csv(folder: Path, tmp_path: Path) -> None:
    csv = tmp_path / "mine.csv"
    (folder / ANCILLARY_CSV).rename(csv)
    chips = read_chip_folder(images=folder / IMAGES_FOLDER, ancillary=csv)
    assert len(chips) == 6 and chips.csv == csv


def test_missing_layout(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="give INPUT_DIR"):
        read_chip_folder(None)
    with pytest.raises(InputNotFoundError, match=r"images folder .* does not exist"):
        read_chip_folder(tmp_path)


def test_wrong_size_names_the_file(folder: Path) -> None:
    name = sorted((folder / IMAGES_FOLDER).glob("*.png"))[0]
    Image.new("RGB", (200, 224)).save(name)
    with pytest.raises(InputDataError, match=r"is 200x224 px with 3 band.*224x224x3"):
        read_chip_folder(folder)


def test_grey_chip_is_rejected(folder: Path) -> None:
    name = sorted((folder / IMAGES_FOLDER).glob("*.png"))[0]
    Image.new("L", (224, 224)).save(name)
    with pytest.raises(InputDataError, match=r"with 1 band"):
        read_chip_folder(folder)


def test_non_numeric_value_says_where(folder: Path) -> None:
    csv = folder / ANCILLARY_CSV
    table = pd.read_csv(csv)
    table["slope"] = table["slope"].astype(object)
    table.loc[2, "slope"] = "steep"
    table.to_csv(csv, index=False)
    with pytest.raises(InputDataError, match=r"column slope of row 3 \(filename Chip_3.*'steep'"):
        read_chip_folder(folder)


def test_image_without_a_row_is_named(folder: Path) -> None:
    Image.new("RGB", (224, 224)).save(folder / IMAGES_FOLDER / "extra.png")
    with pytest.raises(InputDataError, match=r"1 image\(s\) in .* have no row .*: extra\.png"):
        read_chip_folder(folder)
